"""PostgreSQL connections are pinged only after resting in the pool (``db.IDLE_BEFORE_PING``): one
whose server process died while it rested is replaced unseen; a busy one costs no round trip."""
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from gongwen_common import db


def _engine(postgres):
    name = f"ping_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    return db.create_engine_for(postgres.url(name), pool_size=1), create_engine(postgres.url(name), poolclass=NullPool)


def _backend(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT pg_backend_pid()"))


def test_a_connection_that_died_while_resting_is_replaced_before_use(postgres, monkeypatch):
    engine, admin = _engine(postgres)
    first = _backend(engine)
    with admin.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    monkeypatch.setattr(db, "IDLE_BEFORE_PING", 0.0)
    assert _backend(engine) != first  # no error: the ping found it dead and the pool opened another
    engine.dispose()


def test_a_connection_back_a_moment_ago_is_used_without_a_ping(postgres, monkeypatch):
    engine, _ = _engine(postgres)
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(1) or real_ping(connection))
    monkeypatch.setattr(db, "IDLE_BEFORE_PING", 60.0)
    backends = {_backend(engine) for _ in range(10)}
    assert len(backends) == 1 and pings == []
    monkeypatch.setattr(db, "IDLE_BEFORE_PING", 0.0)
    assert _backend(engine) in backends and pings == [1]
    engine.dispose()
