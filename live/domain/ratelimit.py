"""A token bucket: `rate` messages a second on average, bursts up to `burst`."""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, now_ms: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now_ms

    def take(self, now_ms: int) -> bool:
        """Spend one token if there is one."""
        elapsed = max(0, now_ms - self.stamp)
        self.stamp = now_ms
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate / 1000)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
