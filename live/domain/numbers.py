"""The live numbers of a room, kept from viewers' sessions.

Online, peak, entries, exits, unique viewers, likes and average dwell, plus one bucket
per minute for the live chart. Average dwell counts open sessions up to `now`, so it
does not jump when someone leaves: it is (closed dwell + open dwell so far) / entries,
and open dwell is `online * now - sum(start of open sessions)`, kept in O(1).

Changes arrive in time order (`at` is the store's clock when it applies them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MINUTE_MS = 60_000


def minute_of(at_ms: int) -> int:
    return at_ms - at_ms % MINUTE_MS


@dataclass(slots=True)
class MinuteBucket:
    t: int
    online_start: int = 0
    online_max: int = 0
    online_end: int = 0
    entries: int = 0
    exits: int = 0
    likes: int = 0
    orders: int = 0
    gmv: int = 0


@dataclass(slots=True)
class LiveNumbers:
    online: int = 0
    peak: int = 0
    entries: int = 0
    exits: int = 0
    unique: int = 0
    likes: int = 0
    dwell_closed_ms: int = 0
    open_start_sum_ms: int = 0
    orders: int = 0
    gmv: int = 0
    paid_by: dict[str, int] = field(default_factory=dict)  # buyer -> paid orders standing
    minutes: dict[int, MinuteBucket] = field(default_factory=dict)
    keep_minutes: int = 61

    @property
    def buyers(self) -> int:
        return len(self.paid_by)

    def enter(self, at: int, new_viewer: bool) -> MinuteBucket:
        bucket = self._bucket(at)
        self.online += 1
        self.entries += 1
        self.unique += new_viewer
        self.peak = max(self.peak, self.online)
        self.open_start_sum_ms += at
        bucket.entries += 1
        bucket.online_end = self.online
        bucket.online_max = max(bucket.online_max, self.online)
        return bucket

    def exit(self, at: int, started_at: int, left_at: int) -> MinuteBucket:
        """A session that started at `started_at` ended at `left_at`, noticed at `at`."""
        bucket = self._bucket(at)
        self.online -= 1
        self.exits += 1
        self.open_start_sum_ms -= started_at
        self.dwell_closed_ms += max(0, left_at - started_at)
        bucket.exits += 1
        bucket.online_end = self.online
        return bucket

    def glance(self, at: int, new_viewer: bool) -> MinuteBucket:
        """A visit of no length: an entry and an exit at one instant, never online."""
        bucket = self._bucket(at)
        self.entries += 1
        self.exits += 1
        self.unique += new_viewer
        bucket.entries += 1
        bucket.exits += 1
        return bucket

    def like(self, at: int, n: int) -> MinuteBucket:
        self.likes += n
        bucket = self._bucket(at)
        bucket.likes += n
        return bucket

    def paid(self, at: int, viewer: str, amount: int) -> MinuteBucket:
        """An order was paid (counted in the minute it was paid)."""
        self.orders += 1
        self.gmv += amount
        self.paid_by[viewer] = self.paid_by.get(viewer, 0) + 1
        bucket = self._bucket(at)
        bucket.orders += 1
        bucket.gmv += amount
        return bucket

    def refunded(self, at: int, viewer: str, amount: int) -> MinuteBucket:
        """A paid order was refunded: it leaves the totals, and the minute it is refunded
        in takes it off (a minute's figures can go negative)."""
        self.orders -= 1
        self.gmv -= amount
        left = self.paid_by.get(viewer, 0) - 1
        if left > 0:
            self.paid_by[viewer] = left
        else:
            self.paid_by.pop(viewer, None)
        bucket = self._bucket(at)
        bucket.orders -= 1
        bucket.gmv -= amount
        return bucket

    def avg_dwell_s(self, now: int) -> int:
        if not self.entries:
            return 0
        open_dwell = self.online * now - self.open_start_sum_ms
        return round((self.dwell_closed_ms + open_dwell) / self.entries / 1000)

    def series(self, now: int, minutes: int = 60) -> list[MinuteBucket]:
        """The last `minutes` minutes up to `now`, oldest first. A quiet minute shows
        the online count that held through it."""
        out = []
        online = self.online
        t = minute_of(now)
        for _ in range(minutes):
            bucket = self.minutes.get(t)
            if bucket is None:
                bucket = MinuteBucket(t, online, online, online)
            else:
                online = bucket.online_start
            out.append(bucket)
            t -= MINUTE_MS
        out.reverse()
        return out

    def current_minute(self, now: int) -> MinuteBucket:
        t = minute_of(now)
        return self.minutes.get(t) or MinuteBucket(t, self.online, self.online, self.online)

    def _bucket(self, at: int) -> MinuteBucket:
        t = minute_of(at)
        bucket = self.minutes.get(t)
        if bucket is None:
            bucket = self.minutes[t] = MinuteBucket(t, self.online, self.online, self.online)
            oldest = t - self.keep_minutes * MINUTE_MS
            for old in [k for k in self.minutes if k < oldest]:
                del self.minutes[old]
        return bucket
