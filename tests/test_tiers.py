"""Popularity tiers: thresholds, and hysteresis that keeps prompts from flickering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.domain.tiers import TierRules, TierState, step

FIXED = TierRules(mode="fixed", warm=50, hot=200, hold_s=20)


def run(rules: TierRules, counts: list[tuple[int, int]], peak: int = 0, state: TierState | None = None) -> list[str]:
    """Tiers after each (seconds, online) sample."""
    state = state or TierState()
    tiers = []
    for second, online in counts:
        state = step(rules, state, online, max(peak, online), second * 1000)
        tiers.append(state.tier)
    return tiers


def test_a_tier_changes_only_after_the_count_held_for_hold_s():
    tiers = run(FIXED, [(0, 60), (10, 60), (19, 60), (20, 60), (21, 60)])
    assert tiers == ["cold", "cold", "cold", "warm", "warm"]


def test_a_dip_resets_the_wait():
    tiers = run(FIXED, [(0, 60), (15, 40), (16, 60), (35, 60), (36, 60)])
    assert tiers == ["cold", "cold", "cold", "cold", "warm"]


def test_straight_from_cold_to_hot_and_back():
    tiers = run(FIXED, [(0, 500), (20, 500), (30, 10), (49, 10), (50, 10)])
    assert tiers == ["cold", "hot", "hot", "hot", "cold"]


def test_relative_thresholds_follow_the_rooms_own_peak():
    rules = TierRules(mode="relative", warm=0.4, hot=0.8, hold_s=0, floor=10)
    assert run(rules, [(0, 90)], peak=100) == ["hot"]
    assert run(rules, [(0, 50)], peak=100) == ["warm"]
    assert run(rules, [(0, 50)], peak=1000) == ["cold"]
    assert run(rules, [(0, 9)], peak=9) == ["cold"]  # below the floor


@pytest.mark.parametrize("bad", [dict(warm=200, hot=50), dict(warm=0, hot=5), dict(mode="relative", warm=0.5, hot=2), dict(hold_s=-1)])
def test_bad_rules_are_refused(bad):
    with pytest.raises(ValueError):
        TierRules(**bad).check()


@given(st.lists(st.sampled_from([45, 55]), min_size=1, max_size=200), st.integers(min_value=1, max_value=19))
def test_a_count_oscillating_around_a_boundary_never_flips_the_tier(values, gap):
    """Samples alternate sides of the warm boundary faster than hold_s: the tier holds."""
    counts = []
    t = 0
    last = None
    for value in values:
        if value == last:
            continue  # keep it oscillating: each sample crosses the boundary
        counts.append((t, value))
        last = value
        t += gap
    for start in (TierState(tier="cold"), TierState(tier="warm")):
        assert set(run(FIXED, counts, state=start)) == {start.tier}


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 400)), max_size=100))
def test_the_tier_is_always_one_the_count_pointed_to_for_hold_s(samples):
    """Whenever the tier changes, the count pointed to it for at least hold_s."""
    state = TierState()
    t = 0
    history: list[tuple[int, str]] = []
    for gap, online in samples:
        t += gap * 1000
        target = FIXED.target(online, online)
        history.append((t, target))
        new = step(FIXED, state, online, online, t)
        if new.tier != state.tier:
            # the samples since the count last pointed elsewhere all point to the new tier
            others = [i for i, (_, tier) in enumerate(history) if tier != new.tier]
            held_from = history[others[-1] + 1 if others else 0][0]
            assert t - held_from >= FIXED.hold_s * 1000
        state = new
