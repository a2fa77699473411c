"""Token buckets per source address (and account), moved by a clock the test holds (no sleeping)."""
import json
from types import SimpleNamespace

from gongwen_common.clock import MovableClock
from gongwen_gateway.limits import AuthLimits, TokenBuckets, account_of, address_key, client_address


class Ticks(MovableClock):
    """A monotonic clock in seconds that stands still until moved."""

    def advance(self, seconds):
        self.now += seconds


def test_a_burst_passes_then_one_request_per_interval_and_addresses_are_separate():
    clock = Ticks(0.0)
    buckets = TokenBuckets(rate=30, burst=3, clock=clock)  # one request per 2 s after a burst of 3
    assert [buckets.take("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("10.0.0.1") == 2  # the Retry-After, in seconds
    assert buckets.take("10.0.0.2") == 0  # another address has its own bucket
    clock.advance(2)
    assert buckets.take("10.0.0.1") == 0
    assert buckets.take("10.0.0.1") >= 1
    clock.advance(60)
    assert [buckets.take("10.0.0.1") for _ in range(3)] == [0, 0, 0]  # refilled, never above the burst
    assert buckets.take("10.0.0.1") > 0


def test_the_client_address_comes_from_forwarded_for_only_through_trusted_proxies():
    request = SimpleNamespace(remote_addr="127.0.0.1", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7"})
    assert client_address(request, 0) == "127.0.0.1"  # no proxy configured: a client could forge the header
    assert client_address(request, 1) == "203.0.113.7"  # what our one proxy saw, not what the client claimed
    assert client_address(SimpleNamespace(remote_addr=None, headers={}), 1) == "unknown"


def auth_limits(clock, rate=30, burst=3, address_rate=600, address_burst=20, max_keys=100_000):
    return AuthLimits(TokenBuckets(rate=rate, burst=burst, clock=clock, max_keys=max_keys),
                      TokenBuckets(rate=address_rate, burst=address_burst, clock=clock, max_keys=max_keys))


def test_logins_are_limited_per_address_and_username_so_clerks_behind_one_nat_all_log_in():
    """Issue 9 item 6: 300 clerks behind one address log in (challenge + login each) within a
    minute, while guessing at one account from that address is still slowed down."""
    clock = Ticks(0.0)
    limits = auth_limits(clock, rate=30, burst=10, address_rate=1800, address_burst=600)
    refused = 0
    for clerk in range(300):
        for _ in ("challenge", "login"):
            refused += limits.take("203.0.113.7", f"clerk-{clerk}") > 0
        clock.advance(0.1)  # all 300 within 30 s
    assert refused == 0
    guesses = [limits.take("203.0.113.7", "clerk-1") for _ in range(20)]
    assert guesses[:10] == [0] * 10 and all(wait > 0 for wait in guesses[10:])  # its burst, then slowed


def test_one_address_is_still_bounded_across_usernames():
    clock = Ticks(0.0)
    limits = auth_limits(clock, address_burst=20)
    answers = [limits.take("198.51.100.9", f"user-{n}") for n in range(25)]
    assert answers[:20] == [0] * 20 and all(wait > 0 for wait in answers[20:])
    assert limits.take("198.51.100.10", "user-1") == 0  # another address


def test_ipv6_sources_are_limited_by_their_64_prefix():
    clock = Ticks(0.0)
    limits = auth_limits(clock, burst=3)
    # One subscriber's /64: new addresses each time do not bring new buckets.
    answers = [limits.take(f"2001:db8:1:2::{n:x}", "alice") for n in range(1, 6)]
    assert answers[:3] == [0, 0, 0] and all(wait > 0 for wait in answers[3:])
    assert limits.take("2001:db8:1:3::1", "alice") == 0  # the neighbouring /64 is someone else
    assert address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1" and address_key("unknown") == "unknown"


def test_a_full_table_evicts_the_oldest_buckets_not_everyones():
    clock = Ticks(0.0)
    buckets = TokenBuckets(rate=30, burst=2, clock=clock, max_keys=3)
    assert [buckets.take("attacker") for _ in range(3)][2] > 0  # spent
    for n in range(2):  # fill the table with other sources (not older than the attacker's)
        buckets.take(f"10.0.0.{n}")
    assert buckets.take("attacker") > 0  # still limited: touching it made it the newest
    buckets.take("10.0.0.9")  # a fourth key evicts the least recently used one, 10.0.0.0
    assert list(buckets.buckets) == ["10.0.0.1", "attacker", "10.0.0.9"]
    assert buckets.take("attacker") > 0  # its bucket was not reset


def test_the_account_is_read_safely_from_the_body():
    def request(body, path="/api/v1/auth/login"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return SimpleNamespace(path=path, content_length=len(raw), get_data=lambda cache=True: raw)

    assert account_of(request({"username": "  Zhang.San "})) == "zhang.san"
    assert account_of(request({"client_id": "C-1", "username": "x"}, "/api/v1/auth/token")) == "c-1"
    assert account_of(request({"username": "a", "client_id": "C-1"})) == "a"
    assert account_of(request(b"[" * 3000 + b"]" * 3000)) == ""  # nested: no RecursionError
    assert account_of(request(b"\xff{not json")) == ""
    assert account_of(request({"username": ["a"]})) == ""
    assert account_of(request({"username": "a" * 5000})) == ""  # larger than a login body
    assert account_of(SimpleNamespace(path="/api/v1/auth/login", content_length=None,
                                      get_data=lambda cache=True: b"")) == ""
