"""Popularity tiers (人气): cold, warm or hot, from the online count, without flicker.

Teams feed the host a different line when the room is cold, warm or hot. The
thresholds are either fixed counts or fractions of the room's own recent peak (a room
of 300 at its best is hot at 250, one of 30,000 is not). A tier changes only after the
count has stayed on the other side of a boundary for `hold_s` seconds, so a count
wobbling around a boundary never flips the prompts back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Tier = Literal["cold", "warm", "hot"]
ORDER: tuple[Tier, ...] = ("cold", "warm", "hot")


@dataclass(frozen=True, slots=True)
class TierRules:
    mode: Literal["fixed", "relative"] = "fixed"
    warm: float = 50  # fixed: viewers online; relative: fraction of the recent peak
    hot: float = 200
    hold_s: int = 20
    floor: int = 10  # relative mode: below this many online the room is cold, whatever its peak

    def check(self) -> None:
        if not 0 < self.warm < self.hot:
            raise ValueError("warm must be above 0 and below hot")
        if self.mode == "relative" and self.hot > 1:
            raise ValueError("relative thresholds are fractions of the peak, at most 1")
        if self.hold_s < 0:
            raise ValueError("hold_s cannot be negative")

    def target(self, online: int, peak: int) -> Tier:
        """The tier the count points to right now, before any holding."""
        if self.mode == "relative":
            if online < self.floor or peak <= 0:
                return "cold"
            share = online / peak
        else:
            share = online
        if share >= self.hot:
            return "hot"
        if share >= self.warm:
            return "warm"
        return "cold"


@dataclass(frozen=True, slots=True)
class TierState:
    tier: Tier = "cold"
    since: int = 0  # when the room entered `tier`
    pending: Tier | None = None  # the tier the count has pointed to since `pending_since`
    pending_since: int = 0


def step(rules: TierRules, state: TierState, online: int, peak: int, now: int) -> TierState:
    """The state after seeing `online` at `now`. The tier moves once the count has
    pointed to another tier, the same one, for `hold_s` without interruption."""
    target = rules.target(online, peak)
    if target == state.tier:
        return state if state.pending is None else replace(state, pending=None, pending_since=0)
    if target != state.pending:
        state = replace(state, pending=target, pending_since=now)
    if now - state.pending_since >= rules.hold_s * 1000:
        return TierState(tier=target, since=now)
    return state
