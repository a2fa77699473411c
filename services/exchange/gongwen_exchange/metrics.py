"""The exchange's gauges, read from its database when Prometheus scrapes (``gongwen_common.metrics``)."""
from sqlalchemy import func, select

from gongwen_common.metrics import DatabaseCollector

from .domain.documents import OPEN
from .models import CanaryState, Document, Receipt

DOCUMENTS = "gongwen_documents"
RECEIPTS = "gongwen_receipts"
OVERDUE_RECEIPTS = "gongwen_overdue_receipts"
DOCUMENT_STATUSES = ("awaiting_seal", "sent", "recalled", "completed")
CANARY_LAST_SUCCESS = "gongwen_canary_last_success_timestamp_seconds"
NAMES = frozenset({DOCUMENTS, RECEIPTS, OVERDUE_RECEIPTS, CANARY_LAST_SUCCESS})


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
        # From canary_state, not a process gauge: every instance tells the same time, and one that
        # restarted does not fall back to 0 and fire the alert
        canary = self.gauge(CANARY_LAST_SUCCESS, "When the canary's last sealed round trip completed (Unix "
                            "time; 0: never).")
        completed = session.scalar(select(func.max(CanaryState.completed_at)))
        canary.add_metric([self.service], completed.timestamp() if completed else 0)
        yield from (documents, receipts, overdue, canary)
