"""Search (检索) over the documents the archive has seen: number, title, 签发人, the units' codes and
names, and the sending date — for Chinese text, by substring (a query ``通知`` finds
``关于……的紧急通知``), and only among the documents the caller's unit sent or received (the operator:
all).

Why substrings and not words: Chinese has no spaces, and the words people look for (通知, 安全生产,
a unit's short name) are substrings of titles; a segmenter would add a dictionary to keep and still
miss the names it does not know. On PostgreSQL a pg_trgm GIN index serves ``LIKE '%…%'`` (for
queries of three characters or more; shorter ones scan); SQLite, the embedded default for small
installations, scans the one ``text`` column, which at a district's tens of thousands of documents
is milliseconds."""
import base64
import binascii
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from gongwen_common.audit import Caller
from gongwen_common.db import insert_new_rows
from gongwen_common.errors import NotFound

from ..models import DocumentUnit, SearchDocument, UnitView

LOCAL = ZoneInfo("Asia/Shanghai")  # dates in a query are the city's days


def _words(*parts) -> str:
    return " ".join(p for p in parts if isinstance(p, str) and p).lower()


def index_sent(session, data: dict, happened_at: datetime) -> None:
    """From ``document_sent`` (first sending or a resend): the document and every unit it reached.
    Its date is the document's own ``sent_at`` (a resend keeps the first sending's)."""
    document_id = data.get("id")
    if not isinstance(document_id, str):
        return
    try:
        sent_at = datetime.fromisoformat(data["sent_at"])
    except (KeyError, TypeError, ValueError):
        sent_at = happened_at
    if sent_at.tzinfo is None:
        sent_at = happened_at
    codes = [data.get("issuer_code"), *(r.get("unit_code") for r in data.get("receipts", []) if isinstance(r, dict))]
    codes = [c for c in dict.fromkeys(codes) if isinstance(c, str)]
    names = [v.name for v in session.scalars(select(UnitView).where(UnitView.code.in_(codes)))]
    row = session.get(SearchDocument, document_id)
    if row is None:
        row = SearchDocument(document_id=document_id, issuer_code=data.get("issuer_code", ""),
                             doc_number=data.get("doc_number", ""), title=data.get("title", ""),
                             urgency=data.get("urgency", ""), signer=data.get("signer"),
                             status=data.get("status", "sent"), sent_at=sent_at, text="")
        session.add(row)
    row.text = _words(row.text, row.doc_number, row.title, row.signer, *codes, *names)
    insert_new_rows(session, DocumentUnit, [{"document_id": document_id, "unit_code": code} for code in codes])


def index_status(session, data: dict) -> None:
    """A completed or recalled document keeps being found, with its state."""
    row = session.get(SearchDocument, data.get("id")) if isinstance(data.get("id"), str) else None
    if row is not None and isinstance(data.get("status"), str):
        row.status = data["status"]


def _cursor(value: str | None):
    """A page this search gave; an empty cursor is the first page, one it never gave is no page (404,
    like the inbox's)."""
    if not value:
        return None
    try:
        sent_at, document_id = base64.urlsafe_b64decode(value.encode()).decode().split("|", 1)
        return datetime.fromisoformat(sent_at), document_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotFound(message="No such page of this search: use the next_cursor it gave.") from None


def _next_cursor(row: SearchDocument) -> str:
    return base64.urlsafe_b64encode(f"{row.sent_at.isoformat()}|{row.document_id}".encode()).decode()


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(session, actor, q=None, start=None, end=None, unit=None, limit=50, cursor=None) -> dict:
    """Newest first; ``start``/``end`` are dates (inclusive) in Asia/Shanghai."""
    caller = Caller.of(actor)
    query = select(SearchDocument)
    if not caller.is_operator:
        query = query.where(SearchDocument.document_id.in_(
            select(DocumentUnit.document_id).where(DocumentUnit.unit_code == (caller.unit_code or ""))))
    if unit:
        query = query.where(SearchDocument.document_id.in_(
            select(DocumentUnit.document_id).where(DocumentUnit.unit_code == unit)))
    if q:
        query = query.where(SearchDocument.text.like(_like(q), escape="\\"))
    if start:
        query = query.where(SearchDocument.sent_at >= datetime.combine(start, time(), LOCAL))
    if end:
        query = query.where(SearchDocument.sent_at < datetime.combine(end + timedelta(days=1), time(), LOCAL))
    after = _cursor(cursor)
    if after:
        sent_at, document_id = after
        query = query.where(or_(SearchDocument.sent_at < sent_at,
                                and_(SearchDocument.sent_at == sent_at, SearchDocument.document_id > document_id)))
    rows = list(session.scalars(query.order_by(SearchDocument.sent_at.desc(), SearchDocument.document_id)
                                .limit(limit + 1)))
    items = [{"document_id": r.document_id, "doc_number": r.doc_number, "title": r.title,
              "issuer_code": r.issuer_code, "urgency": r.urgency, "signer": r.signer, "status": r.status,
              "sent_at": r.sent_at.isoformat()} for r in rows[:limit]]
    return {"items": items, "next_cursor": _next_cursor(rows[limit - 1]) if len(rows) > limit else None}
