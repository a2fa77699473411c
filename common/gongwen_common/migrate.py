"""Alembic per service, driven from code: ``python -m gongwen_common.migrate gongwen_registry``.

Each service keeps its revisions in ``<package>/migrations``; its ``env.py`` calls
:func:`run_env` and its first revision calls :func:`create_infra_tables`.
"""
import argparse
import fcntl
import hashlib
import importlib
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from .tables import InfraBase


def create_infra_tables(op):
    InfraBase.metadata.create_all(op.get_bind())


def drop_infra_tables(op):
    InfraBase.metadata.drop_all(op.get_bind())


def add_outbox_claims(op):
    """The relay's claims (``outbox_events.claimed_by``/``claimed_until``) and the idempotency
    record's pending state (``response`` NULL while the first call performs).

    A database created since these were added already has them: the first revision builds the
    infrastructure tables from today's models, so only what is missing is added.
    """
    import sqlalchemy as sa

    from .tables import UtcDateTime

    inspector = sa.inspect(op.get_bind())
    present = {column["name"] for column in inspector.get_columns("outbox_events")}
    with op.batch_alter_table("outbox_events") as batch:
        if "claimed_by" not in present:
            batch.add_column(sa.Column("claimed_by", sa.String(100), nullable=True))
        if "claimed_until" not in present:
            batch.add_column(sa.Column("claimed_until", UtcDateTime, nullable=True))
    response = next(c for c in inspector.get_columns("idempotency_records") if c["name"] == "response")
    if not response["nullable"]:
        with op.batch_alter_table("idempotency_records") as batch:
            batch.alter_column("response", existing_type=sa.JSON(), nullable=True)


def drop_outbox_claims(op):
    import sqlalchemy as sa

    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("idempotency_records") as batch:
        batch.alter_column("response", existing_type=sa.JSON(), nullable=False)


HOUSEKEEPING_INDEXES = (("handled_events", "handled_at"), ("idempotency_records", "created_at"),
                        ("dead_letters", "replayed_at"))


def add_housekeeping_indexes(op):
    """The columns housekeeping purges by (``gongwen_common.housekeeping``), indexed so a batch
    finds its old rows without scanning the table. A database created since they were added has
    them already (the first revision builds the infrastructure tables from today's models)."""
    import sqlalchemy as sa

    inspector = sa.inspect(op.get_bind())
    for table, column in HOUSEKEEPING_INDEXES:
        if f"ix_{table}_{column}" not in {index["name"] for index in inspector.get_indexes(table)}:
            op.create_index(f"ix_{table}_{column}", table, [column])


def drop_housekeeping_indexes(op):
    for table, column in HOUSEKEEPING_INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def run_env(metadata):
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=[metadata, InfraBase.metadata],
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


def alembic_config(package: str, url: str) -> Config:
    location = Path(importlib.import_module(package).__file__).parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def lock_key(package: str) -> int:
    """The advisory lock of ``package``'s migrations: a signed 64-bit number named by the package,
    so instances of one service wait for each other and different services do not."""
    return int.from_bytes(hashlib.sha256(f"gongwen migrate {package}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def migration_lock(package: str, url: str):
    """Held while one process migrates ``package``'s database; others starting at once wait here,
    then find the head already there and apply nothing.

    PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a connection of its own, which
    the server releases if the process dies. SQLite: an exclusive ``flock`` on a file beside the
    database (the kernel releases it with the process). An in-memory database has no one to race."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            yield
            return
        path = Path(parsed.database).with_name(Path(parsed.database).name + ".migrate-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(package)})
            connection.commit()  # hold no snapshot: the lock is the session's, not a transaction's
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(package)})
                connection.commit()
    finally:
        engine.dispose()


def upgrade(package: str, url: str, revision: str = "head") -> None:
    """Migrate to ``revision`` behind the migration lock: several instances starting at once (the
    container entrypoint, ``make run``) run each revision once."""
    with migration_lock(package, url):
        command.upgrade(alembic_config(package, url), revision)


def differences_from_models(package: str, metadata, url: str) -> list:
    """Migrate ``package``'s database at ``url`` to head and list how it differs from the models
    (``metadata`` plus the infrastructure tables); [] when migrations and models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData

    upgrade(package, url)
    expected = MetaData()
    for table in (*metadata.tables.values(), *InfraBase.metadata.tables.values()):
        table.to_metadata(expected)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), expected)
    finally:
        engine.dispose()


def main():
    parser = argparse.ArgumentParser(description="Migrate one service's database to head.")
    parser.add_argument("package", help="e.g. gongwen_registry")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url or set DATABASE_URL")
    # alembic says each revision it runs ("Running upgrade a -> b"): the log of a start shows them
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.INFO)
    upgrade(args.package, args.url)


if __name__ == "__main__":
    main()
