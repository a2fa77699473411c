"""Two first calls with one Idempotency-Key at the same moment, on PostgreSQL: one performs,
the other waits for it and returns its answer (or 409 for another body), never an error."""
import threading
import uuid

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, func, insert, select

from conftest import at_once, committed
from gongwen_common.clock import utcnow
from gongwen_common.errors import Conflict
from gongwen_common.idempotency import once
from gongwen_common.tables import InfraBase

effects = Table("effects", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True))


@pytest.fixture(scope="module")
def engine(postgres):
    name = f"idem_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    engine = create_engine(postgres.url(name), pool_size=25, max_overflow=0)
    InfraBase.metadata.create_all(engine)
    effects.metadata.create_all(engine)
    yield engine
    engine.dispose()


def simultaneously(engine, calls):
    """Run each ``call(session)`` in its own thread and transaction, released together; each
    commits what it did. Returns the answers (or raised exceptions) in order."""
    return at_once([committed(engine, call) for call in calls], timeout=30)


def performing(session, release=None):
    """An effect that is not idempotent by itself: a new row each time it runs."""
    def perform():
        new_id = session.execute(insert(effects).returning(effects.c.id)).scalar_one()
        if release is not None:
            release.wait(10)  # stay inside the transaction while the others arrive
        return {"effect": new_id, "at": utcnow().isoformat()}
    return perform


def count_effects(engine):
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(effects))


def test_concurrent_first_calls_with_one_key_perform_once_and_share_the_answer(engine):
    key, before = uuid.uuid4().hex, count_effects(engine)
    answers = simultaneously(engine, [lambda s: once(s, "op", key, {"a": 1}, performing(s))] * 10)
    assert not [a for a in answers if isinstance(a, Exception)], answers
    assert len({a["effect"] for a in answers}) == 1 and len({a["at"] for a in answers}) == 1
    assert count_effects(engine) == before + 1


def test_a_concurrent_call_with_the_key_and_another_body_is_refused_not_failed(engine):
    key, release = uuid.uuid4().hex, threading.Event()
    threading.Timer(0.5, release.set).start()
    first, second = simultaneously(engine, [
        lambda s: once(s, "op", key, {"a": 1}, performing(s, release)),
        lambda s: (release.wait(0.2), once(s, "op", key, {"a": 2}, performing(s)))[1],
    ])
    assert "effect" in first
    assert isinstance(second, Conflict) and second.code == "IDEMPOTENCY_KEY_REUSED"


def test_when_the_first_call_rolls_back_the_waiting_one_performs(engine):
    key, release, before = uuid.uuid4().hex, threading.Event(), count_effects(engine)
    threading.Timer(0.5, release.set).start()

    def failing(session):
        def perform():
            performing(session, release)()
            raise Conflict("SOMETHING_ELSE", "the first call fails after its claim")
        return once(session, "op", key, {"a": 1}, perform)

    first, second = simultaneously(engine, [
        failing, lambda s: (release.wait(0.2), once(s, "op", key, {"a": 1}, performing(s)))[1]])
    assert isinstance(first, Conflict) and first.code == "SOMETHING_ELSE"
    assert "effect" in second
    assert count_effects(engine) == before + 1
