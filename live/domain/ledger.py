"""Commissions: how much an order earns whom, and the state of each ledger entry.

Rates are basis points of the amount paid (500 = 5 %), per level (1: the guide or distributor who
brought the order; 2: that distributor's parent), set for the brand, a product role or a
product: the most specific rate wins. Amounts are integer fen, rounded down.

The ledger is append-only. A payment writes an entry per beneficiary; a refund writes
the opposite (negative) entries; a reassignment writes both. Nothing is ever edited, so
the sum of an order's entries is always what it owes now (zero once refunded), and a
balance may go below zero (a refund after the payout) to be settled by later earnings.

An entry's state follows from time (invariant 3): `frozen` until its confirm time,
`confirmed` after it, `paid` once a payout took it. The confirm time is fixed when the
entry is earned, from the rules then in force (DESIGN.md invariant 12): its order's
payment plus the brand's after-sales window as it stood then. A later change of the
window applies to later orders only: it neither confirms a frozen entry early (to be
paid out before the buyer could return the goods) nor freezes a confirmed one again.
Entries written before entries carried their confirm time follow the brand's window
as it is now (the only rule there is to read them by). A payout takes a
beneficiary's confirmed entries only if they add up to more than zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

State = Literal["frozen", "confirmed", "paid"]
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Rate:
    scope: str  # "brand", "role:<role>" or "sku:<sku>"
    level: Literal[1, 2]
    bp: int  # basis points: 500 is 5 %


def rate_for(rates: Iterable[Rate], level: int, sku: str, role: str) -> int:
    """The basis points that apply at `level` to a product: sku beats role beats brand."""
    best: tuple[int, int] | None = None
    for rate in rates:
        if rate.level != level:
            continue
        rank = 0 if rate.scope == f"sku:{sku}" else 1 if rate.scope == f"role:{role}" else 2 if rate.scope == "brand" else None
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, rate.bp)
    return best[1] if best else 0


def commission(amount: int, bp: int) -> int:
    """Fen earned on `amount` fen at `bp` basis points, rounded down; never below zero."""
    return max(0, amount * bp // 10_000)


def split(amount: int, sku: str, role: str, rates: Iterable[Rate], beneficiaries: list[str]) -> list[tuple[str, int, int]]:
    """(beneficiary, level, fen) for each level with a beneficiary and a non-zero share:
    `beneficiaries[0]` is level 1, `beneficiaries[1]` (a parent distributor) level 2."""
    rates = list(rates)
    out = []
    for level, who in enumerate(beneficiaries[:2], start=1):
        fen = commission(amount, rate_for(rates, level, sku, role))
        if fen:
            out.append((who, level, fen))
    return out


def confirm_at(paid_at: int, window_days: float) -> int:
    """When commission earned on a payment at `paid_at` is confirmed, under an
    after-sales window of `window_days`."""
    return paid_at + round(window_days * DAY_MS)


def state(confirms_at: int, payout: str | None, now: int) -> State:
    if payout is not None:
        return "paid"
    return "frozen" if now < confirms_at else "confirmed"


def payable(entries: Iterable[tuple[int, State]]) -> int:
    """What a payout would pay: the confirmed, unpaid entries' sum, if above zero."""
    total = sum(amount for amount, st in entries if st == "confirmed")
    return total if total > 0 else 0
