"""SQLite runs with WAL and ``synchronous=NORMAL`` (issue 15): no fsync per commit, and still every
commit a process answered survives its ``kill -9`` (only a machine crash may lose the last ones; README)."""
import signal
import subprocess
import sys

from sqlalchemy import func, select, text

from gongwen_common.db import Session, create_engine_for
from gongwen_common.tables import OutboxEvent

CHILD = """
import os, signal, sys
from gongwen_common.db import Session, create_engine_for
from gongwen_common.tables import InfraBase
engine = create_engine_for(sys.argv[1])
InfraBase.metadata.create_all(engine)
for n in range(50):
    with Session(engine) as session:
        event_id = session.emit("document_sent", {"n": n})
        session.commit()
    print(event_id, flush=True)  # answered only once committed, as a service answers its caller
os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: the WAL is all there is
"""


def test_every_commit_answered_on_sqlite_survives_kill_9_of_its_process(tmp_path):
    url = f"sqlite:///{tmp_path / 'exchange.sqlite3'}"
    child = subprocess.run([sys.executable, "-c", CHILD, url], capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    answered = child.stdout.split()
    assert len(answered) == 50
    engine = create_engine_for(url)
    with Session(engine) as session:
        assert session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        kept = set(session.scalars(select(OutboxEvent.event_id)))
        assert kept >= set(answered)
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 50
    engine.dispose()
