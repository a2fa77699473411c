"""The exchange's own retention (003 第二篇 §6: units clean up expired information): a document's
content — body and attachments — leaves the exchange's store once the archive has taken in the
document's package **and** ``EXCHANGE_CONTENT_RETENTION_DAYS`` have passed since it was sent;
never before. The document's record, manifest, signature and receipts stay. A blob shared with a
document that may not be purged yet stays too."""
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from ..models import Attachment, Blob, Document
from .documents import record

BATCH = 100
ARCHIVE = "archive"


def mark_archived(session, data: dict, at: datetime) -> None:
    """From the archive's ``package_archived``: the document's content may go after the retention."""
    document = session.get(Document, data.get("document_id")) if isinstance(data.get("document_id"), str) else None
    if document is not None and document.archived_at is None:
        document.archived_at = at
        record(session, at, ARCHIVE, "document_archived", "document", document.id, sha256=data.get("sha256"))


def _keepers(cutoff: datetime):
    """Documents whose content must stay: not archived yet, or sent after the cutoff."""
    return select(Document.id).where(or_(Document.archived_at.is_(None), Document.sent_at > cutoff))


def purge_expired_content(session, retention_days: int, now: datetime) -> int:
    """Empty the blobs no kept document needs; how many. Safe with several instances (row locks)."""
    cutoff = now - timedelta(days=retention_days)
    keepers = _keepers(cutoff)
    needed = select(Document.body_sha256).where(Document.id.in_(keepers)).union(
        select(Attachment.sha256).where(Attachment.document_id.in_(keepers)))
    eligible = select(Document.body_sha256).where(and_(Document.archived_at.is_not(None),
                                                       Document.sent_at <= cutoff)).union(
        select(Attachment.sha256).join(Document, Document.id == Attachment.document_id)
        .where(and_(Document.archived_at.is_not(None), Document.sent_at <= cutoff)))
    blobs = list(session.scalars(select(Blob).where(Blob.purged_at.is_(None), Blob.sha256.in_(eligible),
                                                    Blob.sha256.not_in(needed))
                                 .limit(BATCH).with_for_update(skip_locked=True)))
    for blob in blobs:
        blob.data, blob.purged_at = b"", now
        record(session, now, ARCHIVE, "content_purged", "blob", blob.sha256, size=blob.size)
    return len(blobs)
