"""``receipt_overdue`` exactly once per receipt and deadline with several instances sweeping at
the same moment, on PostgreSQL (row claims with ``FOR UPDATE SKIP LOCKED``)."""
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from gongwen_common import migrate
from gongwen_common.db import Session
from gongwen_common.tables import OutboxEvent
from gongwen_exchange.domain import supervision
from gongwen_exchange.models import Blob, Document, Receipt

NOW = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)


def late_document(session, receipts: int) -> None:
    session.add(Blob(sha256="0" * 64, size=0, data=b"", created_at=NOW))
    document = Document(id=str(uuid.uuid4()), issuer_code="gz-fgw", doc_number="穗〔2026〕1号", doc_year=2026,
                        title="通知", signer="王", urgency="urgent", metadata_json={}, manifest=b"{}",
                        manifest_sha256="1" * 64, signature=b"", seal_serial="GW1", body_name="body",
                        body_sha256="0" * 64, status="sent", sent_at=NOW - timedelta(hours=2), sent_by="clerk")
    session.add(document)
    session.flush()
    for n in range(receipts):
        session.add(Receipt(id=str(uuid.uuid4()), document_id=document.id, unit_code=f"u{n}", role="main",
                            generation=1, latest=True, state="delivered", delivered_at=document.sent_at,
                            due_at=NOW - timedelta(minutes=1), print_copies_granted=0, print_copies_used=0))
    session.commit()


def test_two_instances_sweeping_together_announce_each_late_receipt_once(postgres):
    name = f"overdue_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    migrate.upgrade("gongwen_exchange", url)
    engine = create_engine(url, poolclass=NullPool)
    late_document(Session(engine), receipts=30)

    first, second = Session(engine), Session(engine)
    claimed = supervision.sweep_overdue(first, NOW, limit=20)  # holds its 20 rows until it commits
    taken_meanwhile = supervision.sweep_overdue(second, NOW)  # skips the locked rows, takes the other 10
    assert (claimed, taken_meanwhile) == (20, 10)
    first.commit()
    second.commit()
    third = Session(engine)
    assert supervision.sweep_overdue(third, NOW + timedelta(minutes=5)) == 0  # nobody announces one again
    third.commit()
    with Session(engine) as check:
        events = check.scalars(select(OutboxEvent.payload).where(OutboxEvent.event_type == "receipt_overdue")).all()
        assert len(events) == 30 and len({e["data"]["receipt_id"] for e in events}) == 30
        assert check.scalar(select(func.count()).select_from(Receipt).where(Receipt.overdue_at.is_(None))) == 0
    engine.dispose()
