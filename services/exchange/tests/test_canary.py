"""The canary: the operator's canary unit sends itself a sealed document and signs for it on a
schedule, once however many instances tick; health shows the last round trip and fails when none
completed within the bound. Time is moved, never slept."""

from gongwen_exchange.models import Base, CanaryState, Document, Receipt
from gongwen_seal.models import Base as SealBase

from .conftest import Exchange

CANARY = {"CANARY_UNIT_CODE": "ops-canary", "CANARY_INTERVAL_SECONDS": 60, "CANARY_MAX_AGE_SECONDS": 300}


def canary_exchange(sqlite_session, **config):
    return Exchange(sqlite_session(Base), sqlite_session(SealBase), config={**CANARY, **config})


def test_the_canary_round_trip_seals_sends_to_itself_signs_for_and_shows_in_health(sqlite_session):
    exchange = canary_exchange(sqlite_session)
    exchange.units("ops-canary", sealed=("ops-canary",))

    shown = exchange.call("canary_round")
    assert shown["status"] == "ok" and shown["last_outcome"] == "completed", shown
    [document] = exchange.session.query(Document).all()
    assert document.issuer_code == "ops-canary" and document.doc_number.startswith("CANARY-")
    assert document.seal_serial and document.signature
    [receipt] = exchange.session.query(Receipt).all()
    assert receipt.unit_code == "ops-canary" and receipt.state == "signed" and receipt.signed_by == "canary"
    health = exchange.call("health")["canary"]
    assert health["status"] == "ok" and health["last_document_id"] == document.id
    assert health["last_completed_at"] == exchange.clock.now.isoformat() and health["round_trip_seconds"] == 0


def test_a_canary_round_runs_once_per_interval_however_many_instances_tick(sqlite_session):
    exchange = canary_exchange(sqlite_session)
    exchange.units("ops-canary", sealed=("ops-canary",))
    assert exchange.call("canary_round") is not None
    assert exchange.call("canary_round") is None  # another tick (or instance) before the next is due
    assert exchange.session.query(Document).count() == 1
    exchange.clock.advance(seconds=61)
    assert exchange.call("canary_round")["last_outcome"] == "completed"
    assert exchange.session.query(Document).count() == 2


def test_the_canary_fails_health_when_no_round_trip_completed_within_its_bound(sqlite_session):
    # no relay runs in worker tests: the outbox's age is not what this test is about
    exchange = canary_exchange(sqlite_session, HEALTH_OUTBOX_MAX_AGE_SECONDS=10 ** 9)
    exchange.units("ops-canary", sealed=("ops-canary",))
    exchange.call("canary_round")
    completed = exchange.call("health")["canary"]["last_completed_at"]

    exchange.clock.advance(days=365 * 6)  # past the seal's validity: sealing is refused, the round fails
    failed = exchange.call("canary_round")
    assert failed["last_outcome"] == "failed" and failed["last_error"].startswith("SEAL_EXPIRED"), failed
    health = exchange.call("health")
    assert health["status"] == "ok"  # the exchange itself stays ready: the canary is the suite's
    assert health["canary"]["status"] == "failing" and health["canary"]["last_completed_at"] == completed


def test_a_canary_without_a_unit_or_seal_reports_not_configured_instead_of_failing(sqlite_session):
    unset = canary_exchange(sqlite_session, CANARY_UNIT_CODE="")
    assert unset.call("canary_round") is None
    assert unset.call("health")["canary"]["status"] == "not_configured"

    unsealed = canary_exchange(sqlite_session)
    unsealed.units("ops-canary")
    shown = unsealed.call("canary_round")
    assert shown["status"] == "not_configured" and shown["last_error"].startswith("SEAL_NOT_ACTIVE")
    unsealed.clock.advance(hours=2)
    assert unsealed.call("health")["canary"]["status"] == "not_configured"
    assert unsealed.session.query(Document).count() == 0
    assert unsealed.session.query(CanaryState).one().failed_at is not None
