"""Idempotent mutations: a repeat with the same key and body returns the first answer."""
import hashlib
import json
from collections.abc import Callable

from .clock import utcnow
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
    record = session.get(IdempotencyRecord, (operation, key))
    if record is not None:
        if record.fingerprint != digest:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used with a different request.")
        return record.response
    response = perform()
    session.add(IdempotencyRecord(operation=operation, key=key, fingerprint=digest,
                                  response=response, created_at=utcnow()))
    return response
