"""The unit directory replica under concurrent handlers, on PostgreSQL: two sessions apply two
states of one unit at once, the older one second or blocked behind the newer; the newer stays."""
import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import DeclarativeBase, Session

from conftest import wait_until
from gongwen_contracts.registry.replica import UnitViewColumns, remember_unit

AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    pass


@pytest.fixture(scope="module")
def engine(postgres):
    name = f"replica_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    engine = create_engine(postgres.url(name))
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def state(code, version, name="广州市发改委", status="active"):
    return {"code": code, "name": name, "status": status, "version": version}


def blocked_sessions(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))


def newer_then_older(engine, first, second):
    """Session A applies ``first`` and holds its transaction open until session B, applying
    ``second``, is blocked behind it (or done); then A commits, then B. B must not fail."""
    failures = []

    def older():
        with Session(engine) as session:
            try:
                remember_unit(session, UnitView, second, AT)
                session.commit()
            except Exception as exc:
                failures.append(exc)

    with Session(engine) as session:
        remember_unit(session, UnitView, first, AT)
        session.flush()
        late = threading.Thread(target=older)
        late.start()
        wait_until(lambda: blocked_sessions(engine) == 1 or not late.is_alive(), timeout=10,
                   message="the second handler to wait for the first")
        session.commit()
    late.join(10)
    assert failures == []


def test_an_older_state_applied_concurrently_never_overwrites_a_newer_one(engine):
    code = f"u-{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        remember_unit(session, UnitView, state(code, 1, status="applied"), AT)
        session.commit()

    newer_then_older(engine, state(code, 3, status="revoked"), state(code, 2))

    with Session(engine) as session:
        view = session.get(UnitView, code)
        assert (view.version, view.status, view.revision) == (3, "revoked", 2)


def test_two_first_states_applied_concurrently_keep_the_newer_without_an_error(engine):
    code = f"u-{uuid.uuid4().hex[:6]}"

    newer_then_older(engine, state(code, 2), state(code, 1, status="applied"))

    with Session(engine) as session:
        view = session.get(UnitView, code)
        assert (view.version, view.status, view.revision) == (2, "active", 1)
        assert remember_unit(session, UnitView, state(code, 2), AT).revision == 1  # a redelivery changes nothing
