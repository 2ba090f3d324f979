import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.domain.ratelimit import Buckets, Counts, TokenBucket, address_key


def test_bursts_then_steady_rate():
    bucket = TokenBucket(rate=10, burst=3, now_ms=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100) is True  # 10/s refills one token every 100 ms
    assert bucket.take(150) is False


@given(st.lists(st.integers(min_value=0, max_value=500), max_size=300))
def test_never_more_than_burst_plus_rate_times_elapsed(gaps):
    bucket = TokenBucket(rate=20, burst=5, now_ms=0)
    now = taken = 0
    for gap in gaps:
        now += gap
        taken += bucket.take(now)
    assert taken <= 5 + 20 * now / 1000 + 1e-9


def test_buckets_per_key_are_independent_and_forget_the_oldest():
    buckets = Buckets(rate_per_s=0, burst=2, kept=2)
    assert [buckets.take("a", 0) for _ in range(3)] == [True, True, False]
    assert buckets.take("b", 0) and buckets.take("c", 0)  # "a" is forgotten: three keys, two kept
    assert buckets.take("a", 0)


def test_a_burst_of_zero_turns_buckets_off():
    buckets = Buckets(rate_per_s=0, burst=0)
    assert all(buckets.take("a", 0) for _ in range(1000)) and not buckets.buckets


def test_counts_hold_at_most_the_limit_per_key_and_keep_only_what_is_held():
    counts = Counts(limit=2)
    assert [counts.acquire("a") for _ in range(3)] == [True, True, False]
    assert counts.acquire("b")
    counts.release("a")
    assert counts.acquire("a") and not counts.acquire("a")
    for key in ("a", "a", "b"):
        counts.release(key)
    assert counts.held == {}
    unlimited = Counts(limit=0)
    assert all(unlimited.acquire("a") for _ in range(1000))


@pytest.mark.parametrize("host, key", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:198.51.100.4", "198.51.100.4"),  # an IPv4 client on a dual-stack socket
    ("unix:/run/live.sock", "unix:/run/live.sock"),
])
def test_address_keys(host, key):
    assert address_key(host) == key
