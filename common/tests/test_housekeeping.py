"""Housekeeping (``gongwen_common.housekeeping``): each kind of row that only grew goes after its
retention by the service's clock, young rows and unsent outbox rows stay, a backlog goes in bounded
batches, and several instances purging at once delete each row once (PostgreSQL)."""
import uuid
from datetime import UTC, datetime, timedelta

from nameko.testing.services import worker_factory
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.pool import NullPool

from conftest import at_once, committed
from gongwen_common import housekeeping
from gongwen_common.clock import MovableClock
from gongwen_common.db import Session
from gongwen_common.service import ServiceBase
from gongwen_common.tables import DeadLetter, HandledEvent, IdempotencyRecord, InfraBase, OutboxEvent

START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
CONFIG = {"OUTBOX_SENT_RETENTION_DAYS": 7, "HANDLED_EVENT_RETENTION_DAYS": 30, "IDEMPOTENCY_RETENTION_DAYS": 7,
          "DEAD_LETTER_REPLAYED_RETENTION_DAYS": 30}


class KeptService(ServiceBase):
    name = "kept"


def outbox_row(at, sent=True):
    return OutboxEvent(event_id=str(uuid.uuid4()), event_type="thing_happened", payload={}, created_at=at,
                       sent_at=at if sent else None, attempts=1 if sent else 0)


def handled(at):
    return HandledEvent(event_id=str(uuid.uuid4()), handler="on_thing", event_type="thing_happened", handled_at=at)


def idempotency(at):
    return IdempotencyRecord(operation="register_unit", key=uuid.uuid4().hex, fingerprint="0" * 64,
                             response={"code": "x"}, created_at=at)


def dead_letter(at, replayed=True):
    return DeadLetter(queue="q", event_type="thing_happened", event_id=str(uuid.uuid4()), body={}, headers={},
                      reason="rejected", dead_at=at, replayed_at=at if replayed else None, replay_count=int(replayed))


def every_kind(at):
    return [outbox_row(at), handled(at), idempotency(at), dead_letter(at)]


def remaining(session):
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (OutboxEvent, HandledEvent, IdempotencyRecord, DeadLetter)}


def purge_with(session, clock, config=CONFIG):
    return worker_factory(KeptService, db=session, clock=clock, config=config).purge_old_rows()


def test_rows_go_after_their_retention_and_young_rows_stay(sqlite_session):
    session, clock = sqlite_session(), MovableClock(START)
    session.add_all(every_kind(START))
    session.commit()

    clock.advance(days=6, hours=23)
    assert sum(purge_with(session, clock).values()) == 0
    clock.advance(hours=2)  # a week and an hour: the outbox row and the idempotency record are old
    assert purge_with(session, clock) == {"sent_outbox_events": 1, "handled_events": 0,
                                          "idempotency_records": 1, "replayed_dead_letters": 0}
    session.add_all(every_kind(START + timedelta(days=29)))  # young rows of every kind
    session.commit()
    clock.now = START + timedelta(days=30, hours=1)  # the first handled event and dead letter are a month old
    assert purge_with(session, clock) == {"sent_outbox_events": 0, "handled_events": 1,
                                          "idempotency_records": 0, "replayed_dead_letters": 1}
    assert remaining(session) == {"outbox_events": 1, "handled_events": 1, "idempotency_records": 1,
                                  "dead_letters": 1}


def test_an_unsent_outbox_row_and_a_dead_letter_never_replayed_never_go(sqlite_session):
    session, clock = sqlite_session(), MovableClock(START)
    session.add_all([outbox_row(START, sent=False), dead_letter(START, replayed=False)])
    session.commit()
    clock.advance(days=3650)
    assert sum(purge_with(session, clock).values()) == 0
    assert remaining(session)["outbox_events"] == 1 and remaining(session)["dead_letters"] == 1


def test_each_retention_is_a_setting(sqlite_session):
    session, clock = sqlite_session(), MovableClock(START)
    session.add_all(every_kind(START))
    session.commit()
    clock.advance(days=2)
    assert purge_with(session, clock, {**CONFIG, "HANDLED_EVENT_RETENTION_DAYS": "1"})["handled_events"] == 1
    assert purge_with(session, clock, {})["sent_outbox_events"] == 0  # the defaults: a week
    assert purge_with(session, clock, {"OUTBOX_SENT_RETENTION_DAYS": 1.5})["sent_outbox_events"] == 1


def test_a_backlog_goes_in_bounded_batches_each_committed_on_its_own(sqlite_session):
    session, clock = sqlite_session(), MovableClock(START)
    session.add_all([handled(START) for _ in range(10)])
    session.commit()
    statements, commits = [], []
    event.listen(session.get_bind(), "after_cursor_execute",
                 lambda conn, cursor, sql, *_: sql.startswith("DELETE FROM handled_events")
                 and statements.append(cursor.rowcount))
    event.listen(session, "after_commit", lambda _: commits.append(len(statements)))
    clock.advance(days=31)
    assert purge_with(session, clock, {"HOUSEKEEPING_BATCH": 3})["handled_events"] == 10
    assert statements == [3, 3, 3, 1]
    # each batch committed before the next began (the other tables' batches commit too, deleting none)
    assert [n for n in dict.fromkeys(commits) if n] == [1, 2, 3, 4]


def test_two_instances_purging_at_once_on_postgresql_delete_each_row_once(postgres):
    name = f"housekeeping_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    engine = create_engine(postgres.url(name), poolclass=NullPool)
    InfraBase.metadata.create_all(engine)
    old, young = START, START + timedelta(days=40)
    with Session(engine) as session:
        session.add_all([handled(old) for _ in range(900)] + [outbox_row(old) for _ in range(300)]
                        + [outbox_row(old, sent=False) for _ in range(5)] + [handled(young) for _ in range(7)])
        session.commit()
    now = START + timedelta(days=45)

    # One instance holds a batch it has not committed: another takes other rows and does not wait.
    first, second = Session(engine), Session(engine)
    assert housekeeping.delete_batch(first, HandledEvent, HandledEvent.handled_at < START + timedelta(days=1),
                                     limit=100) == 100
    assert housekeeping.delete_batch(second, HandledEvent, HandledEvent.handled_at < START + timedelta(days=1),
                                     limit=100) == 100
    first.commit()
    second.commit()

    counts = at_once([committed(engine, lambda s: housekeeping.run(s, now, {**CONFIG, "HOUSEKEEPING_BATCH": 50}))
                      for _ in range(3)])
    assert not [c for c in counts if isinstance(c, Exception)], counts
    assert sum(c["handled_events"] for c in counts) == 700  # 900 old, 200 went above: each counted once
    assert sum(c["sent_outbox_events"] for c in counts) == 300
    with Session(engine) as session:
        assert remaining(session)["handled_events"] == 7
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 5  # the unsent rows
    engine.dispose()
