"""The run-of-show clock: any process computes the same position from the same state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.domain import runofshow as ros
from live.domain.runofshow import Plan, Segment

M = 60_000
PLAN = Plan(
    (Segment("Warm up", 2, "welcome"), Segment("Explain", 5, "explain"), Segment("Release", 1, "urgency"), Segment("Q&A", 2, "qa")),
    repeat=True,
)


def at(clock, now, plan=PLAN):
    where = ros.position(plan, clock, now)
    return (where.index, where.cycle, where.remaining_ms) if where else None


def test_not_started_is_nowhere():
    assert ros.position(PLAN, ros.Clock(), 0) is None


def test_segments_follow_from_the_start_time_and_repeat():
    clock = ros.start(PLAN, now=0)
    assert at(clock, 0) == (0, 0, 2 * M)
    assert at(clock, 2 * M) == (1, 0, 5 * M)
    assert at(clock, 7 * M + 30_000) == (2, 0, 30_000)
    assert at(clock, 10 * M) == (0, 1, 2 * M)  # the cycle repeats


def test_without_repeat_the_show_ends_on_its_last_segment():
    plan = Plan(PLAN.segments, repeat=False)
    where = ros.position(plan, ros.start(plan, 0), 12 * M)
    assert (where.index, where.finished, where.overrun_ms) == (3, True, 2 * M)


def test_pause_freezes_and_resume_shifts():
    clock = ros.start(PLAN, 0)
    paused = ros.pause(PLAN, clock, M)
    assert at(paused, 5 * M) == (0, 0, M)
    resumed = ros.resume(PLAN, paused, 5 * M)
    assert at(resumed, 5 * M) == (0, 0, M)
    assert at(resumed, 6 * M) == (1, 0, 5 * M)


def test_extend_skip_and_jump():
    clock = ros.start(PLAN, 0)
    longer = ros.extend(PLAN, clock, M, minutes=3)
    assert at(longer, M) == (0, 0, 4 * M)
    assert at(longer, 5 * M) == (1, 0, 5 * M)  # the next segment starts later
    skipped = ros.skip(PLAN, longer, 90_000)
    assert at(skipped, 90_000) == (1, 0, 5 * M)
    jumped = ros.jump(PLAN, skipped, 2 * M, index=3)
    assert at(jumped, 2 * M) == (3, 0, 2 * M)
    assert at(ros.skip(PLAN, jumped, 3 * M), 3 * M) == (0, 1, 2 * M)
    with pytest.raises(IndexError):
        ros.jump(PLAN, clock, 0, index=9)


def test_a_manual_segment_waits_and_shows_its_overrun():
    plan = Plan((Segment("Hold", 1, "hold", advance="manual"), Segment("Release", 1, "urgency")), repeat=False)
    clock = ros.start(plan, 0)
    where = ros.position(plan, clock, 3 * M)
    assert (where.index, where.remaining_ms, where.overrun_ms) == (0, 0, 2 * M)
    assert at(ros.skip(plan, clock, 3 * M), 3 * M, plan) == (1, 0, M)


def test_settling_changes_nothing_about_the_position():
    clock = ros.extend(PLAN, ros.start(PLAN, 0), 30_000, minutes=1)
    for now in (0, M, 3 * M, 9 * M, 40 * M):
        assert ros.position(PLAN, ros.settle(PLAN, clock, now), now) == ros.position(PLAN, clock, now)


controls = st.lists(
    st.tuples(st.sampled_from(["pause", "resume", "skip", "extend", "jump", "wait"]), st.integers(0, 6 * M), st.integers(-2, 4)),
    max_size=25,
)


@given(controls)
def test_any_sequence_of_controls_gives_a_sane_position_every_process_agrees_on(script):
    """Whatever the controller does, the position is inside the plan, its times add
    up, and settling the state (what another process reads) does not move it."""
    clock = ros.start(PLAN, 0)
    now = 0
    for action, gap, arg in script:
        now += gap
        if action == "pause":
            clock = ros.pause(PLAN, clock, now)
        elif action == "resume":
            clock = ros.resume(PLAN, clock, now)
        elif action == "skip":
            clock = ros.skip(PLAN, clock, now)
        elif action == "extend":
            clock = ros.extend(PLAN, clock, now, minutes=arg)
        elif action == "jump":
            clock = ros.jump(PLAN, clock, now, index=abs(arg) % len(PLAN.segments))
        where = ros.position(PLAN, clock, now)
        assert where is not None and 0 <= where.index < len(PLAN.segments)
        assert where.started_at <= where.ends_at
        assert where.remaining_ms >= 0 and where.overrun_ms >= 0
        assert where.paused == (clock.paused_at is not None)
        assert ros.position(PLAN, ros.settle(PLAN, clock, now), now) == where
        if not where.paused:
            assert where.started_at <= now <= where.ends_at or where.overrun_ms > 0
