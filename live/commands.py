"""Command handlers: authorize -> op -> reply, and the control log.

The websocket and the HTTP API both end here, with a decoded protocol message and the
sender's identity, so a command behaves the same whichever way it came. Events go out
through the store's subscription, not from here: the reply only says it was applied.
Every staff command, applied or refused, is appended to the room's control log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from msgspec import Struct

import msgspec

from .clock import now_ms
from .errors import BadMessage, Forbidden, LiveError, TokenExpired
from .logs import reset_context, set_room
from .metrics import Metrics
from .protocol import (
    Ack,
    AddScriptLines,
    AddToLineup,
    EndLive,
    RemoveFromLineup,
    StartLive,
    DeleteScriptLine,
    GuideCode,
    PushBanner,
    PushLine,
    SetPacing,
    SetShow,
    ShowControl,
    CancelOrder,
    Checkout,
    Claim,
    ClaimCoupon,
    CloseRelease,
    CreateCoupon,
    Hello,
    Like,
    OrderResult,
    Pay,
    Pin,
    Ping,
    PlanRelease,
    Pong,
    PushCoupon,
    SetLineup,
    SetOnSale,
)
from .ops import Actor, Ops


UNLOGGED = (Hello, Ping, Like)

log = logging.getLogger("live.commands")


@dataclass(frozen=True, slots=True)
class Sender:
    room: str
    role: str
    subject: str
    token_exp_ms: int | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.role, self.subject)


class RoomCommands:
    def __init__(self, ops: Ops, demo_pay: bool = False, metrics: Metrics | None = None) -> None:
        self.ops = ops
        self.demo_pay = demo_pay
        self.metrics = metrics or Metrics()

    async def handle(self, sender: Sender, message: Struct) -> Struct | None:
        """Apply one message; return the reply for the sender, if any."""
        room = set_room(sender.room)  # for the log lines of this command
        try:
            if sender.role == "viewer" or isinstance(message, UNLOGGED):
                return await self._apply(sender, message)
            try:
                reply = await self._apply(sender, message)
            except LiveError as exc:
                await self._log(sender, message, "refused", exc.code)
                raise
            await self._log(sender, message, "ok", None)
            return reply
        finally:
            reset_context(room)

    async def _log(self, sender: Sender, message: Struct, result: str, code: str | None) -> None:
        tag = type(message).__struct_config__.tag
        log.info("%s %s: %s", sender.role, tag, result, extra={"command": tag, "subject": sender.subject, "code": code})
        await self.ops.record(sender.room, sender.actor, tag, msgspec.to_builtins(message), result, code)

    async def _apply(self, sender: Sender, message: Struct) -> Struct | None:
        kind = type(message)
        if sender.role not in kind.roles:  # type: ignore[attr-defined]
            raise Forbidden(f"a {sender.role} may not send {kind.__struct_config__.tag!r}", path="$.type")
        if sender.token_exp_ms is not None and now_ms() >= sender.token_exp_ms:
            raise TokenExpired("your token has expired; open the page again")
        match message:
            case Hello():
                raise BadMessage("this connection already said hello", path="$.type")
            case Ping(t=t):
                return Pong(t, self.ops.clock())
            case Like(n=n):
                await self.ops.like(sender.room, n)
                return None
            case Pin(sku=sku, ref=ref):
                events = await self.ops.pin(sender.room, sku, sender.actor)
            case SetLineup(skus=skus, ref=ref):
                events = await self.ops.set_lineup(sender.room, skus, sender.actor)
            case AddToLineup(sku=sku, at=at, ref=ref):
                events = await self.ops.add_to_lineup(sender.room, sku, at, sender.actor)
            case RemoveFromLineup(sku=sku, ref=ref):
                events = await self.ops.remove_from_lineup(sender.room, sku, sender.actor)
            case StartLive(ref=ref):
                events = await self.ops.start_live(sender.room, sender.actor)
            case EndLive(ref=ref):
                events = await self.ops.end_live(sender.room, sender.actor)
            case SetOnSale(sku=sku, on_sale=on_sale, ref=ref):
                events = await self.ops.set_on_sale(sender.room, sku, on_sale, sender.actor)
            case PlanRelease(ref=ref):
                events = await self.ops.plan_release(sender.room, message, sender.actor)
            case CloseRelease(release=release, ref=ref):
                events = await self.ops.close_release(sender.room, release, sender.actor)
            case Claim(release=release, key=key, qty=qty):
                try:
                    result, _ = await self.ops.claim(sender.room, release, sender.subject, key, qty)
                except LiveError:
                    self.metrics.claim("error")
                    raise
                self.metrics.claim(result.outcome)
                return result
            case Checkout(hold=hold, ref=ref, guide_code=guide_code):
                order, _ = await self.ops.checkout(sender.room, hold, sender.subject, guide_code)
                return OrderResult(ref, order)
            case GuideCode(order=order_id, code=code, ref=ref):
                order, _ = await self.ops.apply_guide_code(sender.room, order_id, sender.subject, code)
                return OrderResult(ref, order)
            case Pay(order=order_id, ref=ref):
                if not self.demo_pay:
                    raise Forbidden("payments are confirmed by the shop's webhook here", path="$.type", code="demo_pay_off")
                order, _ = await self.ops.pay(sender.room, order_id, sender.subject)
                return OrderResult(ref, order)
            case CancelOrder(order=order_id, ref=ref):
                own = sender.subject if sender.role == "viewer" else None
                order, _ = await self.ops.cancel_order(sender.room, order_id, own)
                return OrderResult(ref, order)
            case CreateCoupon(ref=ref):
                _, events = await self.ops.create_coupon(sender.room, message, sender.actor)
            case PushCoupon(coupon=coupon, ref=ref):
                events = await self.ops.push_coupon(sender.room, coupon, sender.actor)
            case ClaimCoupon(coupon=coupon, key=key):
                try:
                    coupon_result = await self.ops.claim_coupon(sender.room, coupon, sender.subject, key)
                except LiveError:
                    self.metrics.coupon_claim("error")
                    raise
                self.metrics.coupon_claim(coupon_result.outcome)
                return coupon_result
            case AddScriptLines(lines=lines, replace=replace, ref=ref):
                events = await self.ops.add_script_lines(sender.room, lines, replace, sender.actor)
            case DeleteScriptLine(line=line, ref=ref):
                events = await self.ops.delete_script_line(sender.room, line, sender.actor)
            case SetPacing(rules=rules, ref=ref):
                events = await self.ops.set_pacing(sender.room, rules, sender.actor)
            case SetShow(segments=segments, repeat=repeat, ref=ref):
                events = await self.ops.set_show(sender.room, segments, repeat, sender.actor)
            case ShowControl(ref=ref):
                events = await self.ops.control_show(sender.room, message, sender.actor)
            case PushLine(ref=ref):
                events = await self.ops.push_line(sender.room, message, sender.actor)
            case PushBanner(text=text, seconds=seconds, ref=ref):
                events = await self.ops.push_banner(sender.room, text, seconds, sender.actor)
            case _:
                raise BadMessage(f"no handler for {kind.__name__}", path="$.type")
        return Ack(ref, events[-1].seq if events else 0)
