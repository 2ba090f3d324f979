"""Pacing alerts: what in the live numbers a field controller should act on now.

Each check looks at the online count sampled over the last `window_s` seconds (or at a
release's progress) and names a situation with the numbers behind it; the caller turns
it into an alert with its one-click action, and keeps each kind quiet for a cooldown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    t: int
    online: int
    entries: int
    exits: int


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # cooling, hot, new_peak, slow_release
    data: dict


def window(samples: Sequence[Sample], now: int, window_s: int) -> list[Sample]:
    return [s for s in samples if now - s.t <= window_s * 1000]


def trend(samples: Sequence[Sample], now: int) -> tuple[int, int]:
    """Entries and exits over the last minute (from cumulative counters)."""
    recent = window(samples, now, 60)
    if len(recent) < 2:
        return 0, 0
    return recent[-1].entries - recent[0].entries, recent[-1].exits - recent[0].exits


def crowd(samples: Sequence[Sample], now: int, window_s: int, cool_pct: int, heat_pct: int, floor: int, peak_before: int) -> list[Finding]:
    """Cooling fast, heating fast, or a new peak, over the window."""
    recent = window(samples, now, window_s)
    if len(recent) < 2:
        return []
    online = recent[-1].online
    high = max(s.online for s in recent)
    low = min(s.online for s in recent)
    found = []
    if high >= floor and online <= high * (100 - cool_pct) / 100:
        found.append(Finding("cooling", {"from": high, "to": online, "pct": round(100 * (high - online) / high)}))
    if online >= floor and low > 0 and online >= low * (100 + heat_pct) / 100:
        found.append(Finding("hot", {"from": low, "to": online, "pct": round(100 * (online - low) / low)}))
    if online >= floor and peak_before >= floor and online > peak_before:
        found.append(Finding("new_peak", {"peak": online, "before": peak_before}))
    return found


@dataclass(frozen=True, slots=True)
class Progress:
    release: str
    sku: str
    quantity: int
    taken: int  # held + sold
    open_since: int


def slow_releases(progress: Iterable[Progress], now: int, slow_s: int, slow_pct: int) -> list[Finding]:
    """Releases open `slow_s` or longer that have taken under `slow_pct` % of units."""
    return [
        Finding("slow_release", {"release": p.release, "sku": p.sku, "pct": round(100 * p.taken / p.quantity), "after_s": (now - p.open_since) // 1000})
        for p in progress
        if now - p.open_since >= slow_s * 1000 and p.taken * 100 < slow_pct * p.quantity
    ]


MIN_COOLDOWN_S = 30  # whatever the rules say: an alert a second is noise, not help
# What makes an alert a new situation, by kind: the same alert again only when these
# differ (an overrunning segment's seconds grow by themselves; its minutes say more).
_SITUATION = {
    "cooling": lambda d: (d.get("from"), d.get("to")),
    "hot": lambda d: (d.get("from"), d.get("to")),
    "new_peak": lambda d: (d.get("peak"),),
    "overrun": lambda d: (d.get("segment"), d.get("overrun_s", 0) // 60),
    "slow_release": lambda d: (d.get("release"), d.get("pct")),
}


def situation(kind: str, data: dict) -> str:
    """What an alert says that matters, as a short key."""
    facts = _SITUATION.get(kind, lambda d: tuple(sorted(d.items())))(data)
    return repr(facts)


def due(kind: str, data: dict, last_at: int | None, last_situation: str | None, now: int, cooldown_s: int) -> bool:
    """Whether to raise this alert now: never within the cooldown (at least
    `MIN_COOLDOWN_S`) of the same alert, and after it only if the situation changed."""
    if last_at is None:
        return True
    if now - last_at < max(cooldown_s, MIN_COOLDOWN_S) * 1000:
        return False
    return situation(kind, data) != last_situation


_TEXT = {
    "cooling": "Room is cooling: online {from} → {to} (−{pct}%). Hold the room.",
    "hot": "Room is heating up: online {from} → {to} (+{pct}%). Release now.",
    "new_peak": "New peak: {peak} online (was {before}). Release now.",
    "overrun": "Segment “{segment}” is {overrun_s} s over.",
    "slow_release": "Release {release} ({sku}) sold {pct}% in {after_s} s. Push urgency.",
    "segment_fire": "Segment “{segment}” begins: fire its {type}?",
}


def text(kind: str, data: dict) -> str:
    """The alert in English, for logs and scripts (pages say it from `kind` and `data`
    in their own language)."""
    return _TEXT[kind].format(**data)
