"""Stock released in waves (放单), and the rules of claiming it.

A wave's units are always somewhere: `quantity == left + held + sold + returned`.
`left` can be claimed, `held` is claimed and waiting for payment, `sold` is paid,
`returned` went back to the product's stock (closed early, or came back after close).
Every change below moves units between those four and nothing else, so the invariant
holds by construction; the store's property tests check it under any interleaving.

A wave's state follows from its timestamps and counters (invariant 3): it is
scheduled before `starts_at`, open after, sold out while nothing is left, closed once
`closed_at` is set. No timer opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .audience import ViewerFacts, admits

Status = Literal["scheduled", "open", "sold_out", "closed"]
Outcome = Literal["claimed", "sold_out", "limit_reached", "not_open", "not_eligible", "closed"]


@dataclass(slots=True)
class Wave:
    id: str
    sku: str
    quantity: int
    starts_at: int
    price: int
    limit: int
    hold_s: int
    audience: str = "all"
    created_at: int = 0
    left: int = 0
    held: int = 0
    sold: int = 0
    returned: int = 0
    closed_at: int | None = None
    sold_out_at: int | None = None
    present: dict[str, int] | None = None  # customers of each promoter in the room when it opened

    def status(self, now: int) -> Status:
        if self.closed_at is not None:
            return "closed"
        if now < self.starts_at:
            return "scheduled"
        return "sold_out" if self.left == 0 else "open"

    def is_open(self) -> bool:
        return self.closed_at is None

    def check(self) -> None:
        assert self.quantity == self.left + self.held + self.sold + self.returned, self
        assert min(self.left, self.held, self.sold, self.returned) >= 0, self

    # --- moves ----------------------------------------------------------------------

    def hold(self, units: int, now: int) -> bool:
        """left -> held. True if this took the last units (the wave just sold out)."""
        self.left -= units
        self.held += units
        if self.left == 0 and self.sold_out_at is None:
            self.sold_out_at = now
            return True
        return False

    def release_held(self, units: int) -> bool:
        """held -> left (or returned once closed). True if units went back on sale."""
        self.held -= units
        return self._back(units)

    def sell(self, units: int) -> None:
        """held -> sold."""
        self.held -= units
        self.sold += units

    def unsell(self, units: int) -> bool:
        """sold -> left (or returned once closed): a refund. True if back on sale."""
        self.sold -= units
        return self._back(units)

    def close(self, now: int) -> int:
        """left -> returned; later releases of held or sold units go to returned too.
        Returns the units that went back to the product."""
        units, self.left = self.left, 0
        self.returned += units
        self.closed_at = now
        return units

    def _back(self, units: int) -> bool:
        if self.closed_at is None:
            self.left += units
            return True
        self.returned += units
        return False


def decide_claim(
    wave: Wave, units: int, now: int, facts: ViewerFacts, viewer_units: int, product_units: int, product_limit: int | None
) -> Outcome:
    """Whether `units` of `wave` may go to this viewer, who already holds or bought
    `viewer_units` of this wave and `product_units` of this product in the room."""
    status = wave.status(now)
    if status == "closed":
        return "closed"
    if status == "scheduled":
        return "not_open"
    if not admits(wave.audience, facts, now):
        return "not_eligible"
    if viewer_units + units > wave.limit or (product_limit is not None and product_units + units > product_limit):
        return "limit_reached"
    if wave.left < units:
        return "sold_out"
    return "claimed"
