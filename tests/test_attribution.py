"""Binding rules and precedence: who an order belongs to, and why (the pure rules;
`test_store_attribution.py` plays the same cases through the stores)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.domain.attribution import (
    DAY_MS, HOUR_MS, MINUTE_MS, PRECEDENCE, RULE_TEXTS, VERDICT_TEXTS, Click, Paid, Refunded, Rules, Step, counts_click,
    decide, replay, span,
)
from live.errors import BadMessage

NOW = 100 * DAY_MS
ROOM = "live-1"
LAST = Rules()


def click(owner, days_ago, room=ROOM):
    return Click(owner, NOW - round(days_ago * DAY_MS), room)


def paid(order, owner, days_ago, room=ROOM):
    return Paid(order, NOW - round(days_ago * DAY_MS), room, owner)


def refunded(order, days_ago):
    return Refunded(order, NOW - round(days_ago * DAY_MS))


def winner(history, rules=LAST, **kw):
    receipt = decide(history, rules, NOW, ROOM, **kw)
    return receipt.winner.owner if receipt.winner else None


def verdicts(history, rules=LAST, **kw) -> dict[tuple[str, str], tuple[str, dict]]:
    """(kind, owner) -> (verdict code, params) of each touch (the latest of a kind and owner)."""
    receipt = decide(history, rules, NOW, ROOM, **kw)
    return {(j.touch.kind, j.touch.owner): (j.why.code, dict(j.why.params)) for j in receipt.touches}


def test_last_click_and_first_click():
    history = [click("mei", 3), click("jie", 1)]
    assert winner(history) == "jie"
    assert winner(history, Rules(model="first_click")) == "mei"


def test_clicks_outside_the_window_or_for_another_live_do_not_count():
    assert winner([click("mei", 8)]) is None
    assert winner([click("mei", 8)], Rules(click_window_days=10)) == "mei"
    assert winner([click("mei", 1, room="other-live")]) is None


def test_precedence_checkout_code_then_link_then_binding_then_store():
    bought = paid("o1", "jie", 2)
    assert winner([], shop="shop-1") == "shop-1"
    assert winner([bought], shop="shop-1") == "jie"
    assert winner([bought, click("jie", 1)], shop="shop-1") == "jie"
    assert winner([bought, click("jie", 1)], shop="shop-1", code="lan") == "lan"


def test_a_bound_customer_is_protected_from_other_peoples_clicks():
    history = [paid("o1", "jie", 5), click("mei", 1)]
    assert winner(history) == "jie"
    assert verdicts(history)[("link", "mei")] == ("protected_at_click", {"owner": "jie"})
    assert winner([paid("o1", "jie", 20), click("mei", 1)]) == "mei"  # protection over
    assert winner([paid("o1", "jie", 5), click("jie", 1)]) == "jie"


def test_protection_holds_against_every_click_inside_it_whatever_was_bought_since():
    """Case 1 of issue 18: Mei on Monday, Lily's click on Tuesday, a purchase (Mei's) on
    Wednesday: on Thursday the order is still Mei's."""
    history = [click("mei", 3), paid("o1", "mei", 3), click("lily", 2), paid("o2", "mei", 1)]
    assert winner(history) == "mei"
    assert verdicts(history)[("link", "lily")] == ("protected_at_click", {"owner": "mei"})
    # and after the protection ends, a click made inside it still never counts
    late = [paid("o1", "mei", 20), click("lily", 10)]
    assert winner(late, Rules(click_window_days=30)) is None


def test_a_click_made_before_the_protection_does_not_take_the_customer_during_it():
    history = [click("lily", 2), paid("o1", "mei", 1)]  # Lily's click, then a purchase through Mei's code
    assert winner(history) == "mei"
    assert verdicts(history)[("link", "lily")] == ("protected", {"owner": "mei"})


def test_each_purchase_through_them_starts_the_protection_again():
    history = [paid("o1", "mei", 24), paid("o2", "mei", 12), click("lily", 1)]
    assert winner(history, Rules(click_window_days=30)) == "mei"  # renewed on day 12: protected until day 27
    assert verdicts(history)[("binding", "mei")] == ("won", {})


def test_a_checkout_code_moves_the_protection():
    history = [paid("o1", "mei", 5), paid("o2", "yu", 3), click("lily", 2), click("mei", 1)]
    assert winner(history) == "yu"
    found = verdicts(history)
    assert found[("link", "mei")] == ("protected_at_click", {"owner": "yu"})
    assert found[("link", "lily")] == ("protected_at_click", {"owner": "yu"})
    receipt = decide(history, LAST, NOW, ROOM)
    [older] = [j for j in receipt.touches if j.touch.ref == "o1"]
    assert (older.why.code, dict(older.why.params)) == ("moved", {"owner": "yu"})


