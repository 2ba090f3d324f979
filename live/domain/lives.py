"""A live's life and how one is set up: pure rules, no I/O, the clock given.

A live is an event, not a room that lives forever (DOMAIN.md): it is planned for a
time (`scheduled`), started by staff or by the run-of-show's start (`live`), and
ended by staff (`ended`, for good). Its status follows from its times alone:

    scheduled --start--> live --end--> ended

A room made before lives had a life (`live put_room`, the demo of an older release)
has no times recorded: it counts as live since it was created, as it always behaved.

What ending settles, decided once here (README, "A live's life"):

- every wave not closed closes: its unclaimed units go back to the product's stock;
- a buyer holding units keeps their time to pay (a hold is a promise); what is not
  paid in time goes back to the product's stock, since its wave is closed;
- coupons can no longer be claimed; coupons already claimed stay valid until they
  expire (the buyer may still use them in the shop);
- the run-of-show stops, and nothing that sells can be done any more (`live_ended`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import BadMessage, Conflict, ProductNotFound

Status = Literal["scheduled", "live", "ended"]
ROOM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # as `live.protocol.ROOM_ID`: URLs, Redis keys, file names
SCHEDULE_PAST_MS = 24 * 3_600_000  # a live may be entered a day late (set up after it began)
SCHEDULE_AHEAD_MS = 366 * 86_400_000  # and planned up to a year ahead
SEARCH_RESULTS = 20

# What cannot be done once a live has ended: everything that sells or speaks to viewers.
SELLING = frozenset({"pin", "plan_release", "create_coupon", "push_coupon", "push_banner", "start_show", "start_live"})


@dataclass(frozen=True, slots=True)
class Times:
    """When a live was planned for, started and ended (epoch ms; None: not yet)."""

    scheduled_at: int | None = None
    started_at: int | None = None
    ended_at: int | None = None


def status(times: Times) -> Status:
    if times.ended_at is not None:
        return "ended"
    return "live" if times.started_at is not None else "scheduled"


def check_id(room_id: str, path: str = "$.id") -> str:
    """A new live's id: 1-64 lowercase letters, digits and dashes, as in its URLs."""
    if not ROOM_ID.match(room_id):
        raise BadMessage("a live's id is 1-64 lowercase letters, digits and dashes, starting with a letter or digit",
                         path=path, code="bad_room_id", room=room_id[:80])
    return room_id


def check_schedule(at: int | None, now: int, path: str = "$.scheduled_at") -> int | None:
    """A planned start: not more than a day in the past, not more than a year ahead."""
    if at is None:
        return None
    if at < now - SCHEDULE_PAST_MS:
        raise BadMessage("the scheduled start is more than a day in the past", path=path, code="bad_time", at=at,
                         reason="past")
    if at > now + SCHEDULE_AHEAD_MS:
        raise BadMessage("the scheduled start is more than a year ahead", path=path, code="bad_time", at=at,
                         reason="too_far")
    return at


def check_lineup(skus: list[str], known: set[str], path: str = "$.lineup") -> list[str]:
    """A lineup given as skus: each in the catalog, none twice."""
    seen: set[str] = set()
    for i, sku in enumerate(skus):
        if sku not in known:
            raise ProductNotFound(f"no product with sku {sku!r}", path=f"{path}[{i}]", sku=sku)
        if sku in seen:
            raise BadMessage(f"sku {sku!r} appears twice", path=f"{path}[{i}]", sku=sku)
        seen.add(sku)
    return list(skus)


def start(times: Times, now: int, room: str) -> Times:
    """Start a scheduled live now (`live_ended` if it ended; a live one stays as it is)."""
    if times.ended_at is not None:
        raise ended(room)
    return times if times.started_at is not None else Times(times.scheduled_at, now, None)


def end(times: Times, now: int, room: str) -> Times:
    """End a live now: a live never started ends having started now (a zero-length live)."""
    if times.ended_at is not None:
        raise Conflict(f"live {room!r} has already ended", code="live_ended", room=room)
    return Times(times.scheduled_at, times.started_at if times.started_at is not None else now, now)


def check_open(times: Times, action: str, room: str) -> None:
    """Refuse what sells (`SELLING`) once the live has ended."""
    if action in SELLING and times.ended_at is not None:
        raise ended(room, action)


def ended(room: str, action: str | None = None) -> Conflict:
    return Conflict(f"live {room!r} has ended" + (f": no {action} any more" if action else ""), code="live_ended",
                    room=room, action=action)


def lineup_with(lineup: list[str], sku: str, at: int | None = None) -> list[str]:
    """The lineup with `sku` added at position `at` (the end by default); already in it, unchanged."""
    if sku in lineup:
        return list(lineup)
    out = list(lineup)
    out.insert(len(out) if at is None else max(0, min(at, len(out))), sku)
    return out


def lineup_without(lineup: list[str], sku: str, open_waves: int, room: str) -> list[str]:
    """The lineup without `sku`; refused while a wave of it is scheduled or open
    (close it first: its buyers would lose the product under their thumb)."""
    if sku not in lineup:
        raise ProductNotFound(f"{sku!r} is not in the lineup", path="$.sku", sku=sku, where="lineup")
    if open_waves:
        raise Conflict(f"{sku!r} has {open_waves} wave(s) not closed: close them first", path="$.sku",
                       code="product_has_waves", sku=sku, waves=open_waves)
    return [s for s in lineup if s != sku]


def matches(query: str, sku: str, title: str) -> bool:
    """A catalog search: every word of the query in the sku or the title, any case."""
    haystack = f"{sku} {title}".casefold()
    return all(word in haystack for word in query.casefold().split())
