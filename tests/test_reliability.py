"""Nothing lost, nothing applied twice: crashes, redelivery, failing handlers, stopped consumers
and several instances, each against real service processes, RabbitMQ and PostgreSQL."""
import uuid

import pytest
from kombu import Connection

from conftest import Databases, everywhere, operator_login, register, wait_until
from gongwen_common.topology import event_exchange


def outbox_rows(dbs, code):
    return dbs.rows("registry", "SELECT event_id, sent_at FROM outbox_events WHERE payload::text LIKE :c",
                    c=f'%"{code}"%')


@pytest.mark.parametrize("crash_point", ["outbox.before_publish", "outbox.after_publish"])
def test_relay_crash_after_commit_publishes_exactly_once_in_effect(make_stack, crash_point):
    stack = make_stack()
    api, dbs = operator_login(stack), Databases(stack)
    stack.stop_service("registry")
    # A short claim lease: the dead relay's claim must run out before its successor republishes.
    [crashing] = stack.start_service("registry", env={"GONGWEN_FAULTS": f"{crash_point}=exit",
                                                      "OUTBOX_CLAIM_LEASE": "3"})
    code, key = f"crash-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex

    # The reply may or may not leave before the relay dies; either way the unit is committed.
    assert register(api, code, key).status_code in (201, 503)
    wait_until(lambda: not crashing.alive, message="registry to crash in its relay")
    assert dbs.scalar("registry", "SELECT count(*) FROM units WHERE code = :c", c=code) == 1
    [(event_id, sent_at)] = outbox_rows(dbs, code)
    assert sent_at is None  # the crash came before the row was marked sent
    assert dbs.scalar("registry", "SELECT claimed_by FROM outbox_events WHERE event_id = :e", e=event_id)
    if crash_point == "outbox.before_publish":
        assert set(dbs.unit_revisions(code).values()) == {None}

    stack.start_service("registry")
    assert set(everywhere(dbs, code).values()) == {1}
    wait_until(lambda: outbox_rows(dbs, code)[0][1] is not None, message="row marked sent")
    assert register(api, code, key).status_code == 201  # the client's retry: same answer
    assert len(outbox_rows(dbs, code)) == 1
    for service in ("identity", "seal", "exchange", "notify", "archive"):
        # once per handler (the archive has two for a unit's event: its directory copy and its ledger)
        assert dbs.scalar(service, "SELECT max(n) FROM (SELECT count(*) AS n FROM handled_events WHERE event_id = :e "
                                   "GROUP BY handler) per_handler", e=event_id) == 1


def test_the_same_event_delivered_twice_changes_a_read_model_once(stack, dbs):
    api = operator_login(stack)
    code = f"dup-{uuid.uuid4().hex[:8]}"
    assert register(api, code).status_code == 201
    everywhere(dbs, code)
    [(event_id, _)] = outbox_rows(dbs, code)
    [envelope] = [row[0] for row in dbs.rows("registry", "SELECT payload FROM outbox_events WHERE event_id = :e",
                                             e=event_id)]
    with Connection(stack.amqp_uri) as conn:  # a redelivery, as the broker would make it
        producer = conn.Producer(serializer="json")
        for _ in range(2):
            producer.publish(envelope, exchange=event_exchange("registry"), routing_key="unit_registered")
    # both copies came and went: exchange logged each as this event's duplicate
    wait_until(lambda: (stack.log_dir / "exchange-0.log").read_text().count(f"duplicate event {event_id} ") >= 2,
               message="both duplicates seen")
    assert set(dbs.unit_revisions(code).values()) == {1}


