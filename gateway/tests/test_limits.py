"""Token buckets per source address, moved by a clock the test holds (no sleeping)."""
from types import SimpleNamespace

from gongwen_common.clock import MovableClock
from gongwen_gateway.limits import TokenBuckets, client_address


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
