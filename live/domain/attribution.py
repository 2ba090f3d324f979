"""Who brought an order: a brand's binding rules applied to a viewer's history.

The history is what the viewer did with the brand, in time: their counted clicks on
tracked links, their paid orders (with who each went to) and refunds. `decide` turns
it into the order's receipt. The product calls it on the history the store keeps
(`live.ops.attribution`); the rule simulator on the history it builds by replaying a
timeline typed in (`replay`), deciding each order in turn with the same `decide`; so
for the same timeline both give the same verdict and the same receipt.

The rules (`docs/attribution.md` states each one with an example):

- The touches of an order: a guide code typed at checkout, the clicks, each paid
  order brought by a guide or distributor (a binding, 专属客户), and the store that
  relays the live. The kind decides first: checkout code > tracked link in this live
  > binding > store; among clicks, the model (last or first) within the click window.
- Protection: a paid order brought by someone protects the customer for them from its
  payment for `protect_days`. A later paid order brought by the same person renews it
  (the period starts again at that payment); one brought by someone else (through a
  checkout code) moves it to them; one that went to nobody or to a store changes
  nothing. Another person's click counts neither while the customer is protected for
  someone else nor if it was made while they were: it is judged at its own time and at
  the order's, whatever was bought in between.
- A refunded order is as if it had never been paid, from its refund on: it protects
  nobody and does not make the viewer a repeat buyer.
- New viewers only: links count only if the viewer had paid no order of the brand
  (not refunded) before this order.
- Exclude self: the touches of people the buyer is (their own browser) count for nothing.
- A click counts once per viewer per link per sliding hour (`counts_click`); the stores
  apply it when the click happens, the simulator when it replays one.

A receipt names the winning touch, every other touch with why it lost, and the rule
that decided; each reason is a code with parameters (`Why`), which pages show in their
language, and an English text for everyone else.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import BadMessage

Kind = Literal["checkout_code", "link", "binding", "store_default"]
PRECEDENCE: tuple[Kind, ...] = ("checkout_code", "link", "binding", "store_default")
SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS = 1000, 60_000, 3_600_000, 86_400_000
CLICK_DEDUPE_MS = HOUR_MS  # a viewer's clicks on one link count once per this long


@dataclass(frozen=True, slots=True)
class Rules:
    model: Literal["last_click", "first_click"] = "last_click"
    click_window_days: float = 7
    protect_days: float = 15
    new_viewers_only: bool = False
    exclude_self: bool = False

    @property
    def window_ms(self) -> int:
        return round(self.click_window_days * DAY_MS)

    @property
    def protect_ms(self) -> int:
        return round(self.protect_days * DAY_MS)


# --- a viewer's history -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Click:
    """A counted click on a tracked link of `owner` for the live `room`."""

    owner: str
    at: int
    room: str
    ref: str | None = None  # the click's id


@dataclass(frozen=True, slots=True)
class Paid:
    """An order paid at `at` in the live `room`, brought by `owner` (None: nobody, or a store)."""

    order: str
    at: int
    room: str
    owner: str | None


@dataclass(frozen=True, slots=True)
class Refunded:
    order: str
    at: int


Past = Click | Paid | Refunded


def counts_click(last_counted: int | None, at: int, window_ms: int = CLICK_DEDUPE_MS) -> bool:
    """Whether a click at `at` counts, the same viewer's last counted click on the same
    link being at `last_counted`: a sliding hour from that click, not a clock hour
    (clicks at 10:00, 10:30 and 11:05 count at 10:00 and 11:05). Redis runs its copy,
    `counts_click` in `live/store/redis/lua/rules.lua`, inside the script that counts."""
    return last_counted is None or at - last_counted >= window_ms


# --- receipts -----------------------------------------------------------------------------


RULE_TEXTS = {
    "checkout_code": "guide code entered at checkout comes first",
    "last_click": "tracked link in this live, last click within {window_ms}",
    "first_click": "tracked link in this live, first click within {window_ms}",
    "binding": "bound customer (bought through them within the last {protect_ms})",
    "store_default": "no guide: the store that relays the live",
    "nobody": "no touch counts: the order is nobody's",
}
VERDICT_TEXTS = {
    "won": "won",
    "after_order": "after the order",
    "self_referral": "the buyer's own (self-referral is excluded)",
    "other_live": "a link to another live",
    "too_old": "clicked more than {window_ms} before the order",
    "protected_at_click": "clicked while the customer was protected for {owner} (专属客户)",
    "protected": "the customer is protected for {owner} (专属客户)",
    "not_new": "the viewer had bought from the brand before (new viewers only)",
    "refunded": "its order was refunded: it protects nobody",
    "renewed": "renewed by a later purchase through them",
    "moved": "moved to {owner} by a later purchase",
    "expired": "protection over: paid more than {protect_ms} before",
    "lost_to_later": "lost to a later link",
    "lost_to_earlier": "lost to an earlier link",
    "lost_to_kind": "lost to a {kind} (it comes first)",
}
TEXTS = RULE_TEXTS | VERDICT_TEXTS
assert len(TEXTS) == len(RULE_TEXTS) + len(VERDICT_TEXTS), "a code is a rule's or a verdict's, not both"
UNITS = (("day", DAY_MS), ("hour", HOUR_MS), ("minute", MINUTE_MS), ("second", SECOND_MS))


def span(ms: int) -> str:
    """A duration in the largest unit it fills at least once: "7 days", "1 hour",
    "5.5 seconds" (pages do the same in their own language)."""
    unit, size = next(((unit, size) for unit, size in UNITS if abs(ms) >= size), UNITS[-1])
    amount = round(ms / size, 2)
    return f"{amount:g} {unit}{'' if amount == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Why:
    """A rule or a verdict: its code, its parameters (`*_ms` are durations), its text."""

    code: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        shown = {
            name: span(int(value)) if name.endswith("_ms") else str(value).replace("_", " ") if name == "kind" else value
            for name, value in self.params.items()
        }
        return TEXTS[self.code].format(**shown)


def _why(code: str, **params: str | int) -> Why:
    return Why(code, params)


@dataclass(frozen=True, slots=True)
class Touch:
    kind: Kind
    owner: str  # guide or distributor id; for store_default, the shop id
    at: int
    room: str | None = None  # the live a link was for, or a binding's order was paid in
    ref: str | None = None  # a click's id, a binding's order


@dataclass(frozen=True, slots=True)
class Judged:
    touch: Touch
    why: Why

    @property
    def verdict(self) -> str:
        return self.why.text


@dataclass(frozen=True, slots=True)
class Receipt:
    winner: Touch | None
    rule: Why
    touches: tuple[Judged, ...] = ()


# --- the decision -------------------------------------------------------------------------


class _Protection:
    """Who the customer is protected for at any time, from the paid orders that stand."""

    def __init__(self, purchases: list[Paid], protect_ms: int) -> None:
        self.purchases = purchases  # oldest first, each brought by someone
        self.protect_ms = protect_ms

    def at(self, t: int) -> Paid | None:
        """The purchase whose protection covers `t`: the latest brought by someone up to
        `t`, if `t` is within `protect_ms` of its payment."""
        latest = None
        for purchase in self.purchases:
            if purchase.at > t:
                break
            latest = purchase
        return latest if latest is not None and t - latest.at <= self.protect_ms else None

    def after(self, order: str) -> Paid | None:
        """The purchase that came next after `order` (renewing or moving its protection
        if it came within it)."""
        ids = [p.order for p in self.purchases]
        i = ids.index(order) if order in ids else len(ids)
        return self.purchases[i + 1] if i + 1 < len(ids) else None


def decide(
    history: Sequence[Past],
    rules: Rules,
    now: int,
    room: str,
    code: str | None = None,
    shop: str | None = None,
    selves: Collection[str] = frozenset(),
) -> Receipt:
    """The receipt of an order placed at `now` in the live `room`: `code` is whose guide
    code the buyer typed at checkout, `shop` the store that relays the live, `selves`
    the people the buyer is (a guide buying for themselves)."""
    refunded = {r.order for r in history if isinstance(r, Refunded) and r.at <= now}
    standing = sorted((p for p in history if isinstance(p, Paid) and p.at <= now and p.order not in refunded), key=lambda p: p.at)
    self_excluded = frozenset(selves) if rules.exclude_self else frozenset()
    protection = _Protection([p for p in standing if p.owner is not None and p.owner not in self_excluded], rules.protect_ms)
    current = protection.at(now)

    def excluded(touch: Touch) -> Why | None:
        if touch.at > now:
            return _why("after_order")
        if touch.owner in self_excluded:
            return _why("self_referral")
        if touch.kind == "binding":
            if touch.ref in refunded:
                return _why("refunded")
            if current is not None and touch.ref == current.order:
                return None
            after = protection.after(touch.ref or "")  # what came next, if it came before the protection lapsed
            if after is None or after.at - touch.at > rules.protect_ms:
                return _why("expired", protect_ms=rules.protect_ms)
            return _why("renewed") if after.owner == touch.owner else _why("moved", owner=after.owner or "")
        if touch.kind != "link":
            return None
        if touch.room != room:
            return _why("other_live")
        if now - touch.at > rules.window_ms:
            return _why("too_old", window_ms=rules.window_ms)
        then = protection.at(touch.at)
        if then is not None and then.owner != touch.owner:
            return _why("protected_at_click", owner=then.owner or "")
        if current is not None and current.owner != touch.owner:
            return _why("protected", owner=current.owner or "")
        if rules.new_viewers_only and standing:
            return _why("not_new")
        return None

    touches = _touches(history, now, code, shop, now - rules.window_ms - rules.protect_ms)
    judged: dict[Touch, Why] = {}
    eligible: list[Touch] = []
    for touch in sorted(touches, key=lambda t: (t.at, PRECEDENCE.index(t.kind))):
        why = excluded(touch)
        if why is None:
            eligible.append(touch)
        else:
            judged[touch] = why
    winner, rule = _winner(eligible, rules)
    for touch in eligible:
        assert winner is not None  # something counts, so something won
        if touch is winner:
            judged[touch] = _why("won")
        elif touch.kind == winner.kind:
            judged[touch] = _why("lost_to_later" if rules.model == "last_click" else "lost_to_earlier")
        else:
            judged[touch] = _why("lost_to_kind", kind=winner.kind)
    return Receipt(winner, rule, tuple(Judged(t, judged[t]) for t in sorted(touches, key=lambda t: t.at)))


def _touches(history: Sequence[Past], now: int, code: str | None, shop: str | None, since: int) -> list[Touch]:
    """The order's touches. Clicks and bindings from before `since` are left out: older
    than the click window and the protection together, they cannot change the order (a
    binding protects clicks inside its period only), and a loyal customer's receipts
    stay short."""
    touches: list[Touch] = [Touch("checkout_code", code, now)] if code is not None else []
    for past in history:
        if isinstance(past, Click) and past.at >= since:
            touches.append(Touch("link", past.owner, past.at, past.room, past.ref))
        elif isinstance(past, Paid) and past.owner is not None and past.at >= since:
            touches.append(Touch("binding", past.owner, past.at, past.room, past.order))
    if shop is not None:
        touches.append(Touch("store_default", shop, now))
    return list(dict.fromkeys(touches))  # the same signal twice is one touch


def _winner(eligible: list[Touch], rules: Rules) -> tuple[Touch | None, Why]:
    for kind in PRECEDENCE:
        of_kind = [t for t in eligible if t.kind == kind]
        if not of_kind:
            continue
        if kind == "link":
            return (of_kind[-1] if rules.model == "last_click" else of_kind[0]), _why(rules.model, window_ms=rules.window_ms)
        if kind == "binding":
            return of_kind[-1], _why("binding", protect_ms=rules.protect_ms)
        return of_kind[-1], _why(kind)
    return None, _why("nobody")


# --- the simulator's timeline -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a viewer did, typed into the simulator."""

    kind: Literal["click", "order", "refund"]
    at: int
    room: str  # click: the live the link is for; order: the live it is placed in
    owner: str | None = None  # click: whose link
    sku: str | None = None  # click: a product link (another link than the live's)
    code: str | None = None  # order: whose guide code was typed at checkout
    order: str | None = None  # order: its id (every order has one); refund: the order refunded