def test_an_older_binding_is_labelled_by_what_replaced_it_not_as_too_old():
    """Issue 18, item 3: an hour-old binding beside a newer one is not 'older than 15 days'."""
    hour = HOUR_MS / DAY_MS
    receipt = decide([paid("o1", "mei", 2 * hour), paid("o2", "mei", hour)], LAST, NOW, ROOM)
    [older] = [j for j in receipt.touches if j.touch.ref == "o1"]
    assert older.verdict == "renewed by a later purchase through them"


def test_a_refund_takes_back_the_protection_it_gave_and_the_repeat_buyer_status():
    history = [paid("o1", "mei", 3), refunded("o1", 2), click("lily", 1)]
    assert winner(history) == "lily"
    assert verdicts(history)[("binding", "mei")] == ("refunded", {})
    assert winner(history, Rules(new_viewers_only=True)) == "lily"  # a new viewer again
    # the protection falls back to the purchase before the refunded one
    assert winner([paid("o1", "mei", 5), paid("o2", "yu", 3), refunded("o2", 2), click("lily", 1)]) == "mei"
    # a refund after the order is not known to it
    assert winner([paid("o1", "mei", 3), click("lily", 1), Refunded("o1", NOW + 1)]) == "mei"


def test_new_viewers_only_looks_at_purchases_before_the_order():
    rules = Rules(new_viewers_only=True, protect_days=0)
    assert winner([click("mei", 3)], rules) == "mei"
    history = [click("mei", 3), paid("o1", "mei", 2)]  # clicked while new, bought, now buys again
    assert winner(history, rules) is None
    assert verdicts(history, rules)[("link", "mei")] == ("not_new", {})
    assert winner(history, Rules(new_viewers_only=True)) == "mei"  # the binding keeps them, not the link
    assert winner([paid("o1", None, 2), click("mei", 1)], rules) is None  # any purchase of the brand


def test_self_referral():
    assert winner([click("mei", 1)], Rules(exclude_self=True), selves={"mei"}) is None
    assert winner([click("mei", 1)], selves={"mei"}) == "mei"  # off by default
    # their own purchase protects nobody against others
    assert winner([paid("o1", "mei", 2), click("lily", 1)], Rules(exclude_self=True), selves={"mei"}) == "lily"


def test_the_receipt_explains_every_touch_in_the_largest_unit():
    history = [click("mei", 3), click("jie", 1), click("lan", 9)]
    receipt = decide(history, LAST, NOW, ROOM, shop="shop-1")
    texts = {j.touch.owner: j.verdict for j in receipt.touches}
    assert texts == {
        "jie": "won", "mei": "lost to a later link", "lan": "clicked more than 7 days before the order",
        "shop-1": "lost to a link (it comes first)",
    }
    assert receipt.rule.text == "tracked link in this live, last click within 7 days"
    first = decide(history, Rules(model="first_click"), NOW, ROOM)
    assert {j.touch.owner: j.verdict for j in first.touches}["jie"] == "lost to an earlier link"
    seconds = decide([Click("mei", NOW - 6000, ROOM)], Rules(click_window_days=5.5 / 86_400), NOW, ROOM)
    assert seconds.touches[0].verdict == "clicked more than 5.5 seconds before the order"
    assert (seconds.touches[0].why.code, dict(seconds.touches[0].why.params)) == ("too_old", {"window_ms": 5500})


@pytest.mark.parametrize("ms, text", [
    (7 * DAY_MS, "7 days"), (DAY_MS, "1 day"), (36 * HOUR_MS, "1.5 days"), (HOUR_MS, "1 hour"), (90 * MINUTE_MS, "1.5 hours"),
    (MINUTE_MS, "1 minute"), (5500, "5.5 seconds"), (1000, "1 second"), (400, "0.4 seconds"), (0, "0 seconds"),
])
def test_durations_are_said_in_the_largest_unit_they_fill(ms, text):
    assert span(ms) == text


def test_rule_and_verdict_codes_are_distinct():
    assert set(RULE_TEXTS).isdisjoint(VERDICT_TEXTS)


@pytest.mark.parametrize("last, at, counts", [
    (None, 0, True), (0, 30 * MINUTE_MS, False), (0, HOUR_MS - 1, False), (0, HOUR_MS, True), (0, 65 * MINUTE_MS, True),
])
def test_a_click_counts_once_per_sliding_hour(last, at, counts):
    """10:00 counts; 10:30 does not (the last counted is 10:00); 11:05 does."""
    assert counts_click(last, at) is counts


