"""The hot primitives on Redis: claims, coupon claims and clicks, each one script.

Claims for one room made in one turn of the event loop go to Redis as one call of
`claim.lua` that carries all of them, decided and committed in arrival order, each
with its own outcome (a burst of ten thousand taps costs a few calls, not ten
thousand); clicks likewise, per turn, with `click.lua`. What each claim writes (the
hold, its index entries, its sums) is built in Python from the tables' description
(`writes.py`); what the script decides is `rules.lua`, the Lua copy of the domain's
rules, fed the same cases as the Python one by `tests/test_claim_rules.py`.
"""

from __future__ import annotations

import asyncio

from ..base import ClaimAnswer, ClaimAsk, ClickAsk, CouponAnswer, CouponAsk, Event
from ..schema import GLOBAL
from .connection import unavailable
from .writes import Call, record_writes

LOG_WINDOW = 10_000


class _Batch:
    """Asks gathered during one turn of the loop, sent together by `flush`."""

    __slots__ = ("asks", "futures")

    def __init__(self) -> None:
        self.asks: list = []
        self.futures: list[asyncio.Future] = []


def claim_call(store, room: str, asks: list[ClaimAsk]) -> Call:
    """`claim.lua`'s KEYS and ARGV for these claims of one room (the bench uses it too)."""
    k, hot = store.k, store.hot
    rk = k.room(room)
    holds = hot.holds
    call = Call(
        k.counters(room, hot.releases), rk.seq, rk.log, rk.archive, k.bag(room, hot.off_sale),
        k.unique(room, holds.index("key")), k.records(room, holds),
        k.sums(room, holds.sum("in_release")), k.sums(room, holds.sum("of_product")),
    )
    call.args += [LOG_WINDOW, len(asks)]
    for ask in asks:
        call.args += [
            ask.release, ask.sku, f"{ask.viewer}\0{ask.key}", f"{ask.viewer}\0{ask.release}", f"{ask.viewer}\0{ask.sku}",
            ask.qty, ask.now, int(ask.admitted), ask.starts_at, ask.limit, ask.product_limit or 0, ask.hold.id,
        ]
        call.writes(record_writes(k, holds, room, ask.hold.id, ask.hold, None))
        call.args += [ask.sold_out, ask.audience]
    return call


class HotPrimitives:
    _claim_batches: dict[str, _Batch]
    _clicks: _Batch | None
    _sending: set[asyncio.Task]

    def _claims_of(self, room: str) -> _Batch:
        batch = self._claim_batches.get(room)
        if batch is None:
            batch = self._claim_batches[room] = _Batch()
            asyncio.get_running_loop().call_soon(self._send_claims, room)
        return batch

    async def claim(self, room: str, ask: ClaimAsk) -> ClaimAnswer:
        batch = self._claims_of(room)
        future = asyncio.get_running_loop().create_future()
        batch.asks.append(ask)
        batch.futures.append(future)
        return await future

    def _send_claims(self, room: str) -> None:
        batch = self._claim_batches.pop(room)
        task = asyncio.get_running_loop().create_task(self._claim_batch(room, batch))
        self._sending.add(task)  # held: the loop keeps weak references only
        task.add_done_callback(self._sending.discard)

    async def _claim_batch(self, room: str, batch: _Batch) -> None:
        try:
            call = claim_call(self, room, batch.asks)
            with unavailable():
                answer = await self.lua["claim"](keys=call.keys, args=call.args)
        except BaseException as exc:  # every claim of the batch learns it
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
            return
        holds = self.hot.holds
        last = 0
        answers = []
        for i, ask in enumerate(batch.asks):
            outcome, held, left, seq, data = answer[i * 5:(i + 1) * 5]
            events = [Event(room, int(seq), ask.now, "sold_out", ask.audience, bytes(data))] if int(seq) else []
            last = max(last, int(seq))
            hold = self.decode(holds, held) if held else None
            answers.append(ClaimAnswer(outcome.decode(), hold, int(left), events))
        if last:
            await self._delivered(room, last)
        for future, result in zip(batch.futures, answers):
            if not future.done():
                future.set_result(result)

    async def claim_coupon(self, room: str, ask: CouponAsk) -> CouponAnswer:
        k, hot = self.k, self.hot
        claims = hot.coupon_claims
        call = Call(
            k.counters(room, hot.coupons), k.unique(room, claims.index("key")), k.records(room, claims),
            k.sums(room, claims.sum("per_coupon")),
        )
        call.args += [
            ask.coupon, f"{ask.viewer}\0{ask.key}", f"{ask.viewer}\0{ask.coupon}", ask.now, ask.claim_from,
            "" if ask.claim_until is None else ask.claim_until, int(ask.admitted), ask.per_viewer, ask.quantity,
            ask.claim.id,
        ]
        for op, key, field, value in record_writes(k, claims, room, ask.claim.id, ask.claim, None):
            call.args += [op, call.key(key), field, value]
        with unavailable():
            outcome, claim = await self.lua["claim_coupon"](keys=call.keys, args=call.args)
        return CouponAnswer(outcome.decode(), self.decode(claims, claim) if claim else None)

    async def click(self, ask: ClickAsk) -> bool:
        batch = self._clicks
        if batch is None:
            batch = self._clicks = _Batch()
            asyncio.get_running_loop().call_soon(self._send_clicks)
        future = asyncio.get_running_loop().create_future()
        batch.asks.append(ask)
        batch.futures.append(future)
        return await future

    def _send_clicks(self) -> None:
        batch, self._clicks = self._clicks, None
        assert batch is not None
        task = asyncio.get_running_loop().create_task(self._click_batch(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _click_batch(self, batch: _Batch) -> None:
        k, clicks = self.k, self.hot.clicks
        try:
            call = Call()
            call.args.append(len(batch.asks))
            for ask in batch.asks:
                last = k.entries(GLOBAL, clicks.index("last"), f"{ask.viewer}\0{ask.link}")
                call.args += [call.key(last), ask.click.at, ask.dedupe_ms]
                call.writes(record_writes(k, clicks, GLOBAL, ask.click.id, ask.click, None))
            with unavailable():
                counted = await self.lua["click"](keys=call.keys, args=call.args)
        except BaseException as exc:
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
            return
        for future, n in zip(batch.futures, counted):
            if not future.done():
                future.set_result(bool(n))


__all__ = ["HotPrimitives", "claim_call"]
