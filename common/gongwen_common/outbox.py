"""Transactional outbox: events are rows committed with the state change, then relayed.

The relay never holds a transaction while it talks to the broker (during a broker memory or
disk alarm a publish can wait for a long time, and SQLite has a single connection):

1. **claim**: the rows a worker of this process emits are claimed for this process's relay as
   they are written, in the worker's own transaction, until ``now + birth_lease``, and handed to
   the relay once that transaction commits (``Database.finish``): no transaction of its own. Every
   ``poll_interval`` a short transaction also marks up
   to ``batch_size`` unsent rows that nobody holds (emitted without a relay, or whose claim ran out:
   their relay died, or could not publish them in time) as claimed by this relay until ``now + lease``
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so relays of several instances take disjoint rows);
2. **publish** the claimed rows one after the other on a channel in confirm mode, then wait once
   (at most ``confirm_timeout``) for the broker's confirms of them all, outside any transaction;
3. **settle**: a second short transaction marks the rows the broker confirmed sent and releases
   the rest: a row nacked, or whose confirm did not arrive in time, stays unsent and is published
   again (after a missing confirm on a new connection, so a late confirm is never taken for another
   message's). Rows handed over at birth are marked sent together, once ``settle_interval`` has
   passed since the first of them was confirmed (or a batch is waiting, or the relay stops): under
   load a relay wakes for every commit, and a transaction per wake only to mark one row sent was
   a sixth of the seal's CPU (issue 15). Until then they stay claimed by this relay under their
   birth lease, so no other relay takes them.

A relay that dies or hangs after its claim leaves the rows claimed until the lease runs out (the
birth lease, at most ``BIRTH_LEASE`` seconds, for rows its process emitted); then any relay claims
them again and republishes what may already have gone out (also those confirmed but not yet marked
sent: at most ``settle_interval`` of them). Consumers are idempotent: at-least-once on the wire,
exactly-once in effect.
"""
import collections
import logging
import math
import os
import socket
import threading
import time
import uuid
from datetime import UTC, timedelta

from kombu import Connection, Exchange
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import claims, faults, metrics
from .clock import utcnow
from .logging import set_correlation_id
from .tables import OutboxEvent
from .topology import event_exchange

log = logging.getLogger(__name__)

PERSISTENT = 2
# Seconds a row emitted by this process stays claimed for its relay: long enough for the relay to
# publish it just after the commit, short enough that a crash delays it by little (then anyone claims it).
BIRTH_LEASE = 10.0
# Seconds confirmed rows of the hand-over may wait to be marked sent with the next ones: a small part
# of the birth lease, so they are settled long before another relay may claim them.
SETTLE_INTERVAL = 0.2


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


