"""SQLAlchemy 2 dependency provider: one session per worker, committed before the reply/ack.

nameko sends an RPC reply (or acks an event) in the entrypoint's ``handle_result``, which runs
*before* dependencies' ``worker_teardown``. Committing in teardown would acknowledge work that
might still fail to commit, so our entrypoints call :func:`finish_transaction` first.
"""
import logging
import os
import sys
import time
from pathlib import Path

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event, inspect, orm
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool

from . import outbox
from .clock import utcnow
from .logging import current_correlation_id

log = logging.getLogger(__name__)


class Session(orm.Session):
    """A session that can also record outgoing events in the same transaction (the outbox)."""

    def emit(self, event_type: str, data: dict, at=None) -> str:
        """``at``: when the change happened by the service's clock (the envelope's ``occurred_at``,
        which consumers' rules read); the wall clock only where a caller has no clock of its own."""
        row = outbox.new_event(event_type, data, current_correlation_id(), at or utcnow())
        relay = self.info.get("relay")
        if relay is not None:  # a worker's session: its relay publishes the row right after the commit
            relay.claim_at_birth(row)
        self.add(row)
        self.info.setdefault("emitted", []).append(row)
        return row.event_id


def upsert(session, model):
    """``INSERT`` of the session's dialect, with ``on_conflict_do_nothing``/``_do_update``."""
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name](model)


def insert_new(session, model, **values) -> bool:
    """Insert a row unless one with its primary key exists; True if this call inserted it.

    The first to insert a key holds it until its transaction ends: on PostgreSQL a concurrent
    insert of the same key waits for that, then finds the row (False) or, if the first rolled
    back, inserts it (True). Claim-then-act without a window between check and insert."""
    return bool(insert_new_rows(session, model, [values]))


ROWS_PER_INSERT = 500  # a statement's parameters stay far below SQLite's limit (32,766)


def insert_new_rows(session, model, rows: list[dict]) -> set:
    """``insert_new`` for many rows, in one statement per ``ROWS_PER_INSERT``: the primary keys
    (values, or tuples for a composite key) this call inserted. A fan-out to a thousand units is
    then a few statements, not a thousand round trips; each row waits and claims as in ``insert_new``."""
    primary_key = list(model.__table__.primary_key.columns)
    names = [column.name for column in primary_key]
    inserted = set()
    for start in range(0, len(rows), ROWS_PER_INSERT):
        statement = (upsert(session, model).values(rows[start:start + ROWS_PER_INSERT])
                     .on_conflict_do_nothing(index_elements=names).returning(*primary_key))
        inserted.update(row[0] if len(names) == 1 else tuple(row) for row in session.execute(statement))
    return inserted


def create_engine_for(url: str, pool_size: int = 10):
    """PostgreSQL with a pool as large as the worker pool, or SQLite in WAL mode with
    ``synchronous=NORMAL``: a commit is in the WAL file when it returns, so it survives the
    service's crash or ``kill -9``; only a crash of the machine itself (power, kernel) can lose the
    last commits before the next checkpoint's fsync, never corrupt the database (README,
    "Operations"). That saves an fsync per commit, which was most of a seal's time on SQLite.

    SQLite gets a single pooled connection: under eventlet a second greenthread blocking in
    sqlite's C code on a locked database would stall the whole process, so writers queue
    cooperatively for the one connection instead.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _ping_when_idle(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=120,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


IDLE_BEFORE_PING = 1.0  # seconds a pooled PostgreSQL connection may rest before it is checked


def _ping_when_idle(engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections that rested in the pool ``IDLE_BEFORE_PING``.

    A ping on every checkout is a round trip per transaction, 3–4 % of a busy service's CPU
    (``bench/gateway_load.py``'s profiles). A connection back from a transaction a moment ago is
    as alive as the ping would show; one that rested through a database restart is checked and,
    if dead, replaced before anyone uses it. A restart while connections are busy fails those
    transactions, as it would with the ping (their callers retry), and SQLAlchemy then discards
    every connection older than the failure."""
    @event.listens_for(engine, "checkin")
    def _resting_from(_dbapi_connection, record):
        record.info["resting_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection, record, _proxy):
        resting_from = record.info.pop("resting_from", None)
        if resting_from is None or time.monotonic() - resting_from < IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool replaces it and checks out another
            raise DisconnectionError(f"a pooled connection died while it rested: {exc}") from exc


def _setting(config, name, default):
    """From the service's config, else the environment (not every config.yaml names every setting)."""
    return config.get(name, os.environ.get(name, default))


class Database(DependencyProvider):
    """Injects a :class:`Session`; runs this service's outbox relay alongside the workers."""

    def setup(self):
        config = self.container.config
        workers = int(config.get("max_workers", 10))
        self.engine = create_engine_for(config["DATABASE_URL"], pool_size=workers + 2)
        self.sessionmaker = orm.sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self.relay = outbox.OutboxRelay(
            self.engine, self.container.service_name, config["AMQP_URI"],
            poll_interval=float(config.get("OUTBOX_POLL_INTERVAL", 1.0)),
            lease=float(_setting(config, "OUTBOX_CLAIM_LEASE", 30.0)),
            confirm_timeout=float(_setting(config, "OUTBOX_CONFIRM_TIMEOUT", 5.0)),
        )
        self.sessions = {}

    def start(self):
        self.container.spawn_managed_thread(self.relay.run, identifier="outbox_relay")

    def stop(self):
        self.relay.stop()
        # here, not only in the relay's own thread: nameko kills managed threads right after this
        self.relay.settle_published()

    def kill(self):
        self.relay.stop()

    def get_dependency(self, worker_ctx):
        session = self.sessionmaker(info={"relay": self.relay})
        self.sessions[worker_ctx] = session
        return session

    def finish(self, worker_ctx, exc_info):
        """Commit on success, roll back on error; a failed commit becomes the worker's error."""
        session = self.sessions.get(worker_ctx)
        if session is None:
            return exc_info
        try:
            if exc_info is None:
                session.commit()
                # Only rows the commit kept: one added in a savepoint that rolled back is gone.
                emitted = [row for row in session.info.pop("emitted", ()) if inspect(row).persistent]
                if emitted:
                    self.relay.hand_over(emitted)
            else:
                session.rollback()
        except Exception:
            log.exception("commit failed")
            session.rollback()
            return sys.exc_info()
        return exc_info

    def worker_teardown(self, worker_ctx):
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.close()


def finish_transaction(worker_ctx, exc_info):
    """Settle every database session of this worker before its result leaves the service."""
    for dependency in worker_ctx.container.dependencies:
        if isinstance(dependency, Database):
            exc_info = dependency.finish(worker_ctx, exc_info)
    return exc_info
