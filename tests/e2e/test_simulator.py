"""The rule simulator (`POST /api/simulate`) through a real server: for any timeline,
rules, brand and buyer, it answers what `live.domain.attribution.replay` answers (each
order's receipt, the clicks that did not count), with the room's brand and relaying
store unless told otherwise; bad bodies get a 400 that names the bad field's path and
change nothing. (`tests/test_attribution_properties.py` shows that the product decides
every order of a timeline as `replay` does.)

One server serves all of hypothesis's examples (a function-scoped fixture shared by
the examples on purpose: the simulator keeps no state)."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from live.domain.attribution import Rules, Step, replay
from live.ops.attribution import receipt_of
from live.protocol import BindingRules, Brand, Shop
from tests.support import ROOM, running_server, test_settings

NOW = 1_795_600_000_000
MINUTE, DAY = 60_000, 86_400_000
ACME = BindingRules(model="first_click", click_window_days=3, protect_days=30, new_viewers_only=True, exclude_self=True)


@pytest.fixture
async def server(tmp_path):
    async with running_server(test_settings(tmp_path / "data")) as live:
        ops = live.app.state.live.ops
        await ops.put_brand(Brand("acme", "Acme", rules=ACME))
        await ops.put_people([Shop("s-acme", "Acme West Lake", brand="acme"), Shop("s1", "West Lake")], [])
        await ops.put_room("acme-live", "Acme live", brand="acme", shop="s-acme")
        yield live


def admin(server) -> dict:
    return {"Authorization": f"Bearer {server.token('admin', room='*')}", "Content-Type": "application/json"}


# --- what gets posted ---------------------------------------------------------------------

owners = st.sampled_from(["mei", "jie", "lan", "d-yu"])
rooms = st.sampled_from([ROOM, "acme-live", "other-live"])
times = st.integers(NOW, NOW + 40 * DAY)
clicks = st.fixed_dictionaries({"kind": st.just("click"), "at": times, "owner": owners},
                               optional={"room": rooms, "sku": st.just("P1")})
orders = st.fixed_dictionaries({"kind": st.just("order"), "at": times}, optional={"room": rooms, "code": owners})
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
    {"room": rooms, "timeline": st.lists(st.one_of(clicks, orders), max_size=10)},
    optional={
        "brand": st.sampled_from(["default", "acme", "ghost"]),  # ghost: no such brand, the default rules
        "rules": rules,
        "self_owners": st.lists(owners, max_size=2, unique=True),
        "shop": st.sampled_from(["s1", "anywhere"]),
    },
)


def expected(sim: dict) -> dict:
    """`replay` called directly on the same timeline, as the JSON the endpoint answers."""
    room = sim["room"]
    brand = sim.get("brand") or ("acme" if room == "acme-live" else "default")
    given_rules = sim.get("rules")
    chosen = BindingRules(**given_rules) if given_rules is not None else {"acme": ACME}.get(brand, BindingRules())
    shops = {"acme-live": "s-acme", ROOM: None}
    if "shop" in sim:
        shops[room] = sim["shop"]
    steps, n = [], 0
    for step in sim["timeline"]:
        n += step["kind"] == "order"
        steps.append(Step(step["kind"], step["at"], step.get("room") or room, step.get("owner"), step.get("sku"),
                          step.get("code"), step.get("id", f"#{n}") if step["kind"] == "order" else step.get("order")))
    replayed = replay(steps, Rules(**msgspec.structs.asdict(chosen)), shops, frozenset(sim.get("self_owners", [])))
    return {
        "orders": [{"id": s.order, "at": s.at, "room": s.room, "receipt": msgspec.to_builtins(receipt_of(r))} for s, r in replayed.orders],
        "uncounted": replayed.uncounted,
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sim=simulations)
@example(sim={"room": "acme-live", "self_owners": ["mei"], "timeline": [
    {"kind": "click", "owner": "jie", "at": NOW}, {"kind": "click", "owner": "mei", "at": NOW + 5 * MINUTE},
    {"kind": "order", "at": NOW + 10 * MINUTE}, {"kind": "click", "owner": "lan", "at": NOW + DAY},
    {"kind": "order", "at": NOW + 2 * DAY}, {"kind": "order", "at": NOW + 3 * DAY, "code": "d-yu"}]})
@example(sim={"room": ROOM, "rules": {"protect_days": 60 / 86_400}, "timeline": [  # case 1 of issue 18
    {"kind": "click", "owner": "mei", "at": NOW}, {"kind": "order", "at": NOW + 1},
    {"kind": "click", "owner": "lan", "at": NOW + 1000}, {"kind": "order", "at": NOW + 3000},
    {"kind": "order", "at": NOW + 4000}]})
async def test_the_simulator_answers_what_the_rules_decide(server, sim):
    async with server.http() as http:
        response = await http.post("/api/simulate", content=json.dumps(sim), headers=admin(server))
    assert response.status_code == 200, response.text
    assert response.json() == expected(sim)


async def test_a_whole_timeline_with_a_refund(server):
    """Case 1 of issue 18 and a refund: the simulator keeps Mei's customer against Lan's
    click at +3 s and +4 s, and gives it up once her order is refunded."""
    sim = {"room": ROOM, "rules": {"protect_days": 60 / 86_400}, "timeline": [
        {"kind": "click", "owner": "mei", "at": NOW}, {"kind": "order", "at": NOW + 1, "id": "first"},
        {"kind": "click", "owner": "lan", "at": NOW + 1000}, {"kind": "order", "at": NOW + 3000},
        {"kind": "order", "at": NOW + 4000}, {"kind": "refund", "at": NOW + 5000, "order": "first"},
        {"kind": "refund", "at": NOW + 5000, "order": "#2"}, {"kind": "refund", "at": NOW + 5000, "order": "#3"},
        {"kind": "order", "at": NOW + 6000}]}
    async with server.http() as http:
        answer = (await http.post("/api/simulate", content=json.dumps(sim), headers=admin(server))).json()
    assert [o["id"] for o in answer["orders"]] == ["first", "#2", "#3", "#4"]
    assert [o["receipt"]["winner"]["owner"] for o in answer["orders"]] == ["mei", "mei", "mei", "lan"]
    lan = [t for t in answer["orders"][2]["receipt"]["touches"] if t["owner"] == "lan"]
    assert [(t["verdict_code"], t["verdict_params"]) for t in lan] == [("protected_at_click", {"owner": "mei"})]
    assert answer == expected(sim)


BAD = [
    (b"", "$"),
    (b"{not json", "$"),
    (b"[]", "$"),
    (b'{"timeline": []}', "$.room"),
    (b'{"room": "r1"}', "$.timeline"),
    (b'{"room": "R 1!", "timeline": []}', "$.room"),
    (b'{"room": "r1", "timeline": [], "color": "red"}', "$.color"),
    (b'{"room": "r1", "timeline": [{"kind": "binding", "at": 1}]}', "$.timeline[0].kind"),
    (b'{"room": "r1", "timeline": [{"kind": "click", "at": 1}]}', "$.timeline[0].owner"),
    (b'{"room": "r1", "timeline": [{"kind": "click", "owner": "", "at": 1}]}', "$.timeline[0].owner"),
    (b'{"room": "r1", "timeline": [{"kind": "click", "owner": "m", "at": -1}]}', "$.timeline[0].at"),
    (b'{"room": "r1", "timeline": [{"kind": "order"}]}', "$.timeline[0].at"),
    (b'{"room": "r1", "timeline": [{"kind": "order", "at": 1, "ago": 1}]}', "$.timeline[0].ago"),
    (b'{"room": "r1", "timeline": [{"kind": "refund", "at": 1}]}', "$.timeline[0].order"),
    (b'{"room": "r1", "timeline": [{"kind": "refund", "at": 1, "order": "#1"}]}', "$.timeline[0].order"),
    (b'{"room": "r1", "timeline": [{"kind": "order", "at": 5}, {"kind": "refund", "at": 1, "order": "#1"}]}', "$.timeline[1].order"),
    (b'{"room": "r1", "timeline": [{"kind": "order", "at": 5}, {"kind": "refund", "at": 6, "order": "#1"},'
     b' {"kind": "refund", "at": 7, "order": "#1"}]}', "$.timeline[2].order"),
    (b'{"room": "r1", "timeline": [{"kind": "order", "at": 5, "id": "a"}, {"kind": "order", "at": 6, "id": "a"}]}', "$.timeline"),
    (b'{"room": "r1", "timeline": [], "rules": {"model": "linear"}}', "$.rules.model"),
    (b'{"room": "r1", "timeline": [], "rules": {"click_window_days": 0}}', "$.rules.click_window_days"),
    (b'{"room": "r1", "timeline": [], "rules": {"protect_days": 400}}', "$.rules.protect_days"),
    (b'{"room": "r1", "timeline": [], "self_owners": "mei"}', "$.self_owners"),
    (b'{"room": "r1", "timeline": [' + b",".join([b'{"kind": "order", "at": 1}'] * 201) + b"]}", "$.timeline"),
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
        assert (await http.post("/api/simulate", content=b'{"room":"r1","timeline":[]}')).status_code == 401
        guide = {"Authorization": f"Bearer {server.token('guide', sub='mei')}"}
        assert (await http.post("/api/simulate", content=b'{"room":"r1","timeline":[]}', headers=guide)).status_code == 403
    assert await store.brands() == brands
