"""Commission rates, states from time, and payouts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from live.domain.ledger import DAY_MS, Rate, commission, confirm_at, payable, rate_for, split, state

RATES = [Rate("brand", 1, 500), Rate("brand", 2, 100), Rate("role:margin", 1, 800), Rate("sku:TEA", 1, 1000)]


def test_the_most_specific_rate_wins():
    assert rate_for(RATES, 1, "TEA", "traffic") == 1000
    assert rate_for(RATES, 1, "SET", "margin") == 800
    assert rate_for(RATES, 1, "MASK", "hit") == 500
    assert rate_for(RATES, 2, "TEA", "traffic") == 100
    assert rate_for([], 1, "TEA", "traffic") == 0


def test_commission_rounds_down_to_the_fen():
    assert commission(5990, 500) == 299  # 299.5
    assert commission(1, 500) == 0


def test_two_levels_at_most():
    assert split(10_000, "MASK", "hit", RATES, ["d1", "d0"]) == [("d1", 1, 500), ("d0", 2, 100)]
    assert split(10_000, "MASK", "hit", RATES, ["g1"]) == [("g1", 1, 500)]
    assert split(10_000, "MASK", "hit", RATES, ["a", "b", "c"]) == [("a", 1, 500), ("b", 2, 100)]


def test_states_follow_time():
    assert confirm_at(0, 7) == 7 * DAY_MS and confirm_at(5, 0.5) == 5 + DAY_MS // 2
    assert state(7 * DAY_MS, None, 6 * DAY_MS) == "frozen"
    assert state(7 * DAY_MS, None, 7 * DAY_MS) == "confirmed"
    assert state(7 * DAY_MS, "p1", 1) == "paid"


def test_a_payout_pays_only_a_positive_confirmed_balance():
    assert payable([(500, "confirmed"), (-200, "confirmed"), (900, "frozen")]) == 300
    assert payable([(500, "paid"), (-700, "confirmed")]) == 0


@given(st.integers(0, 10**9), st.integers(0, 10_000))
def test_commission_is_never_more_than_the_rate_allows(amount, bp):
    fen = commission(amount, bp)
    assert 0 <= fen <= amount * bp / 10_000 < fen + 1