def test_the_simulator_replays_a_timeline_as_the_product_lives_it():
    """Clicks at 10:00, 10:15 (Lily) and 10:30: the third does not count (Mei's link
    within the hour), so Lily's is the last click of the order at 10:40."""
    t = NOW
    steps = [Step("click", t, ROOM, "mei"), Step("click", t + 15 * MINUTE_MS, ROOM, "lily"),
             Step("click", t + 30 * MINUTE_MS, ROOM, "mei"), Step("order", t + 40 * MINUTE_MS, ROOM, order="#1"),
             Step("refund", t + 50 * MINUTE_MS, ROOM, order="#1"), Step("order", t + 60 * MINUTE_MS, ROOM, code="yu", order="#2")]
    replayed = replay(steps, LAST, {ROOM: "shop-1"})
    assert replayed.uncounted == [2]
    [(_, first), (_, second)] = replayed.orders
    assert first.winner.owner == "lily" and second.winner.owner == "yu"
    [binding] = [j for j in second.touches if j.touch.kind == "binding"]
    assert (binding.touch.ref, binding.why.code) == ("#1", "refunded")
    with pytest.raises(BadMessage) as refused:
        replay([Step("refund", t, ROOM, order="#9")], LAST)
    assert refused.value.path == "$.timeline[0].order"


owners = st.sampled_from(["mei", "jie", "lan"])
past = st.one_of(
    st.builds(lambda o, d: click(o, d), owners, st.floats(0, 12)),
    st.builds(lambda o, d, n: paid(f"o{n}", o, d), st.none() | owners, st.floats(0, 30), st.integers(0, 5)),
    st.builds(lambda d, n: refunded(f"o{n}", d), st.floats(0, 30), st.integers(0, 5)),
)
rules = st.builds(Rules, st.sampled_from(["last_click", "first_click"]), st.sampled_from([1, 7, 30]), st.sampled_from([0, 15]),
                  st.booleans(), st.booleans())


@given(st.lists(past, max_size=10), rules, st.none() | owners, st.none() | st.just("shop-1"))
def test_precedence_always_holds_and_every_touch_gets_a_verdict(history, r, code, shop):
    receipt = decide(history, r, NOW, ROOM, code=code, shop=shop, selves={"lan"})
    won = [j for j in receipt.touches if j.why.code == "won"]
    assert all(j.why.code in VERDICT_TEXTS and j.verdict for j in receipt.touches)
    assert receipt.rule.code in RULE_TEXTS and receipt.rule.text
    if receipt.winner is None:
        assert not won and receipt.rule.code == "nobody"
        return
    assert [j.touch for j in won] == [receipt.winner]
    counted = [j.touch for j in receipt.touches if j.why.code.startswith("lost_to")]
    # nothing that still counted outranks the winner
    assert all(PRECEDENCE.index(t.kind) >= PRECEDENCE.index(receipt.winner.kind) for t in counted)
    if r.exclude_self:
        assert receipt.winner.owner != "lan"


@given(st.lists(st.tuples(owners, st.floats(0, 6)), min_size=1, max_size=8))
def test_the_model_picks_the_latest_or_earliest_click(clicks):
    history = [click(o, d) for o, d in clicks]
    last = decide(history, LAST, NOW, ROOM).winner
    first = decide(history, Rules(model="first_click"), NOW, ROOM).winner
    assert last.at == max(c.at for c in history)
    assert first.at == min(c.at for c in history)


def test_a_binding_that_lapsed_before_the_next_purchase_is_over_not_renewed():
    receipt = decide([paid("o1", "mei", 40), paid("o2", "lily", 20)], Rules(click_window_days=30), NOW, ROOM)
    [older] = [j for j in receipt.touches if j.touch.ref == "o1"]
    assert older.verdict == "protection over: paid more than 15 days before"


def test_touches_too_old_to_change_the_order_are_left_out_of_its_receipt():
    """Older than the click window and the protection together (7 + 15 days)."""
    history = [paid("o1", "mei", 23), click("mei", 23), paid("o2", "mei", 21), click("lily", 21)]
    receipt = decide(history, LAST, NOW, ROOM)
    assert [(j.touch.kind, j.touch.ref or j.touch.owner) for j in receipt.touches] == [("binding", "o2"), ("link", "lily")]
    assert decide(history, LAST, NOW, ROOM, code="yu").winner.owner == "yu"
    repeat = [paid("o1", "mei", 30), click("lily", 1)]  # left out of the receipt, a repeat buyer all the same
    assert winner(repeat, Rules(new_viewers_only=True, protect_days=0)) is None
