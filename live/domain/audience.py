"""Who a release, a coupon or an event is for.

An audience is a short string, so it fits a log entry, a Redis field and a Lua script
alike: `all`, `staff`, `viewer:<id>` (one viewer's private news), `guide:<id>` and
`shop:<id>` (viewers who came through that guide's or shop's links), `dwell:<seconds>`
(viewers in the room at least that long), `new` (viewers who never paid an order).
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = "all"
STAFF = "staff"


@dataclass(frozen=True, slots=True)
class ViewerFacts:
    """What the rules may ask about a viewer, as of `now`."""

    viewer: str
    guide: str | None = None
    shop: str | None = None
    present_since: int | None = None
    paid_before: bool = False


def admits(audience: str, facts: ViewerFacts, now: int) -> bool:
    """True if a viewer with these facts belongs to the audience. Staff-only audiences
    admit no viewer."""
    if audience == ALL:
        return True
    kind, _, arg = audience.partition(":")
    if kind == "viewer":
        return arg == facts.viewer
    if kind == "guide":
        return facts.guide == arg
    if kind == "shop":
        return facts.shop == arg
    if kind == "dwell":
        return facts.present_since is not None and now - facts.present_since >= int(arg) * 1000
    if kind == "new":
        return not facts.paid_before
    return False


def private_to(viewer: str) -> str:
    return f"viewer:{viewer}"
