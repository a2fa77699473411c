"""Claiming rows for work done outside the claiming transaction (the outbox relay, notify's
escalation steps): a short transaction marks up to ``limit`` rows as this worker's until
``now + lease`` and commits. ``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several instances
claim at once and take disjoint rows; a claim whose lease ran out (its holder died or hangs)
may be taken again, so the work it stands for must be safe to redo (settled under the claim)."""
from datetime import timedelta

from sqlalchemy import or_, select


def claim(session, model, *where, order_by, limit: int, by: str, lease: timedelta, now) -> list:
    """Claim rows of ``model`` (which has ``claimed_by`` and ``claimed_until``) matching ``where``
    and not held by a live claim; the caller commits."""
    rows = session.scalars(
        select(model)
        .where(*where, or_(model.claimed_until.is_(None), model.claimed_until < now))
        .order_by(order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.claimed_by, row.claimed_until = by, now + lease
    return rows
