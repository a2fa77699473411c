"""Housekeeping: bounded growth for the rows that only ever accumulate.

Every service database has the same infrastructure tables, and four kinds of their rows stop
mattering after a while (each with a setting, in days, in every service's ``config.yaml`` and in
``deploy/k8s/10-settings.yaml``):

- sent outbox rows (``OUTBOX_SENT_RETENTION_DAYS``, 7): published and confirmed; kept a week to
  read what went out. An unsent row never goes, however old: it is an event still owed.
- handled-event ids (``HANDLED_EVENT_RETENTION_DAYS``, 30): the consumer's proof that it already
  applied an event. It must outlive every way a copy of that event can still arrive: a relay that
  died between publish and settle republishes once its lease (30 s) runs out or when its database
  comes back; a message unacked when a connection drops is redelivered at reconnection; a copy
  waits in its queue while its consumer is down; a dead-lettered copy comes back when an
  operator replays it (the runbook: dead letters are looked at within days, alerts fire in
  minutes). A month is far past all of these.
- idempotency records (``IDEMPOTENCY_RETENTION_DAYS``, 7): the first answer to an
  ``Idempotency-Key``. API.md promises a repeat "returns the first result" without a window; a
  client retries for seconds to hours (a timed-out call, a broker restart, a department system
  down over a weekend), so a week. After it, a repeat of the key is a new request.
- dead letters an operator replayed (``DEAD_LETTER_REPLAYED_RETENTION_DAYS``, 30): the replay is
  done and audited by then. A dead letter never replayed never goes.

A service adds purges of its own tables (identity: expired challenges and tokens) with
:func:`purge_batches`.

Several instances run the timer at the same moment: each batch is ONE ``DELETE … WHERE key IN
(SELECT key … LIMIT n FOR UPDATE SKIP LOCKED)``. The subquery locks the rows it picks and skips
rows another instance has locked, so concurrent instances delete disjoint rows and none waits;
and a DELETE is naturally idempotent (a row already gone is not deleted or counted again), so
the counts of all instances add up to the rows that went. Each batch commits on its own: a
backlog of millions never holds one long transaction or a long lock.
"""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_

from .settings import setting
from .tables import DeadLetter, HandledEvent, IdempotencyRecord, OutboxEvent

log = logging.getLogger(__name__)

BATCH = 500
MAX_BATCHES = 200  # per table and run: the next run goes on, so one run never takes long
TICK_SECONDS = 300


@dataclass(frozen=True)
class Purge:
    """Rows of ``model`` whose ``age`` column is older than the retention."""

    name: str
    model: type
    age: object  # the column compared with ``now - retention``; NULL never matches
    setting: str
    default_days: float

    def retention(self, config) -> timedelta:
        return timedelta(days=setting(config, self.setting, float(self.default_days)))


INFRASTRUCTURE = (
    # sent_at < cutoff is never true of an unsent row (NULL): an owed event is kept for ever
    Purge("sent_outbox_events", OutboxEvent, OutboxEvent.sent_at, "OUTBOX_SENT_RETENTION_DAYS", 7),
    Purge("handled_events", HandledEvent, HandledEvent.handled_at, "HANDLED_EVENT_RETENTION_DAYS", 30),
    Purge("idempotency_records", IdempotencyRecord, IdempotencyRecord.created_at, "IDEMPOTENCY_RETENTION_DAYS", 7),
    Purge("replayed_dead_letters", DeadLetter, DeadLetter.replayed_at, "DEAD_LETTER_REPLAYED_RETENTION_DAYS", 30),
)


def delete_batch(session, model, *where, limit: int) -> int:
    """Delete up to ``limit`` rows of ``model`` matching ``where`` in one statement; how many.

    The rows are picked ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite has one writer at a time),
    so instances deleting at once take disjoint rows. The caller commits."""
    keys = list(model.__table__.primary_key.columns)
    key = keys[0] if len(keys) == 1 else tuple_(*keys)
    picked = select(*keys).where(*where).limit(limit).with_for_update(skip_locked=True)
    return session.execute(delete(model).where(key.in_(picked)).execution_options(synchronize_session=False)
                           ).rowcount


def purge_batches(session, model, *where, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Delete the matching rows batch by batch, committing after each; how many went."""
    total = 0
    for _ in range(max_batches):
        deleted = delete_batch(session, model, *where, limit=batch)
        session.commit()
        total += deleted
        if deleted < batch:
            break
    return total


def run(session, now: datetime, config, purges=INFRASTRUCTURE) -> dict:
    """Every purge once, by ``now`` (the service's clock); name -> rows deleted."""
    batch = int(config.get("HOUSEKEEPING_BATCH") or BATCH)
    counts = {}
    for purge in purges:
        cutoff = now - purge.retention(config)
        counts[purge.name] = purge_batches(session, purge.model, purge.age < cutoff, batch=batch)
    if any(counts.values()):
        log.info("housekeeping purged old rows", extra={"purged": counts})
    return counts
