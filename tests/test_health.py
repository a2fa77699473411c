"""Health that means something (issue 14), on the real stack: readiness per service as named checks
with their figures (its database, outbox backlog and oldest age, new dead letters), aggregated by
the gateway's ``/api/v1/health`` with the canary's last round trip.

The stack runs three exchange instances and the canary every second (``CANARY_INTERVAL_SECONDS``),
each instance ticking twice a second: a short configured interval, no sleeping for deadlines."""
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import create_engine, text

from conftest import (
    Databases,
    StackFactory,
    operator_login,
    person,
    wait_until,
    when_known,
)
from gongwen_gateway.schemas import HealthSchema

CANARY_UNIT = f"ops-canary-{uuid.uuid4().hex[:6]}"
ENV = {"CANARY_UNIT_CODE": CANARY_UNIT, "CANARY_INTERVAL_SECONDS": "1", "CANARY_TICK_SECONDS": "0.5",
       "CANARY_MAX_AGE_SECONDS": "60", "HEALTH_OUTBOX_MAX_AGE_SECONDS": "60", "HEALTH_DEAD_LETTERS_MAX_NEW": "0",
       "RPC_TIMEOUT": "15"}  # three exchanges on a shared two-core machine: identity's hashing may queue


@pytest.fixture(scope="module")
def stack(rabbit, postgres, test_var, fake_twilio):
    # three exchanges: the canary's round runs once however many instances tick
    yield from StackFactory(rabbit, postgres, test_var / "logs", env={**fake_twilio.env, **ENV}).serving(
        scale={"exchange": 3})


def declared(health: dict) -> dict:
    """The answer as the OpenAPI document declares it (every field known, every enum true)."""
    assert HealthSchema().validate(health) == {}, HealthSchema().validate(health)
    return health


def test_readiness_fails_when_a_services_database_is_stopped_and_recovers_when_it_returns(stack, postgres):
    database = stack.database_urls["registry"].rsplit("/", 1)[1]
    admin = create_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    status, health = stack.health()
    assert status == 200, health
    ready = health["services"]["registry"]
    assert ready["status"] == "ok" and set(ready["checks"]) == {
        "broker", "database", "outbox_backlog", "outbox_oldest_age", "dead_letters_new"}
    assert all(check["ok"] for check in ready["checks"].values())
    try:
        with admin.connect() as conn:  # the registry's database goes away: no connection is allowed
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                         {"d": database})
        down = wait_until(lambda: (h := stack.health())[0] == 503 and h[1], message="readiness to fail")
        assert declared(down)["status"] == "degraded"
        registry = down["services"]["registry"]
        assert registry["status"] == "degraded" and registry["database"] == "down", registry
        assert registry["checks"]["database"]["ok"] is False and registry["checks"]["broker"]["ok"] is True
        assert down["services"]["identity"]["status"] == "ok"  # only the service whose database it is
        # the gateway itself stays ready: one service's trouble takes no gateway out of the load balancer
        gateway = requests.get(f"{stack.gateway_url}/api/v1/health/gateway", timeout=10)
        assert gateway.status_code == 200 and gateway.json() == {"status": "ok", "broker": "ok"}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    back = wait_until(lambda: (h := stack.health())[0] == 200 and h[1], message="readiness to recover")
    assert back["services"]["registry"]["checks"]["database"]["ok"] is True


def test_a_stuck_outbox_row_makes_readiness_report_its_age_until_it_is_sent(stack):
    """A relay that claimed a row and hung (its lease an hour long) holds it unsent: the service
    reports the row's age by name and figure; when the claim is given back, the row goes out."""
    dbs = Databases(stack)
    aged = datetime.now(UTC) - timedelta(hours=1)
    event_id = str(uuid.uuid4())
    envelope = json.dumps({"event_id": event_id, "event_type": "health_test_stuck", "occurred_at": aged.isoformat(),
                           "correlation_id": None, "data": {}})
    with dbs.engines["archive"].begin() as conn:
        conn.execute(text("INSERT INTO outbox_events (event_id, event_type, payload, created_at, attempts, "
                          "claimed_by, claimed_until) "
                          "VALUES (:e, 'health_test_stuck', CAST(:p AS json), :c, 0, 'hung-relay', :u)"),
                     {"e": event_id, "p": envelope, "c": aged, "u": datetime.now(UTC) + timedelta(hours=1)})
    status, health = stack.health()
    archive = health["services"]["archive"]
    assert status == 503 and declared(health)["status"] == "degraded" and archive["status"] == "degraded"
    age = archive["checks"]["outbox_oldest_age"]
    assert age["ok"] is False and age["value"] >= 3600 and age["bound"] == 60
    assert archive["checks"]["outbox_backlog"]["value"] >= 1 and archive["checks"]["database"]["ok"] is True

    with dbs.engines["archive"].begin() as conn:  # the hung relay's lease runs out
        conn.execute(text("UPDATE outbox_events SET claimed_until = :t WHERE event_id = :e"),
                     {"t": datetime.now(UTC) - timedelta(seconds=1), "e": event_id})
    wait_until(lambda: dbs.scalar("archive", "SELECT sent_at FROM outbox_events WHERE event_id = :e", e=event_id),
               message="the row to be published")
    wait_until(lambda: stack.health()[0] == 200, message="readiness to recover")


