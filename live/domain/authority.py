"""Authority travels with the command (DESIGN.md invariant 11).

A run-of-show segment may set something off as it begins (its fire): a release of
stock, or a coupon push. Each is a message its setter could have sent themselves,
`plan_release` or `push_coupon`, so it is authorised as exactly that message sent by
whoever set the show, against the role table the handlers check: when the show is set,
and again when it fires (the table may have changed since, and a show stored before
setters were kept has nobody to fire as). Nothing a role may not send directly can it
send through a segment. Driving the show (start, skip, jump) only moves time: what
fires then was authorised by whoever set it.

The role table comes from the protocol (`SENDERS`), passed in: this module imports
nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping

FIRED_AS = {"release": "plan_release", "coupon": "push_coupon"}  # a fire's kind -> the message it sends
RELEASE_QUANTITY = 100  # the units a release fire puts on sale when its segment names none


def fire_message(kind: str, sku: str | None, quantity: int | None, price: int | None, coupon: str | None) -> dict | None:
    """The client message a segment's fire sends: a release of `sku` (the segment's
    product, else the pinned one; None when there is none to release) or a push of
    `coupon`. What an `ask` alert offers, and what an `auto` fire runs as its setter."""
    if kind == "coupon":
        return {"type": FIRED_AS[kind], "coupon": coupon}
    if sku is None:
        return None
    message = {"type": FIRED_AS[kind], "sku": sku, "quantity": quantity or RELEASE_QUANTITY}
    if price is not None:
        message["price"] = price
    return message


def may_fire(kind: str, role: str | None, senders: Mapping[str, frozenset[str]]) -> bool:
    """Whether `role` may set, or fire, a segment fire of `kind`: whether it may send
    the message the fire sends. Nobody (None) may."""
    return role is not None and role in senders[FIRED_AS[kind]]
