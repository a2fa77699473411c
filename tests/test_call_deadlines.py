"""Deadlines shrink along a call chain (issue 9, item 8): the gateway's is the longest, and each
service calling on gives up before its caller does, so a caller never answers 503 for work that
then commits. The header travels for real over RabbitMQ between in-process nameko services."""
import time
import uuid

import pytest
from nameko.dependency_providers import Config
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.rpc import rpc as plain_rpc
from nameko.runners import ServiceRunner
from nameko.standalone.rpc import ClusterRpcProxy

from gongwen_common import rpc
from gongwen_gateway.service import GatewayService


def test_a_hop_waits_its_own_timeout_when_no_caller_set_a_deadline():
    assert rpc.budget(10, None, now=1000.0) == 10


def test_a_hop_waits_at_most_what_its_caller_has_left_less_the_margin():
    assert rpc.budget(10, 1006.0, now=1000.0, margin=1.0) == 5.0
    assert rpc.budget(3, 1006.0, now=1000.0, margin=1.0) == 3  # its own timeout is shorter still


def test_a_hop_has_no_time_once_the_caller_deadline_less_the_margin_has_passed():
    assert rpc.budget(10, 1000.5, now=1000.0, margin=1.0) <= 0
    assert rpc.budget(10, 999.0, now=1000.0, margin=1.0) <= 0


def test_a_malformed_caller_deadline_is_ignored_not_trusted():
    assert rpc.caller_deadline({"deadline": "soon"}) is None
    assert rpc.caller_deadline({"deadline": "nan"}) is None
    assert rpc.caller_deadline({}) is None and rpc.caller_deadline(None) is None
    assert rpc.caller_deadline({"deadline": "1700000000.5"}) == 1700000000.5


# -- a three-hop chain over the broker: a gateway-like front, a middle service, a back service ---

BACK_CALLS = []


class WorkerContextData(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return worker_ctx.data


class Back:
    name = "h3_deadline_back"
    context = WorkerContextData()

    @plain_rpc
    def seen(self):
        BACK_CALLS.append(self.context.get(rpc.DEADLINE))
        return self.context.get(rpc.DEADLINE)


class Middle:
    name = "h3_deadline_middle"
    context = WorkerContextData()
    back = RpcProxy("h3_deadline_back")

    @plain_rpc
    def relay(self, timeout):
        return {"caller": self.context.get(rpc.DEADLINE), "back": rpc.call(self.back, "seen", timeout=timeout)}


class Front:
    """Calls as the gateway does: its own ``call`` method."""

    name = "h3_deadline_front"
    config = Config()
    exchange = RpcProxy("h3_deadline_middle")
    call = GatewayService.call

    @plain_rpc
    def start(self, timeout):
        return {"started": time.time(), **self.call("exchange", "relay", 30, timeout=timeout)}


@pytest.fixture
def chain(rabbit):
    vhost = f"h3deadline{uuid.uuid4().hex[:6]}"
    rabbit.add_vhost(vhost)
    config = {"AMQP_URI": rabbit.amqp_uri(vhost), "RPC_TIMEOUT": 10}
    runner = ServiceRunner(config)
    for cls in (Front, Middle, Back):
        runner.add_service(cls)
    runner.start()
    BACK_CALLS.clear()
    yield config
    runner.stop()


def test_each_hop_deadline_is_earlier_than_its_callers_and_the_gateways_is_the_longest(chain):
    with ClusterRpcProxy(chain, timeout=30) as cluster:
        got = cluster.h3_deadline_front.start(8)
    gateway_deadline = float(got["caller"])
    # The gateway-like front stamped its own deadline: its timeout from when it called.
    assert got["started"] < gateway_deadline <= got["started"] + 8 + 0.5
    # The middle service (its own timeout 30 s) waited only what the front had left, less the margin.
    assert float(got["back"]) <= gateway_deadline - rpc.SAFETY_MARGIN
    assert float(got["back"]) < gateway_deadline


def test_a_hop_with_no_time_left_refuses_at_once_without_calling_on(chain):
    with ClusterRpcProxy(chain, timeout=30, context_data={rpc.DEADLINE: time.time() + 0.5}) as cluster:
        started = time.monotonic()
        with pytest.raises(RemoteError) as refused:
            cluster.h3_deadline_middle.relay(30)
    assert refused.value.exc_type == "ServiceUnavailable"  # SERVICE_UNAVAILABLE (plain nameko rpc here)
    assert time.monotonic() - started < 5
    assert BACK_CALLS == []
