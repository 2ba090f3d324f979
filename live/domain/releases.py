"""Stock released in waves (放单), and the rules of claiming it.

A wave's units are always somewhere: `quantity == left + held + sold + returned`.
`left` can be claimed, `held` is claimed and waiting for payment, `sold` is paid,
`returned` went back to the product's stock (closed early, or came back after close).
Every op moves units between those four and nothing else, so the invariant holds by
construction; the store's property tests check it under any interleaving.

A wave's state follows from its timestamps and counters (invariant 3): it is
scheduled before `starts_at`, open after, sold out while nothing is left, closed once
`closed_at` is set. No timer opens it.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["scheduled", "open", "sold_out", "closed"]
Outcome = Literal["claimed", "sold_out", "limit_reached", "not_open", "not_eligible", "closed"]


def status(release, now: int) -> Status:
    """Where a release (`live.protocol.Release`) stands at `now`, from its timestamps
    and counters alone."""
    if release.closed_at is not None:
        return "closed"
    if now < release.starts_at:
        return "scheduled"
    return "sold_out" if release.left == 0 else "open"


def check(release) -> None:
    assert release.quantity == release.left + release.held + release.sold + release.returned, release
    assert min(release.left, release.held, release.sold, release.returned) >= 0, release


def decide_claim(
    *, closed: bool, starts_at: int, left: int, now: int, admitted: bool, qty: int, limit: int, in_release: int,
    product_limit: int | None, of_product: int,
) -> Outcome:
    """Whether `qty` units of a release may go to a viewer who holds or bought
    `in_release` units of it and `of_product` of its product in the room. The order
    of the checks is the answer's: a closed release says so before anything else.

    This rule is also `live/store/redis/lua/claim.lua`'s, which must run it inside
    Redis; `tests/test_claim_rule.py` feeds both the same cases."""
    if closed:
        return "closed"
    if now < starts_at:
        return "not_open"
    if not admitted:
        return "not_eligible"
    if in_release + qty > limit or (product_limit is not None and of_product + qty > product_limit):
        return "limit_reached"
    if left < qty:
        return "sold_out"
    return "claimed"
