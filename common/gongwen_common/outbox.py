"""Transactional outbox: events are rows committed with the state change, then relayed.

The relay publishes each row to the service's nameko event exchange with publisher
confirms and only then marks it sent. A crash between the two republishes the row, which
idempotent consumers absorb: at-least-once on the wire, exactly-once in effect. Rows are
claimed with ``FOR UPDATE SKIP LOCKED`` so several instances of a service relay in parallel
without publishing the same row at once.
"""
import logging
import threading
import time
import uuid

from kombu import Exchange
from nameko.amqp.publish import Publisher
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import faults
from .clock import utcnow
from .logging import set_correlation_id
from .tables import OutboxEvent
from .topology import event_exchange

log = logging.getLogger(__name__)

PERSISTENT = 2


def new_event(event_type, data, correlation_id, now, source=None) -> OutboxEvent:
    event_id = str(uuid.uuid4())
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": now.isoformat(),
        "correlation_id": correlation_id,
        "data": data,
    }
    return OutboxEvent(
        event_id=event_id, event_type=event_type, payload=envelope,
        correlation_id=correlation_id, created_at=now, attempts=0,
    )


class OutboxRelay:
    def __init__(self, engine, service_name, amqp_uri, poll_interval=1.0, batch_size=100,
                 max_backoff=30.0):
        self.engine = engine
        self.exchange: Exchange = event_exchange(service_name)
        self.publisher = Publisher(
            amqp_uri, use_confirms=True, serializer="json", delivery_mode=PERSISTENT,
            declare=[self.exchange], retry=True, retry_policy={"max_retries": 1},
        )
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self._wakeup = threading.Event()
        self._stopped = False

    def wake(self):
        self._wakeup.set()

    def stop(self):
        self._stopped = True
        self._wakeup.set()

    def run(self):
        backoff = 0.5
        while not self._stopped:
            self._wakeup.wait(self.poll_interval)
            self._wakeup.clear()
            try:
                while not self._stopped and self.publish_batch() == self.batch_size:
                    pass
                backoff = 0.5
            except Exception as exc:  # broker or database away: keep the rows, try again later
                log.warning("outbox relay failed, retrying in %.1fs: %s", backoff, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def publish_batch(self) -> int:
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.sent_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                set_correlation_id(row.correlation_id)
                faults.hit("outbox.before_publish")
                self.publisher.publish(
                    row.payload, exchange=self.exchange, routing_key=row.event_type,
                    message_id=row.event_id,
                    extra_headers={"nameko.correlation_id": row.correlation_id or row.event_id},
                )
                faults.hit("outbox.after_publish")
                row.sent_at = utcnow()
                row.attempts += 1
                log.info("published %s", row.event_type, extra={"event_id": row.event_id})
            set_correlation_id(None)
            return len(rows)
