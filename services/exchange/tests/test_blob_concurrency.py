"""Two transactions storing the same bytes at once both commit, and the bytes are kept once
(issue 9, item 9): blobs are inserted or left alone in one statement, on PostgreSQL, where the
second insert waits for the first transaction and then does nothing."""
import hashlib
import uuid
from datetime import UTC, datetime

from eventlet.patcher import original
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from conftest import wait_until
from gongwen_common import migrate
from gongwen_common.db import Session
from gongwen_exchange.domain import blobs
from gongwen_exchange.models import Blob

NOW = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)


def someone_waits_on_a_lock(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND datname = current_database()")).scalar() > 0


def test_two_transactions_storing_the_same_bytes_both_commit_and_keep_one_blob(postgres):
    name = f"blobs_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    migrate.upgrade("gongwen_exchange", url)
    engine = create_engine(url, poolclass=NullPool)
    body = "同一正文".encode() * 100
    digest = hashlib.sha256(body).hexdigest()

    first, second = Session(engine), Session(engine)
    assert blobs.store(first, body, NOW) == digest  # not committed yet: the key is held
    outcome = []

    def store_and_commit():
        try:
            outcome.append(blobs.store(second, body, NOW))  # waits for the first transaction
            second.commit()
        except Exception as exc:  # noqa: BLE001 - the outcome is asserted below
            outcome.append(exc)

    # A real OS thread: psycopg2 blocks in C, and this thread must commit the first meanwhile.
    concurrent = original("threading").Thread(target=store_and_commit)
    concurrent.start()
    wait_until(lambda: someone_waits_on_a_lock(engine), timeout=10, message="the second insert to wait")
    first.commit()
    concurrent.join(10)
    assert outcome == [digest]
    with Session(engine) as check:
        assert check.scalar(select(func.count()).select_from(Blob)) == 1
    engine.dispose()
