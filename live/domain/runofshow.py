"""The run-of-show (循环节奏): a room's plan of segments, and where the live is in it.

A plan is an ordered list of segments (warm up, explain, release, urgency, Q&A...)
with planned minutes, repeated as a cycle if asked. Where the live is follows from the
clock's state and the time, never from a timer (invariant 3): `position(plan, clock,
now)` gives the same answer in every process. The clock remembers only the segment the
controller last put the live in, when that segment started, how much it was extended,
and whether the show is paused; time does the rest. An `auto` segment hands over to
the next when its minutes are up; a `manual` one waits for the controller, and shows
how far it has overrun.

Every control (start, pause, resume, skip, extend, jump) first settles the clock at
`now` (so the segment it acts on is the one on screen), then changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Segment:
    title: str
    minutes: float
    purpose: str = "explain"
    advance: Literal["auto", "manual"] = "auto"

    @property
    def ms(self) -> int:
        return round(self.minutes * MINUTE_MS)


@dataclass(frozen=True, slots=True)
class Plan:
    segments: tuple[Segment, ...]
    repeat: bool = True


@dataclass(frozen=True, slots=True)
class Clock:
    """The state the store keeps. `index` and `cycle` name the segment the live was in
    at `started_at` (its start, already shifted by pauses); `extra_ms` is what the
    controller added to it."""

    running: bool = False
    index: int = 0
    cycle: int = 0
    started_at: int = 0
    extra_ms: int = 0
    paused_at: int | None = None


@dataclass(frozen=True, slots=True)
class Position:
    index: int
    cycle: int
    started_at: int  # when the current segment started
    ends_at: int  # when it is planned to end
    remaining_ms: int  # until then; 0 once over
    overrun_ms: int  # how far past it a manual segment (or a paused show) is
    finished: bool  # a plan without repeat ran out
    paused: bool


def position(plan: Plan, clock: Clock, now: int) -> Position | None:
    """Where the live is at `now`; None if the show was never started or has no
    segments."""
    if not plan.segments or (not clock.running and clock.paused_at is None):
        return None
    at = clock.paused_at if clock.paused_at is not None else now
    index, cycle, started, extra = clock.index % len(plan.segments), clock.cycle, clock.started_at, clock.extra_ms
    finished = False
    for _ in range(10_000):  # a plan of zero-minute auto segments still ends
        segment = plan.segments[index]
        ends = started + segment.ms + extra
        if segment.advance == "manual" or at < ends:
            break
        if index + 1 < len(plan.segments):
            index += 1
        elif plan.repeat:
            index, cycle = 0, cycle + 1
        else:
            finished = True
            break
        started, extra = ends, 0
    segment = plan.segments[index]
    ends = started + segment.ms + extra
    return Position(
        index=index,
        cycle=cycle,
        started_at=started,
        ends_at=ends,
        remaining_ms=max(0, ends - at),
        overrun_ms=max(0, at - ends),
        finished=finished,
        paused=clock.paused_at is not None,
    )


def settle(plan: Plan, clock: Clock, now: int) -> Clock:
    """The same clock, restated from the segment on screen at `now`."""
    where = position(plan, clock, now)
    if where is None:
        return clock
    extra = clock.extra_ms if (where.index, where.cycle) == (clock.index, clock.cycle) else 0
    return replace(clock, index=where.index, cycle=where.cycle, started_at=where.started_at, extra_ms=extra)


def start(plan: Plan, now: int, index: int = 0) -> Clock:
    _check_index(plan, index)
    return Clock(running=True, index=index, cycle=0, started_at=now)


def pause(plan: Plan, clock: Clock, now: int) -> Clock:
    if not clock.running or clock.paused_at is not None:
        return clock
    return replace(settle(plan, clock, now), paused_at=now)


def resume(plan: Plan, clock: Clock, now: int) -> Clock:
    if clock.paused_at is None:
        return clock
    held = now - clock.paused_at
    return replace(clock, paused_at=None, started_at=clock.started_at + held)


def extend(plan: Plan, clock: Clock, now: int, minutes: float) -> Clock:
    clock = settle(plan, clock, now)
    return replace(clock, extra_ms=max(-(plan.segments[clock.index].ms), clock.extra_ms + round(minutes * MINUTE_MS)))


def jump(plan: Plan, clock: Clock, now: int, index: int) -> Clock:
    """Go to segment `index` now (in the current cycle)."""
    _check_index(plan, index)
    clock = settle(plan, clock, now)
    started = clock.paused_at if clock.paused_at is not None else now
    return replace(clock, running=True, index=index, started_at=started, extra_ms=0)


def skip(plan: Plan, clock: Clock, now: int) -> Clock:
    """Move to the next segment now (the next cycle's first after the last)."""
    clock = settle(plan, clock, now)
    started = clock.paused_at if clock.paused_at is not None else now
    if clock.index + 1 < len(plan.segments):
        return replace(clock, index=clock.index + 1, started_at=started, extra_ms=0)
    if plan.repeat:
        return replace(clock, index=0, cycle=clock.cycle + 1, started_at=started, extra_ms=0)
    return replace(clock, running=False, paused_at=None)


def stop(clock: Clock) -> Clock:
    return Clock()


def _check_index(plan: Plan, index: int) -> None:
    if not 0 <= index < len(plan.segments):
        raise IndexError(f"the plan has no segment {index}")
