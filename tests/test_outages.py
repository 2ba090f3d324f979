"""The pace of background loops while the store is away, and the two lines that tell it
(`live/outages.py`). The loops themselves meet a real outage in
tests/e2e/test_redis_scaleout.py."""

from __future__ import annotations

import asyncio
import logging

import pytest

from live.errors import StoreUnavailable
from live.outages import Outage

log = logging.getLogger("live.test-outages")


def outage_lines(caplog) -> list[tuple[str, str]]:
    return [(r.loop, r.outage) for r in caplog.records if hasattr(r, "outage")]


def test_the_pause_doubles_from_the_first_up_to_the_cap_jittered_within_half_of_it():
    low = Outage("ticks", log).backoff(0.25, 2.0, rng=lambda: 0.0)
    high = Outage("ticks", log).backoff(0.25, 2.0, rng=lambda: 0.999999)
    assert low.delay() == high.delay() == 0  # nothing failed: no pause
    lows, highs = [], []
    for _ in range(8):
        low.failed(StoreUnavailable("down"))
        high.failed(StoreUnavailable("down"))
        lows.append(low.delay())
        highs.append(round(high.delay(), 3))
    assert lows == [0.125, 0.25, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert highs == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    low.succeeded()
    assert low.delay() == 0


def test_an_outage_is_told_once_when_the_first_loop_fails_and_once_when_the_last_is_back(caplog):
    caplog.set_level(logging.WARNING, logger="live")
    feeds = Outage("event feeds", log)
    a, b = feeds.backoff(0.05, 1.0), feeds.backoff(0.05, 1.0)
    for _ in range(5):
        a.failed(ConnectionError("refused"))
        b.failed(ConnectionError("refused"))
    assert outage_lines(caplog) == [("event feeds", "started")]
    a.succeeded()
    a.succeeded()
    assert outage_lines(caplog) == [("event feeds", "started")]  # b still fails
    b.succeeded()
    assert outage_lines(caplog) == [("event feeds", "started"), ("event feeds", "ended")]
    [ended] = [r for r in caplog.records if getattr(r, "outage", None) == "ended"]
    assert ended.tries == 10 and ended.lasted_s >= 0
    assert "outage ended after" in ended.getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # the store was away: no traceback

    a.failed(ConnectionError("refused again"))  # a new outage is told again
    a.succeeded()
    assert outage_lines(caplog)[2:] == [("event feeds", "started"), ("event feeds", "ended")]


def test_a_failure_the_loop_does_not_expect_gets_its_traceback_once(caplog):
    caplog.set_level(logging.WARNING, logger="live")
    pace = Outage("hub ticks", log).backoff(0.25, 2.0)
    for _ in range(3):
        try:
            raise KeyError("a bug")
        except KeyError as exc:
            pace.failed(exc)
    [started] = caplog.records
    assert started.outage == "started" and started.exc_info is not None and "KeyError" in started.getMessage()


def test_a_loop_that_stops_while_failing_lets_the_outage_go_without_telling_it_ended(caplog):
    caplog.set_level(logging.WARNING, logger="live")
    feeds = Outage("event feeds", log)
    pace = feeds.backoff(0.05, 1.0)
    pace.failed(ConnectionError("refused"))
    pace.forget()
    assert not feeds.down
    assert outage_lines(caplog) == [("event feeds", "started")]


async def test_a_pause_after_a_failure_ends_at_once_when_told_the_store_answers():
    pace = Outage("event feeds", log).backoff(3600, 3600)  # a pause no test would wait out
    pace.failed(ConnectionError("refused"))
    pausing = asyncio.create_task(pace.pause())
    await asyncio.sleep(0)
    assert not pausing.done()
    pace.now()
    await asyncio.wait_for(pausing, 5)


async def test_while_things_work_the_pause_is_the_period_and_now_does_not_skip_it():
    pace = Outage("hub ticks", log).backoff(0.25, 2.0)
    pace.now()
    pausing = asyncio.create_task(pace.pause(3600))
    await asyncio.sleep(0)
    pace.now()
    await asyncio.sleep(0)
    assert not pausing.done()
    pausing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pausing
