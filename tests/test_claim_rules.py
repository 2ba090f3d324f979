"""The decisions of the hot primitives (claims, coupon claims, whether a click counts)
exist twice: in `live/domain/` (the local store runs them) and in
`live/store/redis/lua/rules.lua` (Redis must run them inside the script that commits).
Here both get the same cases, thousands of them, and must give the same answer."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.domain import attribution, coupons, releases
from live.store.redis.connection import LUA
from tests.stores import shared_redis

T0 = 1_795_600_000_000
RULES = (LUA / "rules.lua").read_text()
CLAIM = RULES + """
local product_limit = ARGV[9] ~= '' and tonumber(ARGV[9]) or nil
return decide_claim(ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1',
  tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), product_limit, tonumber(ARGV[10]))
"""
COUPON = RULES + """
local claim_until = ARGV[3] ~= '' and tonumber(ARGV[3]) or nil
return decide_coupon(tonumber(ARGV[1]), tonumber(ARGV[2]), claim_until, ARGV[4] == '1', tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
"""

CLICK = RULES + """
local last_counted = ARGV[1] ~= '' and tonumber(ARGV[1]) or nil
return counts_click(last_counted, tonumber(ARGV[2]), tonumber(ARGV[3])) and 'counted' or 'not_counted'
"""

small = st.integers(min_value=0, max_value=6)
times = st.integers(min_value=T0 - 3, max_value=T0 + 3)


@pytest.fixture(scope="module")
def lua():
    """A blocking way to run a rule in the run's redis-server (hypothesis drives sync code)."""
    loop = asyncio.new_event_loop()
    client = redis.Redis.from_url(shared_redis().url)

    def run(script: str, *args) -> str:
        answer = loop.run_until_complete(client.eval(script, 0, *["" if a is None else int(a) if isinstance(a, bool) else a for a in args]))
        return answer.decode()

    yield run
    loop.run_until_complete(client.aclose())
    loop.close()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    closed=st.booleans(), starts_at=times, left=small, now=times, admitted=st.booleans(), qty=st.integers(1, 3),
    limit=st.integers(1, 4), in_release=small, product_limit=st.none() | st.integers(1, 5), of_product=small,
)
def test_the_claim_rule_is_the_same_in_python_and_in_lua(lua, closed, starts_at, left, now, admitted, qty, limit,
                                                         in_release, product_limit, of_product):
    python = releases.decide_claim(
        closed=closed, starts_at=starts_at, left=left, now=now, admitted=admitted, qty=qty, limit=limit,
        in_release=in_release, product_limit=product_limit, of_product=of_product,
    )
    assert lua(CLAIM, closed, starts_at, left, now, admitted, qty, limit, in_release, product_limit, of_product) == python


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    now=times, claim_from=times, claim_until=st.none() | times, admitted=st.booleans(), mine=small,
    per_viewer=st.integers(1, 4), claimed=small, quantity=st.integers(1, 6),
)
def test_the_coupon_rule_is_the_same_in_python_and_in_lua(lua, now, claim_from, claim_until, admitted, mine, per_viewer,
                                                          claimed, quantity):
    python = coupons.decide_claim(
        now=now, claim_from=claim_from, claim_until=claim_until, admitted=admitted, mine=mine, per_viewer=per_viewer,
        claimed=claimed, quantity=quantity,
    )
    assert lua(COUPON, now, claim_from, claim_until, admitted, mine, per_viewer, claimed, quantity) == python


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    last_counted=st.none() | st.integers(T0 - 2 * attribution.HOUR_MS, T0 + 10),
    at=st.integers(T0 - 10, T0 + 2 * attribution.HOUR_MS) | st.sampled_from([T0 + attribution.HOUR_MS - 1, T0 + attribution.HOUR_MS]),
)
def test_the_click_rule_is_the_same_in_python_and_in_lua(lua, last_counted, at):
    python = "counted" if attribution.counts_click(last_counted, at, attribution.CLICK_DEDUPE_MS) else "not_counted"
    assert lua(CLICK, last_counted, at, attribution.CLICK_DEDUPE_MS) == python


def test_every_outcome_is_reached():
    """The cases above are not all one answer: each outcome of each rule comes up."""
    seen = {
        releases.decide_claim(closed=c, starts_at=T0, left=lf, now=n, admitted=a, qty=1, limit=1, in_release=i,
                              product_limit=None, of_product=0)
        for c in (True, False) for n in (T0 - 1, T0) for a in (True, False) for i in (0, 1) for lf in (0, 1)
    }
    assert seen == {"closed", "not_open", "not_eligible", "limit_reached", "sold_out", "claimed"}