def test_failing_handler_is_retried_then_dead_lettered_and_replayable(make_stack):
    # backoff from 20 ms: eight deliveries in about 5 s, not the 50 s of the 0.2 s default
    fast_backoff = {"EVENT_RETRY_BASE_DELAY": "0.02"}
    stack = make_stack(env={"GONGWEN_FAULTS": "event.exchange.on_unit_registered=fail:2", **fast_backoff})
    api, dbs = operator_login(stack), Databases(stack)

    transient = f"flaky-{uuid.uuid4().hex[:8]}"
    assert register(api, transient).status_code == 201
    assert everywhere(dbs, transient)["exchange"] == 1
    assert (stack.log_dir / "exchange-0.log").read_text().count("requeue in") == 2

    stack.stop_service("exchange")
    stack.start_service("exchange", env={"GONGWEN_FAULTS": "event.exchange.on_unit_registered=fail", **fast_backoff})
    poison = f"poison-{uuid.uuid4().hex[:8]}"
    assert register(api, poison).status_code == 201

    def dead_letters():
        return api.get("/api/v1/admin/dead-letters", params={"service": "exchange"}).json()["items"]

    [letter] = wait_until(dead_letters, timeout=90, message="the poison event in exchange's dead letters")
    assert letter["event_type"] == "unit_registered" and letter["body"]["data"]["code"] == poison
    assert letter["queue"] == "evt-registry-unit_registered--exchange.on_unit_registered"
    assert dbs.unit_revisions(poison)["exchange"] is None
    assert dbs.unit_revisions(poison)["seal"] == 1  # other services were not held up

    stack.stop_service("exchange")  # the operator fixes the fault, then replays
    stack.start_service("exchange")
    stack.wait_healthy()
    replay = api.post(f"/api/v1/admin/dead-letters/exchange/{letter['id']}/replay")
    assert replay.status_code == 200, replay.text
    wait_until(lambda: dbs.unit_revisions(poison)["exchange"] == 1, message="replayed event applied")
    assert dead_letters() == []


def test_events_wait_for_a_consumer_that_is_stopped_or_never_started(make_stack):
    stack = make_stack(start=False)
    stack.prepare()  # queues are declared before any service runs
    for name in ("registry", "identity", "seal", "notify", "archive", "gateway"):
        stack.start_service(name)
    wait_until(lambda: _services_up(stack, "registry", "identity", "archive"), message="registry, identity, archive up")
    api, dbs = operator_login(stack), Databases(stack)

    early = f"early-{uuid.uuid4().hex[:8]}"
    assert register(api, early).status_code == 201
    wait_until(lambda: dbs.unit_revisions(early)["archive"] == 1, message="archive has it")
    assert dbs.unit_revisions(early)["exchange"] is None  # exchange has never run

    stack.stop_service("notify")
    while_stopped = f"stopped-{uuid.uuid4().hex[:8]}"
    assert register(api, while_stopped).status_code == 201
    wait_until(lambda: dbs.unit_revisions(while_stopped)["archive"] == 1, message="archive has it")

    stack.start_service("exchange")
    stack.start_service("notify")
    for code in (early, while_stopped):
        assert set(everywhere(dbs, code).values()) == {1}


def _services_up(stack, *names):
    """Overall health stays 503 while a service is deliberately absent: look at the ones named."""
    try:
        services = stack.health()[1]["services"]
    except OSError:
        return False
    return all(services[name]["status"] == "ok" for name in names)


def test_instances_share_rpc_load_and_handle_each_event_once_per_service(make_stack):
    stack = make_stack(scale={"registry": 2, "exchange": 2})
    api, dbs = operator_login(stack), Databases(stack)
    assert len(stack.of("registry")) == len(stack.of("exchange")) == 2

    answered_by = {s: set() for s in ("registry", "exchange")}
    for _ in range(30):
        services = api.get("/api/v1/health").json()["services"]
        for s in answered_by:
            answered_by[s].add(services[s]["instance"])
    assert all(len(instances) == 2 for instances in answered_by.values()), answered_by

    codes = [f"pool-{i}-{uuid.uuid4().hex[:6]}" for i in range(20)]
    for code in codes:
        assert register(api, code).status_code == 201
    for code in codes:
        assert everywhere(dbs, code)["exchange"] == 1
    # (the operator's login is an event for exchange too: clerks' presence; count the units' only)
    assert dbs.scalar("exchange", "SELECT count(*) FROM handled_events WHERE event_type = 'unit_registered'") == \
        len(codes)
    logs = [(stack.log_dir / f"exchange-{i}.log").read_text() for i in range(2)]
    assert all("handled unit_registered" in log for log in logs)  # both instances took a share
    # Two registry relays claimed rows with SKIP LOCKED (common/tests/test_outbox_relay.py holds
    # one after its claim and shows the other skips the rows): no row was published twice.
    assert not any("duplicate event" in log for log in logs)
    assert dbs.scalar("registry", "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL") == 0