def backlog(session, now) -> tuple[int, float]:
    """(unsent rows, seconds the oldest of them has waited at ``now``; 0 when none): what readiness
    bounds and the metrics show."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.sent_at.is_(None))).one()
    if oldest is None:
        return count, 0.0
    if oldest.tzinfo is None:  # SQLite through a bare min() drops the offset: it is UTC
        oldest = oldest.replace(tzinfo=UTC)
    return count, max(0.0, round((now - oldest).total_seconds(), 3))


class OutboxRelay:
    def __init__(self, engine, service_name, amqp_uri, poll_interval=1.0, batch_size=100,
                 max_backoff=30.0, lease=30.0, confirm_timeout=5.0, clock=utcnow, relay_id=None,
                 settle_interval=SETTLE_INTERVAL, ticks=time.monotonic):
        self.engine = engine
        self.exchange: Exchange = event_exchange(service_name)
        self.amqp_uri = amqp_uri
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.lease = timedelta(seconds=lease)
        self.confirm_timeout = confirm_timeout
        self.clock = clock
        self.relay_id = relay_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._connection = None
        self._producer = None
        self._published, self._unconfirmed, self._acked = 0, set(), set()  # delivery tags on this channel
        self.birth_lease = timedelta(seconds=min(lease, BIRTH_LEASE))
        # Rows committed already claimed for this relay. Bounded: while the broker is away the oldest
        # are let go (each is in the table, claimed again by the poll once its birth lease runs out).
        self._handed = collections.deque(maxlen=10 * batch_size)
        self.settle_interval = settle_interval
        self.ticks = ticks  # monotonic seconds: when the poll and the deferred settle are due
        self._unsettled, self._unsettled_since = [], None  # confirmed hand-over rows not yet marked sent
        self._polled = -math.inf
        self._wakeup = threading.Event()
        self._stopped = False

    def claim_at_birth(self, row: OutboxEvent) -> None:
        """Mark a row being written as this relay's (the worker's transaction commits it so)."""
        row.claimed_by, row.claimed_until = self.relay_id, self.clock() + self.birth_lease

    def hand_over(self, rows: list[OutboxEvent]) -> None:
        """Rows claimed at birth whose transaction has committed: published on the next wake."""
        self._handed.extend(rows)
        self._wakeup.set()

    def stop(self):
        self._stopped = True
        self._wakeup.set()

    def run(self):
        backoff = 0.5
        try:
            while not self._stopped:
                self._wakeup.wait(self._until_next_task())
                self._wakeup.clear()
                try:
                    self.publish_pending()
                    self.settle_when_due()
                    backoff = 0.5
                except Exception as exc:  # broker or database away: keep the rows, try again later
                    log.warning("outbox relay failed, retrying in %.1fs: %s", backoff, exc)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
        finally:
            self.settle_published()
            self._disconnect()

    def settle_published(self) -> None:
        """At stop: mark sent what was published, so a restart does not publish it again. If the
        database is away their birth lease runs out and another relay republishes them (consumers
        take each event once)."""
        try:
            self.settle_when_due(force=True)
        except Exception as exc:
            log.warning("outbox relay: %d published rows not marked sent at stop: %s", len(self._unsettled), exc)

    def _until_next_task(self) -> float:
        """Seconds to sleep unless woken: until the next poll, or the deferred settle if sooner."""
        if self._unsettled_since is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, self._unsettled_since + self.settle_interval - self.ticks()))

    def publish_pending(self) -> None:
        """What one wake does: the rows handed over, then, once per ``poll_interval``, whatever
        else is unsent and unclaimed (a full batch: another one)."""
        while not self._stopped and self._handed:
            self.publish_rows([self._handed.popleft() for _ in range(min(len(self._handed), self.batch_size))],
                              self.birth_lease, defer_settle=True)
        if self.ticks() - self._polled >= self.poll_interval:
            self._polled = self.ticks()
            while not self._stopped and self.publish_batch() == self.batch_size:
                pass

    def publish_batch(self) -> int:
        """Claim, publish, wait for the confirms, settle; the number of rows claimed (a full batch: call again)."""
        rows = self.claim()
        if rows:
            self.publish_rows(rows, self.lease)
        return len(rows)

    def publish_rows(self, rows: list[OutboxEvent], lease: timedelta, defer_settle=False) -> None:
        """Publish rows claimed for this relay for ``lease``, wait for the confirms, settle (with
        ``defer_settle``, the confirmed ones later, by :meth:`settle_when_due`)."""
        faults.hit("outbox.after_claim")
        # Stop while the lease still covers the publishes and their confirms: after it, the rows
        # may be another relay's.
        published, sent, margin = {}, [], min(timedelta(seconds=3 * self.confirm_timeout), lease / 2)
        started = time.monotonic()
        try:
            for row in rows:
                if self.clock() >= row.claimed_until - margin:
                    break
                set_correlation_id(row.correlation_id)
                faults.hit("outbox.before_publish")
                published[self.publish(row)] = row
                faults.hit("outbox.after_publish")
            confirmed = self.confirmed(set(published))
            sent = [row.id for tag, row in published.items() if tag in confirmed]
            metrics.relay_published(self.exchange.name, time.monotonic() - started, len(sent))
            for tag in sorted(confirmed):
                log.info("published %s", published[tag].event_type, extra={"event_id": published[tag].event_id})
        finally:
            set_correlation_id(None)
            done = set(sent)
            if defer_settle and sent:
                self._unsettled.extend(sent)
                if self._unsettled_since is None:
                    self._unsettled_since = self.ticks()
                sent = []
            self.settle(sent, [row.id for row in rows if row.id not in done])

    def settle_when_due(self, force=False) -> None:
        """Mark the confirmed hand-over rows sent, in one transaction, once the first has waited
        ``settle_interval``, a batch is waiting, or ``force``; they stay deferred if it fails."""
        if not self._unsettled:
            return
        if force or len(self._unsettled) >= self.batch_size or \
                self.ticks() - self._unsettled_since >= self.settle_interval:
            # taken out first: rows confirmed while this transaction runs wait for the next settle
            rows, since = self._unsettled, self._unsettled_since
            self._unsettled, self._unsettled_since = [], None
            try:
                self.settle(rows, [])
            except Exception:
                self._unsettled[:0] = rows
                self._unsettled_since = since
                raise

    def claim(self) -> list[OutboxEvent]:
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return claims.claim(session, OutboxEvent, OutboxEvent.sent_at.is_(None), now=now, until=now + self.lease,
                                owner=self.relay_id, limit=self.batch_size, order_by=(OutboxEvent.id,))

    def settle(self, sent: list[int], unsent: list[int]) -> None:
        """Mark the published rows sent and give back the claim on the others (still ours)."""
        if not sent and not unsent:
            return
        with Session(self.engine) as session, session.begin():
            if sent:
                session.execute(
                    update(OutboxEvent).where(OutboxEvent.id.in_(sent))
                    .values(sent_at=self.clock(), attempts=OutboxEvent.attempts + 1,
                            claimed_by=None, claimed_until=None))
            if unsent:
                session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_(unsent), OutboxEvent.claimed_by == self.relay_id)
                    .values(claimed_by=None, claimed_until=None))

    def publish(self, row: OutboxEvent) -> int:
        """Publish one row without waiting; its delivery tag, whose confirm :meth:`confirmed` awaits.

        After any failure the connection is dropped: a late confirm must not be taken for another
        message's (tags count afresh on a new channel)."""
        try:
            if self._producer is None:
                self._connect()
            self._producer.publish(
                row.payload, exchange=self.exchange, routing_key=row.event_type, declare=[self.exchange],
                delivery_mode=PERSISTENT, message_id=row.event_id,
                headers={"nameko.correlation_id": row.correlation_id or row.event_id},
                timeout=self.confirm_timeout,
            )
        except Exception:
            self._disconnect()
            raise
        self._published += 1
        self._unconfirmed.add(self._published)
        return self._published

    def confirmed(self, tags: set[int]) -> set[int]:
        """Of these delivery tags, those the broker acked, waiting at most ``confirm_timeout`` for them
        all; the nacked and the unanswered are not (a missing answer drops the connection)."""
        deadline = time.monotonic() + self.confirm_timeout
        while tags & self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("outbox relay: %d of %d confirms did not arrive in %.1fs; those rows stay unsent",
                            len(tags & self._unconfirmed), len(tags), self.confirm_timeout)
                acked = tags & self._acked
                self._disconnect()
                return acked
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue
            except Exception:
                self._disconnect()
                raise
        acked = tags & self._acked
        self._acked -= tags
        return acked

    def _connect(self):
        """A channel in confirm mode: the broker answers every publish with an ack (or a nack) by its tag."""
        self._connection = Connection(self.amqp_uri)
        self._producer = self._connection.Producer(serializer="json")
        channel = self._producer.channel
        channel.confirm_select()
        channel.events["basic_ack"].add(lambda tag, multiple: self._answered(tag, multiple, acked=True))
        channel.events["basic_nack"].add(lambda tag, multiple: self._answered(tag, multiple, acked=False))
        self._published, self._unconfirmed, self._acked = 0, set(), set()

    def _answered(self, tag: int, multiple: bool, acked: bool) -> None:
        answered = {t for t in self._unconfirmed if t <= tag} if multiple else {tag} & self._unconfirmed
        self._unconfirmed -= answered
        if acked:
            self._acked |= answered

    def _disconnect(self):
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # already broken: nothing to give back
                log.debug("closing the relay's broker connection failed", exc_info=True)
