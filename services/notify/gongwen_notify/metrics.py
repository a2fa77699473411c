"""Notify's gauges, read from its database when Prometheus scrapes (``gongwen_common.metrics``)."""
from sqlalchemy import func, select

from gongwen_common.metrics import DatabaseCollector

from .models import Message

MESSAGES = "gongwen_messages"
NAMES = frozenset({MESSAGES})


class NotifyCollector(DatabaseCollector):
    def gauges(self, session, now):
        messages = self.gauge(MESSAGES, "SMS and calls by channel and status (queued, sent, delivered, "
                              "failed, …).", ["channel", "status"])
        for channel, status, count in session.execute(
                select(Message.channel, Message.status, func.count()).group_by(Message.channel, Message.status)):
            messages.add_metric([self.service, channel, status], count)
        yield messages
