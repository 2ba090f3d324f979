"""Commissions: what a payment earns, what a refund or a reassignment reverses, payouts.

The ledger is append-only (`live.domain.ledger`): a payment writes entries for who
brought the order and their parent distributor; a refund or a reassignment writes the
opposite entries, never an edit. Entries live in the room whose order earned them (they
commit with the payment); a global hint names the rooms where a person has entries.
A payout marks entries taken (`PayoutMark`, global), each at most once.
"""

from __future__ import annotations

import msgspec

from ..domain import ledger
from ..errors import Conflict
from ..protocol import LedgerEntry, Order
from ..protocol.records import Hint, Payout, PayoutMark
from ..store.base import Event
from ..store.schema import order_key
from ..store.tx import Conflicted, Tx
from .attribution import Attribution
from .figures import count_promoter
from .tables import HINTS, LEDGER, ORDERS, PAYOUT_MARKS, PAYOUTS, PRODUCTS, ROOMS


class Ledger(Attribution):
    async def on_paid(self, tx: Tx, order: Order, now: int) -> None:
        """Payment earns the commission of who brought the order; the hint lets the
        buyer's later orders find this one (it binds them: `live.domain.attribution`)."""
        if order.viewer:
            room = await self.room_of(tx, tx.room)
            tx.note(HINTS, Hint("paid", f"{room.brand}\0{order.viewer}", tx.room))
        await self.earn(tx, order, order.paid_at or now, "payment")

    async def on_refunded(self, tx: Tx, order: Order) -> None:
        await self.reverse(tx, order, "refund", None)

    async def earn(
        self, tx: Tx, order: Order, paid_at: int, reason: str, note: str | None = None, confirm_at: int | None = None,
    ) -> None:
        """The order's commission entries, confirmed at `confirm_at`, by default its
        payment plus the brand's after-sales window as it stands now: fixed from here on."""
        owner = order.guide or order.distributor
        if owner is None or order.amount <= 0:
            return
        room = await self.room_of(tx, tx.room)
        brand = await self.brand_of(tx, room.brand)
        if confirm_at is None:
            confirm_at = ledger.confirm_at(paid_at, brand.after_sales_days)
        product = await tx.get(PRODUCTS, order.sku)
        beneficiaries = [owner] + ([order.parent] if order.parent else [])
        rates = [ledger.Rate(rate.scope, rate.level, rate.bp) for rate in brand.rates]
        for who, level, fen in ledger.split(order.amount, order.sku, product.role if product else "regular", rates, beneficiaries):
            found = await self.person_of(tx, who)
            kind = found[0] if found else "distributor"
            shop = order.shop if kind == "guide" else None
            self._entry(tx, LedgerEntry(
                await tx.new_id("e"), order.id, tx.room, who, kind, level, fen, paid_at, tx.now, reason, note=note, shop=shop,
                confirm_at=confirm_at,
            ))

    async def reverse(self, tx: Tx, order: Order, reason: str, note: str | None) -> None:
        """Entries that bring each of the order's (who, level) balances to zero."""
        owed: dict[tuple[str, str, int, str | None], tuple[int, int, int | None]] = {}
        for entry in await tx.find(LEDGER.index("order"), order.id):
            key = (entry.who, entry.who_kind, entry.level, entry.shop)
            total, paid_at, confirm_at = owed.get(key, (0, entry.paid_at, entry.confirm_at))
            owed[key] = (total + entry.amount, paid_at, confirm_at)
        for (who, kind, level, shop), (total, paid_at, confirm_at) in owed.items():
            if total:  # confirmed when what it reverses is: the two always in the same state
                self._entry(tx, LedgerEntry(
                    await tx.new_id("e"), order.id, tx.room, who, kind, level, -total, paid_at, tx.now, reason,
                    note=note, shop=shop, confirm_at=confirm_at,
                ))

    @staticmethod
    def _entry(tx: Tx, entry: LedgerEntry) -> None:
        tx.note(HINTS, Hint("ledger", entry.who, tx.room))
        tx.insert(LEDGER, entry)

    async def ledger(self, who: str | None = None, room: str | None = None) -> list[tuple[LedgerEntry, str]]:
        """Entries, oldest first, with their state now (frozen, confirmed, paid)."""
        tx = await self.store.begin(None)
        if room is not None:
            rooms = [room]
        elif who is not None:
            rooms = sorted({h.room for h in await tx.find(HINTS.index("about"), f"ledger\0{who}")})
        else:
            rooms = [r.id for r in await self.list_rooms()]
        now = self.clock()
        out: list[tuple[LedgerEntry, str]] = []
        for room_id in rooms:
            record = await tx.get(ROOMS, room_id)
            if record is None:
                continue
            window = (await self.brand_of(tx, record.brand)).after_sales_days
            entries = [e for e in await tx.all(LEDGER, room=room_id) if who is None or e.who == who]
            marks = await tx.get_many(PAYOUT_MARKS, [e.id for e in entries])
            paid = {m.entry: m.payout for m in marks}
            for entry in entries:
                entry = msgspec.structs.replace(entry, payout=paid.get(entry.id))
                out.append((entry, ledger.state(confirms(entry, window), entry.payout, now)))
        out.sort(key=lambda pair: order_key(pair[0].id))
        return out

    async def pay_out(self, who: str) -> tuple[str | None, int]:
        """Mark a person's confirmed entries paid if they add up to more than zero:
        (payout id, fen), or (None, 0). Each entry is taken once, whoever else pays out."""

        async def decide(tx: Tx) -> tuple[str | None, int]:
            confirmed = [e for e, state in await self.ledger(who) if state == "confirmed"]
            total = ledger.payable((e.amount, "confirmed") for e in confirmed)
            if total <= 0:
                return None, 0
            for entry in confirmed:
                if await tx.get(PAYOUT_MARKS, entry.id) is not None:
                    raise Conflicted("an entry was paid out meanwhile")  # read again
            payout = await tx.new_id("p")
            for entry in confirmed:
                tx.insert(PAYOUT_MARKS, PayoutMark(entry.id, payout))
            tx.insert(PAYOUTS, Payout(payout, who, total, tx.now))
            return payout, total

        result, _ = await self.run(None, decide)
        return result

    async def reassign(self, room_id: str, order_id: str, to: str, reason: str) -> tuple[Order, list[Event]]:
        """Give an order to another guide or distributor, with the reason, while its
        commission is not confirmed (`Conflict` after): entries reversed and rewritten."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Order:
            order = await self.order_of(tx, order_id, None)
            kind, person = await self.promoter(tx, to, "$.to")
            room = await self.room_of(tx, room_id)
            window = (await self.brand_of(tx, room.brand)).after_sales_days
            # Confirmed follows from the order's payment time, even for an order that has no
            # entries yet (nobody brought it, or its rate was zero): moving it after the
            # after-sales window would write commission that is confirmed at once.
            entries = await tx.find(LEDGER.index("order"), order.id)
            marks = {m.entry: m.payout for m in await tx.get_many(PAYOUT_MARKS, [e.id for e in entries])}
            confirm_at = min((confirms(e, window) for e in entries), default=None)
            if confirm_at is None and order.paid_at is not None:
                confirm_at = ledger.confirm_at(order.paid_at, window)
            late = confirm_at is not None and ledger.state(confirm_at, None, tx.now) != "frozen"
            if late or any(ledger.state(confirms(e, window), marks.get(e.id), tx.now) != "frozen" for e in entries):
                raise Conflict("the commission of this order is already confirmed; it can no longer move", path="$.order",
                               reason="commission_confirmed", order=order_id)
            note = f"reassigned from {order.guide or order.distributor or 'nobody'} to {to}: {reason}"
            await self.reverse(tx, order, "reassign", note)
            if order.status == "paid":
                count_promoter(tx, order, -1)
            order = msgspec.structs.replace(
                order,
                guide=person.id if kind == "guide" else None, shop=person.shop if kind == "guide" else None,
                distributor=person.id if kind == "distributor" else None,
                parent=person.parent if kind == "distributor" else None,
            )
            if order.status == "paid":
                count_promoter(tx, order, +1)
                await self.earn(tx, order, order.paid_at or tx.now, "reassign", note, confirm_at)
            tx.put(ORDERS, order)
            self.order_event(tx, order)
            return order

        return await self.run(room_id, decide)


def confirms(entry: LedgerEntry, window_days: float) -> int:
    """When an entry is confirmed: as fixed when it was earned, or, for an entry from
    before entries carried it, its payment plus the brand's window as it is now."""
    return entry.confirm_at if entry.confirm_at is not None else ledger.confirm_at(entry.paid_at, window_days)
