"""The suite's RPC reply (``entrypoints.Reply``: encoded once, not confirmed) against a real broker:
results, domain errors and an unencodable result reach the caller as under nameko's own reply,
and a result that cannot be encoded fails that call only, not the service."""
import uuid

import pytest
from nameko.containers import ServiceContainer
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from gongwen_common.entrypoints import rpc
from gongwen_common.errors import DomainError, ValidationFailed


class Answering:
    name = "answering"

    @rpc
    def echo(self, value):
        return value

    @rpc
    def refuse(self):
        raise ValidationFailed({"field": ["wrong"]})

    @rpc
    def unencodable(self):
        return object()


@pytest.fixture
def answering(rabbit):
    vhost = f"reply_{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(vhost)
    config = {"AMQP_URI": rabbit.amqp_uri(vhost)}
    container = ServiceContainer(Answering, config)
    container.start()
    try:
        with ClusterRpcProxy(config, timeout=10) as cluster:
            yield cluster.answering
    finally:
        container.stop()


def test_a_result_crosses_exactly(answering):
    value = {"text": "关于印发的通知", "n": 2 ** 63 - 1, "nested": [None, True, 1.5, {"a": []}]}
    assert answering.echo(value) == value


def test_a_domain_error_crosses_with_its_code(answering):
    with pytest.raises(DomainError) as raised:
        answering.refuse()
    assert (raised.value.code, raised.value.status, raised.value.fields) == (
        "VALIDATION_ERROR", 400, {"field": ["wrong"]})


def test_an_unencodable_result_fails_that_call_and_the_service_answers_on(answering):
    with pytest.raises(RemoteError) as raised:
        answering.unencodable()
    assert raised.value.exc_type == "UnserializableValueError"
    assert answering.echo("next") == "next"
