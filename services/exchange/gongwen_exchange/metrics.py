"""The exchange's gauges, read from its database when Prometheus scrapes (``gongwen_common.metrics``)."""
from sqlalchemy import func, select

from gongwen_common.metrics import DatabaseCollector

from .domain.documents import OPEN
from .models import Document, Receipt

DOCUMENTS = "gongwen_documents"
RECEIPTS = "gongwen_receipts"
OVERDUE_RECEIPTS = "gongwen_overdue_receipts"
DOCUMENT_STATUSES = ("awaiting_seal", "sent", "recalled", "completed")
NAMES = frozenset({DOCUMENTS, RECEIPTS, OVERDUE_RECEIPTS})


class ExchangeCollector(DatabaseCollector):
    def gauges(self, session, now):
        documents = self.gauge(DOCUMENTS, "Documents by status (awaiting_seal, sent, recalled, completed).",
                               ["status"])
        counts = dict.fromkeys(DOCUMENT_STATUSES, 0)  # 0s: plotted too
        counts.update(session.execute(select(Document.status, func.count()).group_by(Document.status)).all())
        for status, count in counts.items():
            documents.add_metric([self.service, status], count)
        latest = Receipt.latest.is_(True)
        receipts = self.gauge(RECEIPTS, "Current receipts (latest generation) by state.", ["state"])
        for state, count in session.execute(select(Receipt.state, func.count()).where(latest)
                                            .group_by(Receipt.state)):
            receipts.add_metric([self.service, state], count)
        overdue = self.gauge(OVERDUE_RECEIPTS, "Receipts past their deadline and not yet signed for.")
        overdue.add_metric([self.service], session.scalar(
            select(func.count()).select_from(Receipt).where(
                latest, Receipt.state.in_(OPEN), Receipt.closed_at.is_(None), Receipt.due_at <= now)))
        yield from (documents, receipts, overdue)