@dataclass(frozen=True, slots=True)
class Replayed:
    orders: list[tuple[Step, Receipt]]  # each order with its receipt, in time order
    uncounted: list[int]  # the positions of clicks that did not count (the same link within the hour)


def replay(
    steps: Sequence[Step], rules: Rules, shops: Mapping[str, str | None] | None = None, selves: Collection[str] = frozenset(),
    path: str = "$.timeline",
) -> Replayed:
    """Play a timeline as the product would live it: each click counted or not, each
    order decided on what came before it and paid at once (the next orders see who it
    went to), each refund taking its order back. Steps at the same time keep their order.
    `shops` are the stores that relay the lives; a refund of an order not placed before
    it, or refunded already, is a `BadMessage` at its `path`."""
    history: list[Past] = []
    last_counted: dict[tuple[str | None, str, str | None], int] = {}
    orders: list[tuple[Step, Receipt]] = []
    uncounted: list[int] = []
    placed: set[str] = set()
    for i, step in sorted(enumerate(steps), key=lambda pair: pair[1].at):
        if step.kind == "click":
            link = (step.owner, step.room, step.sku)
            if not counts_click(last_counted.get(link), step.at):
                uncounted.append(i)
                continue
            last_counted[link] = step.at
            history.append(Click(step.owner or "", step.at, step.room, f"c{i}"))
        elif step.kind == "order":
            order = step.order
            assert order is not None, "every order of a timeline has an id"
            receipt = decide(history, rules, step.at, step.room, step.code, (shops or {}).get(step.room), selves)
            orders.append((step, receipt))
            placed.add(order)
            winner = receipt.winner
            history.append(Paid(order, step.at, step.room, winner.owner if winner and winner.kind != "store_default" else None))
        else:
            if step.order not in placed:
                raise BadMessage(f"order {step.order!r} is not placed before this refund, or is refunded already",
                                 path=f"{path}[{i}].order")
            placed.discard(step.order)
            history.append(Refunded(step.order, step.at))
    return Replayed(orders, uncounted)
