"""Claiming rows for work done outside the transaction (one rule for every claimer).

A short transaction selects up to ``limit`` rows that match and are unclaimed or whose claim has
run out, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so claimers of several instances take disjoint
rows, none waiting on another), stamps them ``claimed_by``/``claimed_until`` and commits; the work
then happens without a transaction, and the claimer settles what it did, giving back only claims
still its own. Used by the outbox relay and by notify's delivery and escalation steps."""
from sqlalchemy import or_, select


def claim(session, model, *where, now, until, owner, limit, order_by=()):
    """The claimed rows (``model`` has ``claimed_by`` and ``claimed_until``); the caller commits."""
    rows = session.scalars(
        select(model)
        .where(*where, or_(model.claimed_until.is_(None), model.claimed_until < now))
        .order_by(*order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.claimed_by, row.claimed_until = owner, until
    return rows
