"""The one place that reads the wall clock, so rules can be given another clock in tests."""
from datetime import UTC, datetime

from nameko.extensions import DependencyProvider


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(DependencyProvider):
    """The service's clock as a dependency: every rule takes ``now`` from it, and worker tests
    give a clock they can move (expiry, lockout, windows, deadlines)."""

    def get_dependency(self, worker_ctx):
        return utcnow
