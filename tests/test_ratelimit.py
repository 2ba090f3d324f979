from hypothesis import given
from hypothesis import strategies as st

from live.domain.ratelimit import TokenBucket


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
