"""Idempotent mutations: a repeat with the same key and body returns the first answer.

The first call claims the key before it performs: it inserts the record (``response`` still
None) with ``ON CONFLICT DO NOTHING`` in the caller's transaction. On PostgreSQL a concurrent
call with the same key blocks on that insert until the first commits, then finds the record
and returns the stored answer; if the first rolled back, the second claims the key and
performs. The effect, the claim and the answer commit together.
"""
import hashlib
import json
from collections.abc import Callable

from sqlalchemy import update

from .clock import utcnow
from .db import insert_new
from .errors import Conflict
from .tables import IdempotencyRecord


def fingerprint(request) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def once(session, operation: str, key: str | None, request, perform: Callable[[], dict]) -> dict:
    """Run ``perform`` once per (operation, key); the record commits with its effect."""
    if not key:
        return perform()
    digest = fingerprint(request)
    if claim(session, operation, key, digest):
        response = perform()
        session.execute(update(IdempotencyRecord)
                        .where(IdempotencyRecord.operation == operation, IdempotencyRecord.key == key)
                        .values(response=response))
        return response
    record = session.get(IdempotencyRecord, (operation, key), populate_existing=True)
    if record.fingerprint != digest:
        raise Conflict("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used with a different request.")
    if record.response is None:  # claimed and committed without an answer: the first call never finished
        raise Conflict("IDEMPOTENCY_KEY_IN_USE", "A request with this Idempotency-Key has not finished.")
    return record.response


def claim(session, operation: str, key: str, digest: str) -> bool:
    """Insert the pending record; False if (operation, key) is already recorded (by a call that
    committed first: on PostgreSQL this waits for a concurrent claim to commit or roll back)."""
    return insert_new(session, IdempotencyRecord, operation=operation, key=key, fingerprint=digest,
                      response=None, created_at=utcnow())
