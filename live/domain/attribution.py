"""Who brought an order: the binding rules of a brand, applied to a viewer's touches.

A touch is a signal that someone brought the viewer: a guide code typed at checkout, a
click on a tracked link, a binding (专属客户: the viewer bought through that person
before, and is theirs for a while), or the store that relays the live. When signals
conflict, the kind decides first (checkout code > tracked link in this live > bound
guide > store default); among clicks, the model does (last click by default, or first),
within the click window. An active binding protects its owner: later clicks of other
people do not take the customer. Options: count clicks only for viewers who had never
paid before (new viewers only), and leave out people's own purchases (self-referral).

`decide` explains itself: the receipt names the winning touch, every other touch with
why it lost, and the rule that decided, so a brand can show a guide why an order went
where it went. The rule simulator is `decide` run on touches a person typed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["checkout_code", "link", "binding", "store_default"]
PRECEDENCE: tuple[Kind, ...] = ("checkout_code", "link", "binding", "store_default")
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Rules:
    model: Literal["last_click", "first_click"] = "last_click"
    click_window_days: float = 7
    protect_days: float = 15
    new_viewers_only: bool = False
    exclude_self: bool = False


@dataclass(frozen=True, slots=True)
class Touch:
    kind: Kind
    owner: str  # guide or distributor id; for store_default, the shop id
    at: int
    room: str | None = None  # the live a link was for
    ref: str | None = None  # click id, binding's order, ...


@dataclass(frozen=True, slots=True)
class Judged:
    touch: Touch
    verdict: str  # "won", or why it lost


@dataclass(frozen=True, slots=True)
class Receipt:
    winner: Touch | None
    rule: str
    touches: tuple[Judged, ...] = field(default_factory=tuple)


def decide(
    touches: list[Touch],
    rules: Rules,
    now: int,
    room: str,
    self_owners: frozenset[str] = frozenset(),
    paid_before: int | None = None,
) -> Receipt:
    """The touch an order made at `now` in `room` belongs to, and why.

    `self_owners` are the people the buyer is (a guide buying for themselves);
    `paid_before` is when the buyer first paid an order, if ever (for new-viewers-only).
    """
    touches = list(dict.fromkeys(touches))  # the same signal twice is one touch
    judged: dict[Touch, str] = {}
    binding = _active_binding(touches, rules, now)
    eligible: list[Touch] = []
    for touch in sorted(touches, key=lambda t: (t.at, PRECEDENCE.index(t.kind))):
        reason = _excluded(touch, rules, now, room, binding, self_owners, paid_before)
        if reason:
            judged[touch] = reason
        else:
            eligible.append(touch)
    winner, rule = None, "no touch counts: the order is nobody's"
    for kind in PRECEDENCE:
        of_kind = [t for t in eligible if t.kind == kind]
        if not of_kind:
            continue
        if kind == "link":
            winner = of_kind[-1] if rules.model == "last_click" else of_kind[0]
            rule = f"tracked link in this live, {rules.model.replace('_', ' ')} within {rules.click_window_days:g} days"
        else:
            winner = of_kind[-1]
            rule = {
                "checkout_code": "guide code entered at checkout comes first",
                "binding": f"bound customer (bought through them within {rules.protect_days:g} days)",
                "store_default": "no guide: the store that relays the live",
            }[kind]
        break
    for touch in eligible:
        if touch is winner:
            judged[touch] = "won"
        elif winner is not None and touch.kind == winner.kind:
            judged[touch] = f"lost to a {'later' if rules.model == 'last_click' else 'earlier'} {touch.kind.replace('_', ' ')}"
        else:
            judged[touch] = f"lost to a {winner.kind.replace('_', ' ')} (it comes first)" if winner else "lost"
    ordered = tuple(Judged(t, judged[t]) for t in sorted(touches, key=lambda t: t.at))
    return Receipt(winner, rule, ordered)


def _active_binding(touches: list[Touch], rules: Rules, now: int) -> Touch | None:
    bindings = [t for t in touches if t.kind == "binding" and now - t.at <= rules.protect_days * DAY_MS]
    return max(bindings, key=lambda t: t.at) if bindings else None


def _excluded(
    touch: Touch, rules: Rules, now: int, room: str, binding: Touch | None,
    self_owners: frozenset[str], paid_before: int | None,
) -> str | None:
    if touch.at > now:
        return "after the order"
    if rules.exclude_self and touch.owner in self_owners:
        return "the buyer's own (self-referral is excluded)"
    if touch.kind == "binding":
        return None if touch is binding else f"binding older than {rules.protect_days:g} days"
    if touch.kind != "link":
        return None
    if touch.room is not None and touch.room != room:
        return "a link to another live"
    if now - touch.at > rules.click_window_days * DAY_MS:
        return f"clicked more than {rules.click_window_days:g} days before"
    if rules.new_viewers_only and paid_before is not None and paid_before < touch.at:
        return "the viewer had bought before (new viewers only)"
    if binding is not None and touch.owner != binding.owner and touch.at > binding.at:
        return f"the customer is protected for {binding.owner} (专属客户)"
    return None
