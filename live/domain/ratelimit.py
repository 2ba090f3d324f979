"""Rate limits: a token bucket, buckets per key (a client address, a token subject),
open counts per key, and the key of a client address."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict

KEYS_KEPT = 10_000


class TokenBucket:
    """`rate` messages a second on average, bursts up to `burst`."""

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


class Buckets:
    """A token bucket per key, for the `kept` keys used last.

    A key not seen for a while is forgotten; it then starts again with a full bucket,
    which is what it would have refilled to anyway unless more than `kept` other keys
    were busy meanwhile. A `burst` of 0 turns the limit off (everything is allowed)."""

    def __init__(self, rate_per_s: float, burst: int, kept: int = KEYS_KEPT) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.kept = kept
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now_ms: int) -> bool:
        if self.burst <= 0:
            return True
        bucket = self.buckets.pop(key, None) or TokenBucket(self.rate, self.burst, now_ms)
        self.buckets[key] = bucket
        if len(self.buckets) > self.kept:
            self.buckets.popitem(last=False)
        return bucket.take(now_ms)


class Counts:
    """How many of something (open sockets) each key holds now, at most `limit`; 0
    turns the limit off. Only keys holding something are kept, so the map is as large
    as what is open."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        """One more for `key`, unless it holds `limit` already."""
        held = self.held.get(key, 0)
        if 0 < self.limit <= held:
            return False
        self.held[key] = held + 1
        return True

    def release(self, key: str) -> None:
        held = self.held.get(key, 0) - 1
        if held > 0:
            self.held[key] = held
        else:
            self.held.pop(key, None)


def address_key(host: str) -> str:
    """The key a client address is limited by: an IPv4 address as it is, an IPv6
    address by its /64 (one subscriber's network: a phone on a mobile network gets a
    /64 of its own, and whoever holds one can pick any of its 2^64 addresses).
    Anything else (a unix socket's name) as it is."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d from a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
