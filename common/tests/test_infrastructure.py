"""Unit tests of the shared infrastructure (SQLite, no broker)."""
import json
import logging

import pytest
from nameko.exceptions import deserialize, serialize
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongwen_common import faults
from gongwen_common.clock import utcnow
from gongwen_common.errors import Conflict, DomainError
from gongwen_common.idempotency import once
from gongwen_common.logging import JsonFormatter, set_correlation_id
from gongwen_common.tables import OutboxEvent


class SealRevoked(DomainError):
    code, status = "SEAL_REVOKED", 422


def test_a_domain_error_crosses_rpc_with_code_status_and_fields():
    original = SealRevoked(message="revoked on 2026-01-02", fields={"seal": ["revoked"]})
    received = deserialize(json.loads(json.dumps(serialize(original.flatten()))))
    assert type(received) is DomainError
    assert (received.code, received.status, received.message, received.fields) == (
        "SEAL_REVOKED", 422, "revoked on 2026-01-02", {"seal": ["revoked"]})


def test_log_lines_are_json_with_the_correlation_id():
    record = logging.LogRecord("gongwen.test", logging.INFO, __file__, 1, "sent %s", ("doc",), None)
    record.event_id = "e-1"
    set_correlation_id("req-7")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        set_correlation_id(None)
    assert line["message"] == "sent doc" and line["correlation_id"] == "req-7" and line["event_id"] == "e-1"


def test_faults_are_inert_unless_named(monkeypatch):
    faults.hit("outbox.before_publish")  # nothing configured: no effect
    monkeypatch.setenv("GONGWEN_FAULTS", "point.a=fail:2")
    for _ in range(2):
        with pytest.raises(faults.InjectedFault):
            faults.hit("point.a")
    faults.hit("point.a")


@pytest.fixture
def session(sqlite_session):
    return sqlite_session()


def test_emit_writes_an_enveloped_event_in_the_same_transaction(session):
    set_correlation_id("req-9")
    try:
        event_id = session.emit("unit_registered", {"code": "a"})
    finally:
        set_correlation_id(None)
    session.rollback()  # the state change failed: its event goes with it
    assert session.scalars(select(OutboxEvent)).all() == []
    event_id = session.emit("unit_registered", {"code": "a"})
    session.commit()
    row = session.scalars(select(OutboxEvent)).one()
    assert row.event_id == event_id and row.sent_at is None
    assert row.payload["data"] == {"code": "a"} and row.payload["event_type"] == "unit_registered"


def test_once_returns_the_first_answer_and_refuses_a_different_request(session: Session):
    calls = []

    def perform():
        calls.append(1)
        return {"n": len(calls), "at": utcnow().isoformat()}

    first = once(session, "op", "k1", {"a": 1}, perform)
    session.commit()
    assert once(session, "op", "k1", {"a": 1}, perform) == first
    assert len(calls) == 1
    with pytest.raises(Conflict):
        once(session, "op", "k1", {"a": 2}, perform)
    assert once(session, "op", None, {"a": 1}, perform)["n"] == 2  # no key: no memory


def test_a_timer_job_commits_its_work_and_rolls_back_a_failed_run(tmp_path):
    """``gongwen_common.entrypoints.timer`` settles the worker's transaction like an RPC does."""
    import eventlet
    from nameko.containers import ServiceContainer
    from sqlalchemy import create_engine

    from gongwen_common.db import Database
    from gongwen_common.entrypoints import timer
    from gongwen_common.tables import InfraBase

    url = f"sqlite:///{tmp_path / 'timer.db'}"
    InfraBase.metadata.create_all(create_engine(url))
    runs = []

    class Periodic:
        name = "periodic"
        db = Database()

        @timer(interval=0.05)
        def tick(self):
            runs.append(len(runs))
            self.db.emit("ticked", {"run": runs[-1]})
            if len(runs) == 2:
                raise RuntimeError("this run fails: its event must not be kept")

    # The outbox relay cannot reach this broker; it only backs off, which is all this test needs.
    container = ServiceContainer(Periodic, {"DATABASE_URL": url, "AMQP_URI": "amqp://guest:guest@127.0.0.1:1//"})
    container.start()
    try:
        with eventlet.Timeout(10):
            while len(runs) < 4:
                eventlet.sleep(0.02)
    finally:
        container.kill()
    with Session(create_engine(url)) as session:
        kept = [e.payload["data"]["run"] for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    assert 1 not in kept and {0, 2}.issubset(kept)


def test_a_key_whose_first_call_never_finished_is_refused_not_performed_again(session: Session):
    """The claim only commits without its answer if a caller swallowed the failure of the first
    call; a repeat then learns that rather than performing a second time."""
    def failing():
        raise Conflict("BOOM", "the first call fails")

    with pytest.raises(Conflict):
        once(session, "op", "k2", {"a": 1}, failing)
    session.commit()  # the caller kept going and committed the claim
    with pytest.raises(Conflict) as refused:
        once(session, "op", "k2", {"a": 1}, lambda: {"performed": True})
    assert refused.value.code == "IDEMPOTENCY_KEY_IN_USE"


class _SettledOnADeadSocket:
    """A delivered message whose connection's socket is gone: acknowledging it raises as the
    socket does (``kill -9`` of the broker node it came from)."""

    def __init__(self, error):
        self.error, self.channel = error, type("Channel", (), {"connection": object()})()

    def ack(self):
        raise self.error

    def requeue(self):
        raise self.error


@pytest.mark.parametrize("error", [ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError(32, "pipe")])
def test_a_message_settled_after_its_connection_died_neither_raises_nor_kills_the_container(error, caplog):
    from gongwen_common.entrypoints import QueueConsumer

    consumer = QueueConsumer()
    consumer.ack_message(_SettledOnADeadSocket(error))  # nameko's own raised here, and its container died
    consumer.requeue_message(_SettledOnADeadSocket(error))
    assert [r.event for r in caplog.records if hasattr(r, "event")] == ["settle_on_lost_connection"] * 2
