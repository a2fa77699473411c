"""Identity's own dependency providers."""
from nameko.extensions import DependencyProvider

from gongwen_common.clock import utcnow


class Clock(DependencyProvider):
    """The service's clock as a dependency: every rule takes ``now`` from it, and worker tests
    give a clock they can move (challenge expiry, lockout, proxy windows)."""

    def get_dependency(self, worker_ctx):
        return utcnow
