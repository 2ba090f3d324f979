"""A run-of-show segment's fire (DESIGN.md invariant 11).

A show is set by someone, and what its segments fire is authorised as them
(`live.domain.authority`): `check_show` refuses a show with a fire its setter may not
send themselves, and the pacing record keeps who set it. As a segment begins, an `ask` fire
becomes an alert whose one-click action runs as whoever clicks it; an `auto` fire is
`run` as the setter: its message decoded as a client's would be (a price of 0 never
passes), checked against the role table again, done by the op itself and written to
the control log under the setter. One that cannot happen becomes the `ask` alert,
with why, so the controller can still do it under their own name.
"""

from __future__ import annotations

import msgspec

from .. import protocol
from ..domain.authority import FIRED_AS, fire_message, may_fire
from ..errors import Forbidden
from ..protocol import PlanRelease, Segment
from ..store.base import Event
from .core import Actor

Setter = tuple[str, str]  # (role, subject) of whoever set the show, as the store keeps it


def check_show(segments: list[Segment], actor: Actor) -> None:
    """Refuse a show with a segment that fires what `actor` may not send."""
    for i, segment in enumerate(segments):
        if segment.fire is not None and not may_fire(segment.fire.kind, actor.role, protocol.SENDERS):
            kind = segment.fire.kind
            raise Forbidden(
                f"a {actor.role} may not set a segment that fires a {kind}: it may not send {FIRED_AS[kind]!r}",
                path=f"$.segments[{i}].fire", fire=kind, segment=i,
            )


def action_of(segment: Segment, pinned: str | None) -> dict | None:
    """The message a segment's fire sends (None: a release with no product to release)."""
    fire = segment.fire
    assert fire is not None
    return fire_message(fire.kind, segment.sku or pinned, fire.quantity, fire.price, fire.coupon)


def alert_data(segment: Segment, action: dict, by: Setter | None) -> dict:
    """What a `segment_fire` alert carries: the segment, who set it, and its message."""
    return {"segment": segment.title, "by": ":".join(by) if by else None, **action}


async def run(store, room_id: str, segment: Segment, action: dict, by: Setter | None) -> tuple[list[Event], dict | None]:
    """Run an `auto` fire as `by`, who set the show. Returns its events (the op's and
    its control log entry) and, when it could not happen, the data of the alert that
    offers it to the controller instead."""
    assert segment.fire is not None
    kind, actor = segment.fire.kind, Actor(*by) if by is not None else None
    events: list[Event] = []
    try:
        if actor is None or not may_fire(kind, actor.role, protocol.SENDERS):
            raise Forbidden(f"this show was not set by anyone who may send {FIRED_AS[kind]!r}", fire=kind)
        message = protocol.decode_client(msgspec.json.encode(action))
        if isinstance(message, PlanRelease):
            events = await store.plan_release(room_id, message, actor)
        else:
            events = await store.push_coupon(room_id, action["coupon"], actor)
        error = None
    except Exception as exc:  # noqa: BLE001 - a fire that cannot happen becomes an alert
        error = protocol.error_of(exc)
    if actor is not None:
        result, code = ("ok", None) if error is None else ("refused", error.code)
        events += await store.record(room_id, actor, action["type"], {"segment": segment.title, **action}, result, code)
    if error is None:
        return events, None
    return events, {**alert_data(segment, action, by), "error": error.message, "code": error.code}
