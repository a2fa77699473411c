"""RabbitMQ stops and starts again mid-test: no unit is lost and no service is restarted."""
import threading
import time
import uuid

import pytest

from conftest import Databases, everywhere, operator_login, register, wait_until
from gongwen_common.clock import utcnow
from gongwen_common.db import Session as OutboxSession
from gongwen_local.rabbitmq import RabbitNode
from gongwen_registry import domain


@pytest.fixture
def own_rabbit(test_var):
    """A node of this test's own, so restarting it disturbs no other test's stack."""
    node = RabbitNode(test_var / f"rabbit-restart-{uuid.uuid4().hex[:6]}", node_name=f"gwrestart{uuid.uuid4().hex[:6]}")
    node.start()
    yield node
    node.stop()


@pytest.mark.slow
def test_units_registered_before_during_and_after_a_broker_restart_reach_every_read_model(own_rabbit, make_stack):
    # own_rabbit first: fixtures tear down in reverse, and services stop cleanly only with a broker
    stack = make_stack(rabbit=own_rabbit)
    api, dbs = operator_login(stack), Databases(stack)
    pids = {p.process.pid for p in stack.processes}
    before, during, after = (f"{when}-{uuid.uuid4().hex[:8]}" for when in ("before", "during", "after"))

    assert register(api, before).status_code == 201
    everywhere(dbs, before)

    own_rabbit.stop()
    outcomes = []

    def department_system_keeps_trying():
        """A client retries with one Idempotency-Key until the suite answers again."""
        key = uuid.uuid4().hex
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reply = register(api, during, key)
            outcomes.append(reply.status_code)
            if reply.status_code == 201:
                return
            time.sleep(0.5)

    client = threading.Thread(target=department_system_keeps_trying)
    client.start()
    wait_until(lambda: outcomes, timeout=30, message="a first answer while the broker is down")
    assert outcomes[0] == 503  # refused clearly while the broker is away, nothing half-done
    own_rabbit.start()
    client.join(150)
    assert outcomes[-1] == 201, outcomes

    assert register(api, after).status_code == 201
    for code in (before, during, after):
        assert set(everywhere(dbs, code, timeout=60).values()) == {1}
    assert dbs.scalar("registry", "SELECT count(*) FROM units WHERE code = :c", c=during) == 1
    assert {p.process.pid for p in stack.processes if p.alive} == pids  # nobody was restarted
    assert stack.health()[0] == 200


@pytest.mark.slow
def test_events_committed_while_the_broker_is_down_are_published_when_it_returns(own_rabbit, make_stack):
    """A change committed during the outage (the registry's own rule and outbox, as its worker
    runs them) waits in the outbox and reaches every read model once the broker is back."""
    stack = make_stack(rabbit=own_rabbit)
    api, dbs = operator_login(stack), Databases(stack)
    before = f"before-{uuid.uuid4().hex[:8]}"
    assert register(api, before).status_code == 201
    everywhere(dbs, before)

    own_rabbit.stop()
    during = f"down-{uuid.uuid4().hex[:8]}"
    engine = dbs.engines["registry"]
    with OutboxSession(engine) as session:
        domain.register_unit(session, {"code": during, "name": f"单位 {during}", "kind": "department"}, utcnow())
        session.commit()
    registry_log = stack.log_dir / "registry-0.log"
    failures = registry_log.read_text().count("outbox relay failed")
    wait_until(lambda: registry_log.read_text().count("outbox relay failed") > failures,
               message="the registry's relay to try and fail while the broker is down")
    assert dbs.scalar("registry", "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL") == 1
    assert set(dbs.unit_revisions(during).values()) == {None}

    own_rabbit.start()
    assert set(everywhere(dbs, during, timeout=90).values()) == {1}
    assert dbs.scalar("registry", "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL") == 0
    assert stack.health()[0] == 200
