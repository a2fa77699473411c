"""Rate limits at the gateway: token buckets per limited route group, so password guessing and
challenge flooding slow down before any account is touched (the per-account lockout in identity
is the second line). Per gateway instance, in memory.

The ``auth`` group (challenge, login, client token) keeps two buckets per request: one per
source address *and* account (the body's ``username``, or ``client_id`` for a client token),
which stops guessing at one account, and a much larger one per source address alone, which
bounds one source's total: a bureau of 300 clerks behind one NAT address still logs in at nine
o'clock. An IPv6 source counts by its /64, which one subscriber usually holds whole.

The source is the TCP peer; behind a reverse proxy set ``TRUSTED_PROXY_HOPS`` to how many
proxies append to ``X-Forwarded-For`` so the client's own address is used, never a forged one.

Config: ``AUTH_RATE_PER_MINUTE`` (30) and ``AUTH_RATE_BURST`` (10) per address and account;
``AUTH_ADDRESS_RATE_PER_MINUTE`` and ``AUTH_ADDRESS_BURST`` per address (by default 60 times
the per-account values: 1,800 a minute, bursts of 600).
"""
import ipaddress
import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from nameko.extensions import SharedExtension

from gongwen_common.errors import DomainError

ADDRESS_FACTOR = 60
# The account is read from small bodies only: a larger one is not a login and shares one bucket.
_ACCOUNT_BODY_BYTES = 4096
# Which body field names the account a route acts on; the others name it ``username``.
_ACCOUNT_FIELD = {"/api/v1/auth/token": "client_id"}


class RateLimited(DomainError):
    code, status = "RATE_LIMITED", 429

    def __init__(self, retry_after: int):
        super().__init__(message=f"Too many requests from your address; try again in {retry_after} s.")
        self.retry_after = retry_after


@dataclass
class TokenBuckets:
    """``rate`` requests per minute with bursts of up to ``burst``; ``clock`` is injectable.

    At most ``max_keys`` buckets are kept: a new key beyond that evicts the least recently used
    one, whose bucket has had the longest to refill. Clearing them all instead would hand every
    limited caller a fresh burst whenever a flood of new addresses fills the table."""

    rate: float
    burst: int
    clock: object = time.monotonic
    buckets: OrderedDict = field(default_factory=OrderedDict)
    max_keys: int = 100_000

    def take(self, key) -> int:
        """0 if a request may pass now, else the seconds until one may."""
        now = self.clock()
        tokens, then = self.buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate / 60.0)
        if key in self.buckets:
            self.buckets.move_to_end(key)
        else:
            while len(self.buckets) >= self.max_keys:
                self.buckets.popitem(last=False)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return 0
        self.buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) * 60.0 / self.rate))


def client_address(request, trusted_hops: int) -> str:
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    if trusted_hops > 0 and len(forwarded) >= trusted_hops:
        return forwarded[-trusted_hops]
    return request.remote_addr or "unknown"


def address_key(address: str) -> str:
    """The unit a source is limited by: an IPv4 address, an IPv6 address's /64 (one subscriber
    holds a whole /64, so counting single IPv6 addresses would let one caller dodge any limit)."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def account_of(request) -> str:
    """The account a login-like request is about, from its JSON body, normalised as identity
    does; "" when the body is too large, malformed or names none (all such requests share one
    bucket). Read defensively: this runs before the body is validated."""
    if not (0 < (request.content_length or 0) <= _ACCOUNT_BODY_BYTES):
        return ""
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        return ""
    value = body.get(_ACCOUNT_FIELD.get(request.path, "username")) if isinstance(body, dict) else None
    return value.strip().lower()[:200] if isinstance(value, str) else ""


@dataclass
class AuthLimits:
    """The ``auth`` group's two buckets: per (address, account) and per address."""

    per_account: TokenBuckets
    per_address: TokenBuckets

    def take(self, address: str, account: str) -> int:
        source = address_key(address)
        return self.per_account.take((source, account)) or self.per_address.take(source)


class RateLimiter(SharedExtension):
    """The gateway's buckets per route group (``auth``: challenge, login, client token)."""

    def setup(self):
        config = self.container.config

        def number(key, default):
            value = config.get(key)
            return default if value in (None, "") else float(value)

        self.trusted_hops = int(config.get("TRUSTED_PROXY_HOPS") or 0)
        rate, burst = number("AUTH_RATE_PER_MINUTE", 30), max(1, int(number("AUTH_RATE_BURST", 10)))
        self.groups = {"auth": AuthLimits(
            TokenBuckets(rate=rate, burst=burst),
            TokenBuckets(rate=number("AUTH_ADDRESS_RATE_PER_MINUTE", rate * ADDRESS_FACTOR),
                         burst=max(1, int(number("AUTH_ADDRESS_BURST", burst * ADDRESS_FACTOR)))))}

    def check(self, group: str, request) -> None:
        wait = self.groups[group].take(client_address(request, self.trusted_hops), account_of(request))
        if wait:
            raise RateLimited(wait)
