"""Coupons pushed into the room (直播间领券): who may claim one, and when a claimed one
is valid.

A campaign is claimable from `claim_from` until `claim_until`, by the viewers of its
audience, `per_viewer` each, `quantity` in all. The claim is a hot primitive of the
store (many viewers tap at once), so this decision is also
`live/store/redis/lua/claim_coupon.lua`'s; `tests/test_claim_rule.py` feeds both the
same cases.
"""

from __future__ import annotations

from typing import Literal

Outcome = Literal["claimed", "not_open", "ended", "not_eligible", "limit_reached", "gone"]
DEFAULT_VALID_S = 86_400


def decide_claim(
    *, now: int, claim_from: int, claim_until: int | None, admitted: bool, mine: int, per_viewer: int, claimed: int,
    quantity: int,
) -> Outcome:
    """Whether a viewer who claimed `mine` of this campaign may claim one more, with
    `claimed` of `quantity` gone."""
    if now < claim_from:
        return "not_open"
    if claim_until is not None and now >= claim_until:
        return "ended"
    if not admitted:
        return "not_eligible"
    if mine >= per_viewer:
        return "limit_reached"
    if claimed >= quantity:
        return "gone"
    return "claimed"


def valid_until(now: int, until: int | None, valid_s: int | None) -> int:
    """When a coupon claimed at `now` stops being valid."""
    return until if until is not None else now + (valid_s or 0) * 1000
