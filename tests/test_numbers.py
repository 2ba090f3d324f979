"""The live numbers, against a brute-force recomputation from the same sessions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from live.domain.numbers import MINUTE_MS, LiveNumbers, minute_of


def test_a_small_room_by_hand():
    n = LiveNumbers()
    n.enter(at=0, new_viewer=True)
    n.enter(at=10_000, new_viewer=True)
    n.exit(at=70_000, started_at=0, left_at=70_000)
    n.enter(at=80_000, new_viewer=False)
    n.like(at=90_000, n=5)
    assert (n.online, n.peak, n.entries, n.exits, n.unique, n.likes) == (2, 2, 3, 1, 2, 5)
    # dwell at 100 s: 70 (closed) + 90 + 20 (open) over 3 entries = 60 s
    assert n.avg_dwell_s(100_000) == 60
    series = n.series(now=150_000, minutes=3)
    assert [b.t for b in series] == [0, 60_000, 120_000]
    assert [(b.entries, b.exits, b.likes) for b in series] == [(2, 0, 0), (1, 1, 5), (0, 0, 0)]
    assert [b.online_max for b in series] == [2, 2, 2]


def test_empty_room():
    n = LiveNumbers()
    assert n.avg_dwell_s(123) == 0
    assert all(b.online_max == 0 and b.entries == 0 for b in n.series(now=10 * MINUTE_MS))


steps = st.lists(
    st.tuples(st.sampled_from(["enter", "exit", "like"]), st.integers(min_value=0, max_value=20_000), st.integers(0, 5)),
    max_size=120,
)


@given(steps)
def test_numbers_match_a_recount_of_the_sessions(script):
    n = LiveNumbers()
    now = 1_000_000
    open_sessions: list[tuple[int, int]] = []  # (viewer, started_at)
    closed: list[tuple[int, int]] = []
    seen: set[int] = set()
    likes = 0
    per_minute_entries: dict[int, int] = {}
    viewer = 0
    peak = 0
    for action, gap, k in script:
        now += gap
        if action == "enter":
            viewer += 1
            v = viewer % 7  # viewers come back
            n.enter(now, v not in seen)
            seen.add(v)
            open_sessions.append((v, now))
            per_minute_entries[minute_of(now)] = per_minute_entries.get(minute_of(now), 0) + 1
        elif action == "exit" and open_sessions:
            v, started = open_sessions.pop(k % len(open_sessions))
            n.exit(now, started, now)
            closed.append((started, now))
        elif action == "like":
            n.like(now, k + 1)
            likes += k + 1
        peak = max(peak, len(open_sessions))
    assert n.online == len(open_sessions)
    assert n.entries == len(open_sessions) + len(closed)
    assert n.exits == len(closed)
    assert n.unique == len(seen)
    assert n.likes == likes
    assert n.peak == peak
    entries = len(open_sessions) + len(closed)
    if entries:
        total = sum(end - start for start, end in closed) + sum(now - start for _, start in open_sessions)
        assert n.avg_dwell_s(now) == round(total / entries / 1000)
    series = n.series(now, minutes=60)
    assert len(series) == 60 and series[-1].t == minute_of(now)
    for bucket in series:
        assert bucket.entries == per_minute_entries.get(bucket.t, 0)
        assert bucket.online_max >= bucket.online_end >= 0
    assert series[-1].online_end == n.online