def test_new_dead_letters_over_the_bound_make_readiness_fail_until_replayed(stack):
    dbs = Databases(stack)
    with dbs.engines["notify"].begin() as conn:
        letter = conn.execute(text(
            "INSERT INTO dead_letters (queue, event_type, body, headers, reason, dead_at, replay_count) VALUES "
            "('evt-test--notify.none', 'health_test', CAST('{}' AS json), CAST('{}' AS json), 'rejected', now(), 0) "
            "RETURNING id")).scalar()
    status, health = stack.health()
    dead = health["services"]["notify"]["checks"]["dead_letters_new"]
    assert status == 503 and dead == {**dead, "ok": False, "value": 1, "bound": 0}
    with dbs.engines["notify"].begin() as conn:  # replayed: no longer counted
        conn.execute(text("UPDATE dead_letters SET replayed_at = now(), replay_count = 1 WHERE id = :i"), {"i": letter})
    assert stack.health()[0] == 200


def test_the_canary_is_not_configured_until_its_unit_has_a_seal_then_its_round_trip_shows_in_health(stack):
    status, health = stack.health()
    assert status == 200 and declared(health)["canary"]["status"] == "not_configured", health["canary"]

    operator = operator_login(stack)
    made = operator.post("/api/v1/units", json={"code": CANARY_UNIT, "name": "信息化办 探针", "kind": "department"})
    assert made.status_code == 201, made.text
    assert operator.post(f"/api/v1/units/{CANARY_UNIT}/approve").status_code == 200
    keeper = person(stack, operator, CANARY_UNIT, "clerk")
    body = {"unit_code": CANARY_UNIT, "custody": {"required_approvals": 1, "custodian_user_ids": [keeper.user_id]}}
    applied = when_known(lambda: operator.post("/api/v1/seals", json=body), message="the seal service to know it")
    assert operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve").status_code == 200

    def round_trip():
        status, health = stack.health()
        canary = health["canary"]
        return status == 200 and canary["status"] == "ok" and canary.get("last_outcome") == "completed" and \
            declared(health)["canary"]

    canary = wait_until(round_trip, timeout=60, message="a canary round trip")
    assert canary["unit_code"] == CANARY_UNIT and canary["round_trip_seconds"] >= 0
    assert canary["last_completed_at"] and canary["last_error"] is None
    first = canary["last_completed_at"]
    later = wait_until(lambda: (c := round_trip()) and c["last_completed_at"] != first and c,
                       message="the next scheduled round")
    dbs = Databases(stack)
    assert dbs.scalar("exchange", "SELECT state FROM receipts WHERE document_id = :d", d=later["last_document_id"]) \
        == "signed"
    # three exchange instances tick twice a second: still one round (one document) per second at most
    wait_until(lambda: dbs.scalar("exchange", "SELECT count(*) FROM documents WHERE doc_number LIKE 'CANARY-%'") >= 5,
               message="five canary rounds")
    sent = [row[0] for row in dbs.rows("exchange", "SELECT sent_at FROM documents WHERE doc_number LIKE 'CANARY-%' "
                                                   "ORDER BY sent_at")]
    gaps = [(b - a).total_seconds() for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) > 0.5, gaps
    # the canary's documents are its unit's only: issued by it, to it, numbered CANARY-…
    assert dbs.scalar("exchange", "SELECT count(*) FROM receipts r JOIN documents d ON d.id = r.document_id "
                                  "WHERE d.doc_number LIKE 'CANARY-%' AND r.unit_code <> :u", u=CANARY_UNIT) == 0
