"""The one place that reads the wall clock, so rules can be given another clock in tests."""
from datetime import UTC, datetime, timedelta

from nameko.extensions import DependencyProvider


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(DependencyProvider):
    """The service's clock as a dependency: every rule takes ``now`` from it, and worker tests
    give a clock they can move (expiry, lockout, windows, deadlines)."""

    def get_dependency(self, worker_ctx):
        return utcnow


class MovableClock:
    """A clock that stands still until moved: deadlines, expiry and windows are tested by moving
    it (``clock.now = …`` or ``clock.advance(minutes=16)``), never by sleeping."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now
