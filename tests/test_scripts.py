"""Script lines: variants, placeholders, missing values, choosing, bulk edits."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.domain import scripts

RNG = random.Random(7)
VALUES = {"product": "龙井", "price": "¥9.9", "left": "41", "online": "1204", "countdown": "0:30"}


def test_placeholders_fill_from_live_state():
    text, missing = scripts.render("{product} 只要 {price}，还剩 {left} 件，{online} 人在抢", VALUES, RNG)
    assert text == "龙井 只要 ¥9.9，还剩 41 件，1204 人在抢" and missing == set()


def test_missing_values_are_marked_and_reported():
    text, missing = scripts.render("还剩 {left} 件，{countdown} 后开抢", {"left": None}, RNG)
    assert text == "还剩 … 件，… 后开抢" and missing == {"left", "countdown"}


def test_unknown_braces_stay_as_typed():
    assert scripts.render("{不是变量} {x}", {}, RNG)[0] == "{不是变量} {x}"


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="{}/"), min_size=1, max_size=5), min_size=2, max_size=5))
def test_variants_pick_one_of_the_choices(choices):
    text, _ = scripts.render("欢迎{" + "/".join(choices) + "}!", {}, random.Random())
    assert text in {f"欢迎{c.strip()}!" for c in choices}


def test_each_variant_comes_up():
    seen = {scripts.render("{宝宝/家人们/老铁}", {}, random.Random(seed))[0] for seed in range(60)}
    assert seen == {"宝宝", "家人们", "老铁"}


LINES = [
    {"id": "a", "purpose": "explain", "tier": "any", "text": "general"},
    {"id": "b", "purpose": "explain", "tier": "hot", "text": "hot general"},
    {"id": "c", "purpose": "explain", "tier": "any", "product_role": "hit", "text": "for hits"},
    {"id": "d", "purpose": "explain", "tier": "any", "sku": "TEA", "text": "tea, {left} left"},
    {"id": "e", "purpose": "explain", "tier": "any", "sku": "TEA", "text": "tea"},
    {"id": "f", "purpose": "hold", "tier": "cold", "text": "stay"},
]


def pick(purpose, tier, sku=None, role=None, values=VALUES, avoid=None):
    line = scripts.choose(LINES, purpose, tier, sku, role, values, random.Random(1), avoid)
    return line["id"] if line else None


def test_the_product_line_beats_the_role_line_beats_the_general_one():
    assert pick("explain", "warm", "TEA", "hit") in ("d", "e")
    assert pick("explain", "warm", "MASK", "hit") == "c"
    assert pick("explain", "warm", "MASK", "margin") == "a"


def test_a_line_for_this_tier_beats_an_any_line():
    assert pick("explain", "hot", "MASK", "margin") == "b"
    assert pick("hold", "cold") == "f"
    assert pick("hold", "hot") is None


def test_a_line_that_can_be_filled_beats_one_that_cannot():
    assert pick("explain", "warm", "TEA", "hit", values={"left": None}) == "e"


def test_the_line_on_screen_gives_way_when_there_is_another():
    assert pick("explain", "warm", "TEA", "hit", avoid="d") == "e"
    assert pick("explain", "warm", "MASK", "hit", avoid="c") == "c"  # the only one


def test_bulk_paste_one_line_per_row():
    lines = scripts.parse_paste("欢迎{宝宝/家人们}\n\n  点关注不迷路  \n", "welcome", "cold")
    assert [(line["text"], line["tier"]) for line in lines] == [("欢迎{宝宝/家人们}", "cold"), ("点关注不迷路", "cold")]
    with pytest.raises(ValueError):
        scripts.parse_paste("x", "shout")


def test_csv_round_trip_and_bad_rows():
    lines = [{"purpose": "qa", "tier": "any", "sku": None, "product_role": None, "text": "问题打在公屏上, 谢谢"}]
    assert scripts.from_csv(scripts.to_csv(lines).decode("utf-8")) == lines
    with pytest.raises(ValueError, match="line 2"):
        scripts.from_csv("purpose,text\nshout,hi\n")
    assert scripts.from_json('{"lines": [{"purpose": "thanks", "text": "谢谢"}]}')[0]["tier"] == "any"
