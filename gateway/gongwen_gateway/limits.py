"""Rate limits at the gateway: each source address gets a token bucket per limited route group,
so password guessing and challenge flooding slow down before any account is touched (the
per-account lockout in identity is the second line). Per gateway instance, in memory.

The source is the TCP peer; behind a reverse proxy set ``TRUSTED_PROXY_HOPS`` to how many
proxies append to ``X-Forwarded-For`` so the client's own address is used, never a forged one.
"""
import math
import time
from dataclasses import dataclass, field

from nameko.extensions import SharedExtension

from gongwen_common.errors import DomainError


class RateLimited(DomainError):
    code, status = "RATE_LIMITED", 429

    def __init__(self, retry_after: int):
        super().__init__(message=f"Too many requests from your address; try again in {retry_after} s.")
        self.retry_after = retry_after


@dataclass
class TokenBuckets:
    """``rate`` requests per minute with bursts of up to ``burst``; ``clock`` is injectable."""

    rate: float
    burst: int
    clock: object = time.monotonic
    buckets: dict = field(default_factory=dict)
    max_keys: int = 100_000

    def take(self, key) -> int:
        """0 if a request may pass now, else the seconds until one may."""
        now = self.clock()
        tokens, then = self.buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate / 60.0)
        if tokens >= 1.0:
            if len(self.buckets) >= self.max_keys and key not in self.buckets:
                self.buckets.clear()  # a flood of distinct addresses: forget rather than grow without bound
            self.buckets[key] = (tokens - 1.0, now)
            return 0
        self.buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) * 60.0 / self.rate))


def client_address(request, trusted_hops: int) -> str:
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    if trusted_hops > 0 and len(forwarded) >= trusted_hops:
        return forwarded[-trusted_hops]
    return request.remote_addr or "unknown"


class RateLimiter(SharedExtension):
    """The gateway's buckets per route group (``auth``: challenge, login, client token)."""

    def setup(self):
        config = self.container.config
        self.trusted_hops = int(config.get("TRUSTED_PROXY_HOPS") or 0)
        rate = float(config.get("AUTH_RATE_PER_MINUTE") or 30)
        self.groups = {"auth": TokenBuckets(rate=rate, burst=max(1, int(config.get("AUTH_RATE_BURST") or 10)))}

    def check(self, group: str, request) -> None:
        wait = self.groups[group].take(client_address(request, self.trusted_hops))
        if wait:
            raise RateLimited(wait)
