"""Coupons at checkout: how much each takes off, and which one a buyer gets.

All amounts are integer fen. A percent coupon rounds its discount down to the fen (the
shop never gives away a fraction), and no coupon takes an order below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Discount:
    kind: Literal["amount", "percent"]
    value: int  # fen off, or percent off (1..99)
    cap: int | None = None  # most fen a percent coupon takes off
    min_spend: int = 0


def discount(rule: Discount, subtotal: int) -> int:
    """Fen taken off `subtotal`; 0 if the order does not reach the minimum spend."""
    if subtotal < rule.min_spend or subtotal <= 0:
        return 0
    if rule.kind == "amount":
        off = rule.value
    else:
        off = subtotal * rule.value // 100
        if rule.cap is not None:
            off = min(off, rule.cap)
    return max(0, min(off, subtotal))


def best(candidates: list[tuple[T, Discount]], subtotal: int) -> tuple[T | None, int]:
    """The candidate that takes the most off (ties: the first), and how much."""
    chosen, most = None, 0
    for key, rule in candidates:
        off = discount(rule, subtotal)
        if off > most:
            chosen, most = key, off
    return chosen, most
