"""The lockout counter in the database itself: parallel wrong passwords each count.

A read-modify-write of ``failed_attempts`` in Python loses updates when attempts overlap (each
reads 2, each writes 3), so an attacker holding the U_Key gets more guesses by sending them in
parallel. Every change here is one ``UPDATE`` whose predicate carries the rule; the rules
themselves (how many failures, how long a lock) are :class:`~.policies.LockoutPolicy`'s.
"""
from sqlalchemy import or_, select, update

from ..models import User
from .policies import LockoutPolicy

_NO_SYNC = {"synchronize_session": False}


def locked_until(session, user_id: str, now):
    """When the account's lock ends, or None if it is not locked at ``now``. A lock that has run
    out is lifted here, so counting starts afresh."""
    session.execute(update(User).where(User.id == user_id, User.locked_until.is_not(None),
                                       User.locked_until <= now)
                    .values(failed_attempts=0, locked_until=None).execution_options(**_NO_SYNC))
    until = session.scalar(select(User.locked_until).where(User.id == user_id))
    return until if until is not None and now < until else None


def count_failure(session, policy: LockoutPolicy, user_id: str, now) -> int:
    """One more wrong password, counted atomically; the failure that reaches the limit locks the
    account, one made during a lock does not extend it. Returns the count."""
    failures = session.execute(update(User).where(User.id == user_id)
                               .values(failed_attempts=User.failed_attempts + 1)
                               .returning(User.failed_attempts).execution_options(**_NO_SYNC)).scalar_one()
    if failures >= policy.max_failures:
        session.execute(update(User).where(User.id == user_id, or_(User.locked_until.is_(None),
                                                                   User.locked_until <= now))
                        .values(locked_until=now + policy.lock_for).execution_options(**_NO_SYNC))
    return failures


def clear(session, user_id: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(failed_attempts=0, locked_until=None)
                    .execution_options(**_NO_SYNC))
