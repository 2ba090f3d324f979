"""The figures orders make, kept as a room's bag (`FIGURES`): paid orders and GMV in
all, per minute, and per promoter or store. Refunds take them off, in the minute they
happen (a minute's figures can go negative)."""

from __future__ import annotations

from ..domain.numbers import minute_of
from ..protocol import Order
from ..store.tx import Tx
from .tables import FIGURES


def count_paid(tx: Tx, order: Order, sign: int) -> None:
    t = minute_of(tx.now)
    for name, n in (("orders", 1), ("gmv", order.amount), (f"m{t}:orders", 1), (f"m{t}:gmv", order.amount)):
        tx.add(FIGURES, name, sign * n)
    count_promoter(tx, order, sign)


def count_promoter(tx: Tx, order: Order, sign: int) -> None:
    """What the order counts for who brought it, and for their store."""
    for key in (order.guide or order.distributor, f"shop:{order.shop}" if order.shop else None):
        if key is not None:
            tx.add(FIGURES, f"p:{key}:orders", sign)
            tx.add(FIGURES, f"p:{key}:gmv", sign * order.amount)
