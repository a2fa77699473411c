"""Notify's gauges, read from its database when Prometheus scrapes (``gongwen_common.metrics``)."""
from sqlalchemy import func, select

from gongwen_common.metrics import DatabaseCollector

from .models import CHANNELS, MESSAGE_STATUSES, Message

MESSAGES = "gongwen_messages"
NAMES = frozenset({MESSAGES})


class NotifyCollector(DatabaseCollector):
    def gauges(self, session, now):
        messages = self.gauge(MESSAGES, "SMS and calls by channel and status (queued, sent, delivered, "
                              "failed, …).", ["channel", "status"])
        counts = {(channel, status): 0 for channel in CHANNELS for status in MESSAGE_STATUSES}  # 0s: plotted too
        counts.update({(channel, status): count for channel, status, count in session.execute(
            select(Message.channel, Message.status, func.count()).group_by(Message.channel, Message.status))})
        for (channel, status), count in counts.items():
            messages.add_metric([self.service, channel, status], count)
        yield messages
