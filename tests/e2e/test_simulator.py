"""The rule simulator (`POST /api/simulate`) through a real server: for any touches,
rules, brand and buyer facts, it answers exactly what `live.domain.attribution.decide`
answers for the same order (winner, rule and every touch's verdict); bad bodies get a
400 that names the bad field's path and change nothing.

One server serves all of hypothesis's examples (a function-scoped fixture shared by
the examples on purpose: the simulator keeps no state)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from live.domain.attribution import Rules, Touch, decide
from live.protocol import BindingRules, Brand
from tests.support import ROOM, running_server, test_settings

NOW = 1_795_600_000_000
DAY_MIN = 1440
ACME = BindingRules(model="first_click", click_window_days=3, protect_days=30, new_viewers_only=True, exclude_self=True)


@pytest.fixture
async def server(tmp_path):
    async with running_server(test_settings(tmp_path / "data")) as live:
        await live.app.state.live.ops.put_brand(Brand("acme", "Acme", rules=ACME))
        yield live


def admin(server) -> dict:
    return {"Authorization": f"Bearer {server.token('admin', room='*')}", "Content-Type": "application/json"}


# --- what gets posted ---------------------------------------------------------------------

owners = st.sampled_from(["mei", "jie", "lan", "d-yu"])
minutes = st.one_of(st.just(0), st.integers(0, 40 * DAY_MIN), st.floats(0, 40 * DAY_MIN, allow_nan=False, allow_infinity=False))
touches = st.fixed_dictionaries(
    {"kind": st.sampled_from(["checkout_code", "link", "binding", "store_default"]), "owner": owners},
    optional={"minutes_ago": minutes, "room": st.sampled_from([ROOM, "other-live"])},
)
rules = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["last_click", "first_click"]),
        "click_window_days": st.sampled_from([0.5, 1, 7, 30]),
        "protect_days": st.sampled_from([0, 1, 15]),
        "new_viewers_only": st.booleans(),
        "exclude_self": st.booleans(),
    },
)
simulations = st.fixed_dictionaries(
    {"room": st.just(ROOM), "touches": st.lists(touches, max_size=7), "now": st.integers(NOW - 10**10, NOW + 10**10)},
    optional={
        "brand": st.sampled_from(["default", "acme", "ghost"]),  # ghost: no such brand, the default rules
        "rules": rules,
        "self_owners": st.lists(owners, max_size=2, unique=True),
        "paid_before_minutes": minutes,
    },
)


def expected(sim: dict) -> dict:
    """`decide` called directly on the same order, as the JSON the endpoint answers."""
    now = sim["now"]
    brand_rules = {"acme": ACME}.get(sim.get("brand", "default"), BindingRules())
    given_rules = sim.get("rules")
    chosen = BindingRules(**given_rules) if given_rules is not None else brand_rules
    rules_ = Rules(chosen.model, chosen.click_window_days, chosen.protect_days, chosen.new_viewers_only, chosen.exclude_self)
    touched = [
        Touch(t["kind"], t["owner"], now - round(t.get("minutes_ago", 0) * 60_000), t.get("room") or sim["room"]) for t in sim["touches"]
    ]
    paid = sim.get("paid_before_minutes")
    paid_before = None if paid is None else now - round(paid * 60_000)
    receipt = decide(touched, rules_, now, sim["room"], frozenset(sim.get("self_owners", [])), paid_before)

    def touch(t: Touch, verdict: str) -> dict:
        return {"kind": t.kind, "owner": t.owner, "at": t.at, "verdict": verdict, "room": t.room}

    return {
        "rule": receipt.rule,
        "winner": touch(receipt.winner, "won") if receipt.winner else None,
        "touches": [touch(j.touch, j.verdict) for j in receipt.touches],
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sim=simulations)
@example(sim={"room": ROOM, "now": NOW, "brand": "acme", "self_owners": ["mei"], "paid_before_minutes": 10,
              "touches": [{"kind": "link", "owner": "mei", "minutes_ago": 5}, {"kind": "link", "owner": "jie", "minutes_ago": 60},
                          {"kind": "link", "owner": "lan", "minutes_ago": 2}]})
@example(sim={"room": ROOM, "now": NOW, "touches": [{"kind": "binding", "owner": "jie", "minutes_ago": 5 * DAY_MIN},
                                                    {"kind": "link", "owner": "mei", "minutes_ago": 60},
                                                    {"kind": "store_default", "owner": "shop-1"}]})
async def test_the_simulator_answers_what_the_rules_decide(server, sim):
    async with server.http() as http:
        response = await http.post("/api/simulate", content=json.dumps(sim), headers=admin(server))
    assert response.status_code == 200, response.text
    assert response.json() == expected(sim)


async def test_without_now_the_simulator_uses_the_servers_clock(server):
    sim = {"room": ROOM, "touches": [{"kind": "link", "owner": "mei", "minutes_ago": 30}]}
    store = server.app.state.live.ops
    before = store.clock()
    async with server.http() as http:
        answer = (await http.post("/api/simulate", content=json.dumps(sim), headers=admin(server))).json()
    after = store.clock()
    at = answer["winner"]["at"]
    assert before - 30 * 60_000 <= at <= after - 30 * 60_000
    assert answer == expected({**sim, "now": at + 30 * 60_000})


BAD = [
    (b"", "$"),
    (b"{not json", "$"),
    (b"[]", "$"),
    (b'{"touches": []}', "$.room"),
    (b'{"room": "r1"}', "$.touches"),
    (b'{"room": "R 1!", "touches": []}', "$.room"),
    (b'{"room": "r1", "touches": [], "color": "red"}', "$.color"),
    (b'{"room": "r1", "touches": [{"kind": "qr", "owner": "mei"}]}', "$.touches[0].kind"),
    (b'{"room": "r1", "touches": [{"kind": "link"}]}', "$.touches[0].owner"),
    (b'{"room": "r1", "touches": [{"kind": "link", "owner": ""}]}', "$.touches[0].owner"),
    (b'{"room": "r1", "touches": [{"kind": "link", "owner": "m", "minutes_ago": -1}]}', "$.touches[0].minutes_ago"),
    (b'{"room": "r1", "touches": [{"kind": "link", "owner": "m", "ago": 1}]}', "$.touches[0].ago"),
    (b'{"room": "r1", "touches": [], "rules": {"model": "linear"}}', "$.rules.model"),
    (b'{"room": "r1", "touches": [], "rules": {"click_window_days": 0}}', "$.rules.click_window_days"),
    (b'{"room": "r1", "touches": [], "rules": {"protect_days": 400}}', "$.rules.protect_days"),
    (b'{"room": "r1", "touches": [], "paid_before_minutes": -5}', "$.paid_before_minutes"),
    (b'{"room": "r1", "touches": [], "now": -1}', "$.now"),
    (b'{"room": "r1", "touches": [], "self_owners": "mei"}', "$.self_owners"),
]


async def test_bad_bodies_get_a_400_naming_the_path(server):
    store = server.app.state.live.ops
    brands = await store.brands()
    async with server.http() as http:
        for body, path in BAD:
            response = await http.post("/api/simulate", content=body, headers=admin(server))
            assert response.status_code == 400, (body, response.text)
            error = response.json()
            assert (error["code"], error["path"]) == ("bad_message", path), (body, error)
            assert error["message"], body
        assert (await http.post("/api/simulate", content=b'{"room":"r1","touches":[]}')).status_code == 401
        guide = {"Authorization": f"Bearer {server.token('guide', sub='mei')}"}
        assert (await http.post("/api/simulate", content=b'{"room":"r1","touches":[]}', headers=guide)).status_code == 403
    assert await store.brands() == brands
