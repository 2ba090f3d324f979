"""Decoding every client message, and refusing everything else with a precise error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live import protocol
from live.errors import BadJson, BadMessage
from live.protocol import ClientMessage, ServerMessage

ROOT = Path(__file__).resolve().parent.parent

VALID = {
    "hello": [{"type": "hello", "v": 1}, {"type": "hello", "v": 1, "token": "t", "last_seq": 0}],
    "ping": [{"type": "ping"}, {"type": "ping", "t": 1795600000000}],
    "like": [{"type": "like"}, {"type": "like", "n": 100}],
    "pin": [{"type": "pin", "sku": "A-1.b_2"}, {"type": "pin", "sku": None, "ref": "r1"}],
    "set_lineup": [{"type": "set_lineup", "skus": []}, {"type": "set_lineup", "skus": ["A", "B"], "ref": "x"}],
    "set_on_sale": [{"type": "set_on_sale", "sku": "A", "on_sale": False}],
    "plan_release": [
        {"type": "plan_release", "sku": "A", "quantity": 100},
        {"type": "plan_release", "sku": "A", "quantity": 100, "starts_at": 1795600000000, "price": 990, "limit": 2,
         "hold_s": 120, "audience": "dwell:60", "waves": 3, "interval_s": 600, "ref": "r"},
    ],
    "close_release": [{"type": "close_release", "release": "w3"}],
    "claim": [{"type": "claim", "release": "w3", "key": "tap-1"}, {"type": "claim", "release": "w3", "key": "k", "qty": 2}],
    "checkout": [{"type": "checkout", "hold": "h9"}, {"type": "checkout", "hold": "h9", "guide_code": "MEI-01"}],
    "guide_code": [{"type": "guide_code", "order": "o4", "code": "MEI-01"}],
    "pay": [{"type": "pay", "order": "o4", "ref": "p"}],
    "cancel_order": [{"type": "cancel_order", "order": "o4"}],
    "create_coupon": [
        {"type": "create_coupon", "title": "20 off", "kind": "amount", "value": 2000, "quantity": 100},
        {"type": "create_coupon", "title": "9折", "kind": "percent", "value": 10, "quantity": 5, "cap": 3000,
         "min_spend": 9900, "per_viewer": 2, "claim_from": 1, "claim_until": 2, "valid_s": 3600, "audience": "new", "push": True},
    ],
    "push_coupon": [{"type": "push_coupon", "coupon": "c1"}],
    "claim_coupon": [{"type": "claim_coupon", "coupon": "c1", "key": "t"}],
    "add_script_lines": [
        {"type": "add_script_lines", "lines": [{"purpose": "welcome", "text": "欢迎{宝宝/家人们}"}]},
        {"type": "add_script_lines", "replace": True, "lines": [
            {"purpose": "explain", "text": "{product} 只要 {price}", "tier": "hot", "sku": "A"},
            {"purpose": "urgency", "text": "仅剩 {left} 件", "product_role": "hit"}]},
    ],
    "delete_script_line": [{"type": "delete_script_line", "line": "s3"}],
    "set_pacing": [{"type": "set_pacing", "rules": {}}, {"type": "set_pacing", "rules": {"mode": "relative", "warm": 0.3, "hot": 0.8, "hold_s": 30}}],
    "set_show": [
        {"type": "set_show", "segments": []},
        {"type": "set_show", "repeat": False, "segments": [
            {"title": "Warm up", "minutes": 2, "purpose": "welcome"},
            {"title": "Release", "minutes": 1.5, "purpose": "urgency", "sku": "A", "advance": "manual",
             "fire": {"kind": "release", "mode": "auto", "quantity": 100, "price": 990}}]},
    ],
    "show": [{"type": "show", "action": "start"}, {"type": "show", "action": "extend", "minutes": -1.5}, {"type": "show", "action": "jump", "index": 3}],
    "push_line": [{"type": "push_line", "text": "家人们点点关注"}, {"type": "push_line", "line": "s2", "seconds": 30}],
    "push_banner": [{"type": "push_banner", "text": "8点整放单!", "seconds": 60}],
    "start_live": [{"type": "start_live"}, {"type": "start_live", "ref": "c1"}],
    "end_live": [{"type": "end_live", "ref": "c2"}],
    "add_to_lineup": [{"type": "add_to_lineup", "sku": "TEA-01"}, {"type": "add_to_lineup", "sku": "TEA-01", "at": 0}],
    "remove_from_lineup": [{"type": "remove_from_lineup", "sku": "TEA-01"}],
}


def tag(cls) -> str:
    return cls.__struct_config__.tag


def test_every_client_message_has_valid_examples():
    assert set(VALID) == {tag(cls) for cls in get_args(ClientMessage)}


@pytest.mark.parametrize("example", [e for examples in VALID.values() for e in examples])
def test_valid_messages_decode_to_their_struct(example):
    message = protocol.decode_client(json.dumps(example))
    assert tag(type(message)) == example["type"]
    assert within(example, msgspec.to_builtins(message))  # what was sent, plus defaults
    assert protocol.decode_client(protocol.encode(message)) == message


def within(sent, decoded) -> bool:
    if isinstance(sent, dict):
        return isinstance(decoded, dict) and all(k in decoded and within(v, decoded[k]) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(decoded, list) and len(sent) == len(decoded) and all(map(within, sent, decoded))
    return sent == decoded


@pytest.mark.parametrize(
    "frame, error, path",
    [
        ("", BadJson, "$"),
        ("{", BadJson, "$"),
        ("[]", BadMessage, "$"),
        ("null", BadMessage, "$"),
        ('{"v": 1}', BadMessage, "$.type"),
        ('{"type": "nope"}', BadMessage, "$.type"),
        ('{"type": "hello"}', BadMessage, "$.v"),
        ('{"type": "hello", "v": 0}', BadMessage, "$.v"),
        ('{"type": "hello", "v": 1, "last_seq": -1}', BadMessage, "$.last_seq"),
        ('{"type": "hello", "v": 1, "admin": true}', BadMessage, "$.admin"),
        ('{"type": "like", "n": 101}', BadMessage, "$.n"),
        ('{"type": "like", "n": 1.5}', BadMessage, "$.n"),
        ('{"type": "pin"}', BadMessage, "$.sku"),
        ('{"type": "pin", "sku": ""}', BadMessage, "$.sku"),
        ('{"type": "pin", "sku": "' + "A" * 65 + '"}', BadMessage, "$.sku"),
        ('{"type": "pin", "sku": "<script>"}', BadMessage, "$.sku"),
        ('{"type": "set_lineup", "skus": "A"}', BadMessage, "$.skus"),
        ('{"type": "set_lineup", "skus": ["A", 3]}', BadMessage, "$.skus[1]"),
        ('{"type": "set_lineup", "skus": ["A"], "ref": ""}', BadMessage, "$.ref"),
        ('{"type": "plan_release", "sku": "A", "quantity": -5}', BadMessage, "$.quantity"),
        ('{"type": "plan_release", "sku": "A", "quantity": 0}', BadMessage, "$.quantity"),
        ('{"type": "plan_release", "sku": "A", "quantity": 10, "price": 9.9}', BadMessage, "$.price"),
        ('{"type": "plan_release", "sku": "A", "quantity": 10, "price": -1}', BadMessage, "$.price"),
        ('{"type": "plan_release", "sku": "A", "quantity": 10, "price": 0}', BadMessage, "$.price"),
        ('{"type": "plan_release", "sku": "A", "quantity": 10, "audience": "everyone"}', BadMessage, "$.audience"),
        ('{"type": "plan_release", "sku": "A", "quantity": 10, "hold_s": 5}', BadMessage, "$.hold_s"),
        ('{"type": "claim", "release": "w1"}', BadMessage, "$.key"),
        ('{"type": "claim", "release": "w1", "key": "k", "qty": 0}', BadMessage, "$.qty"),
        ('{"type": "claim", "release": "../x", "key": "k"}', BadMessage, "$.release"),
        ('{"type": "create_coupon", "title": "x", "kind": "gift", "value": 1, "quantity": 1}', BadMessage, "$.kind"),
        ('{"type": "create_coupon", "title": "x", "kind": "amount", "value": 0.5, "quantity": 1}', BadMessage, "$.value"),
        ('{"type": "show", "action": "rewind"}', BadMessage, "$.action"),
        ('{"type": "set_show", "segments": [{"title": "x", "minutes": 0}]}', BadMessage, "$.segments[0].minutes"),
        ('{"type": "set_show", "segments": [{"title": "x", "minutes": 1, "fire": {"kind": "gift"}}]}', BadMessage, "$.segments[0].fire.kind"),
        (
            '{"type": "set_show", "segments": [{"title": "x", "minutes": 1, "fire": {"kind": "release", "mode": "auto", "price": 0}}]}',
            BadMessage, "$.segments[0].fire.price",
        ),
        ('{"type": "add_script_lines", "lines": []}', BadMessage, "$.lines"),
        ('{"type": "add_script_lines", "lines": [{"purpose": "shout", "text": "x"}]}', BadMessage, "$.lines[0].purpose"),
        ('{"type": "push_banner", "text": "x", "seconds": 1}', BadMessage, "$.seconds"),
        ('{"type": "set_pacing", "rules": {"cool_pct": 0}}', BadMessage, "$.rules.cool_pct"),
        ('{"type": "guide_code", "order": "o1", "code": "ab"}', BadMessage, "$.code"),
        ('{"type": "guide_code", "order": "o1", "code": "MEI 01"}', BadMessage, "$.code"),
        ('{"type": "checkout", "hold": "h1", "guide_code": "<b>x</b>"}', BadMessage, "$.guide_code"),
        # records the stores keep tolerate fields they do not know; as input they do not
        ('{"type": "set_show", "segments": [{"title": "x", "minutes": 1, "newer": 1}]}', BadMessage, "$.segments[0].newer"),
        ('{"type": "set_show", "segments": [{"minutes": 1, "newer": 1}]}', BadMessage, "$.segments[0].newer"),
        ('{"type": "set_show", "segments": [{"title": "x", "minutes": 1, "fire": {"kind": "release", "newer": 1}}]}',
         BadMessage, "$.segments[0].fire.newer"),
        ('{"type": "set_pacing", "rules": {"warm": 10, "newer": 1}}', BadMessage, "$.rules.newer"),
    ],
)
def test_bad_frames_name_the_offending_field(frame, error, path):
    with pytest.raises(error) as raised:
        protocol.decode_client(frame)
    assert raised.value.path == path
    assert raised.value.message
    assert raised.value.code in ("bad_json", "bad_message")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_anything_but_a_protocol_error(data):
    try:
        protocol.decode_client(data)
    except BadMessage as exc:  # BadJson is a BadMessage
        assert exc.path is not None and exc.path.startswith("$")


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.dictionaries(st.sampled_from(["v", "n", "t", "sku", "skus", "ref", "token", "last_seq", "x"]), json_values, max_size=4))
def test_tagged_objects_with_random_fields_decode_or_fail_cleanly(kind, fields):
    frame = json.dumps({**fields, "type": kind})
    try:
        message = protocol.decode_client(frame)
    except BadMessage as exc:
        assert exc.path.startswith("$")
        return
    # What decodes is a well-formed message that survives a round trip.
    assert protocol.decode_client(protocol.encode(message)) == message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True), max_size=20), st.none() | st.text(min_size=1, max_size=64))
def test_set_lineup_round_trips(skus, ref):
    message = protocol.SetLineup(skus=skus, ref=ref)
    assert protocol.decode_client(protocol.encode(message)) == message


def test_server_messages_encode_with_their_type_tag():
    product = protocol.Product("A", "Tea", 990)
    messages = [
        protocol.Snapshot(1, 3, 1, "viewer", "v_x", protocol.RoomView("r", "R", [product], "A"), "join", 2, 5),
        protocol.Resume(1, 3, 1, "host", "h", [msgspec.Raw(b'{"type":"pinned"}')]),
        protocol.Pinned(3, 1, "A", product, "controller:x"),
        protocol.LineupChanged(4, 1, [product], "controller:x"),
        protocol.Tick(1, 2, 3),
        protocol.NumbersTick(protocol.Numbers(1), protocol.Minute(0)),
        protocol.Pong(None, 1),
        protocol.Ack("r", 3),
        protocol.Error("forbidden", "no", "$.type"),
        protocol.ReleaseChanged(5, 1, protocol.Release("w1", "A", 10, 1, 990, 1, 300, left=10), "controller:x"),
        protocol.SoldOut(6, 1, "w1", "A", 4200),
        protocol.Returned(7, 1, "w1", 1, 1),
        protocol.CouponPushed(8, 1, protocol.Coupon("c1", "20 off", "amount", 2000, 100)),
        protocol.OrderChanged(9, 1, protocol.Order("o1", "r", "A", 1, 990, 990, 990, "v_1", 1)),
        protocol.ClaimResult("k", "w1", "sold_out"),
        protocol.CouponResult("k", "c1", "gone"),
        protocol.OrderResult(None, protocol.Order("o1", "r", "A", 1, 990, 990, 990, "v_1", 1)),
        protocol.TierChanged(10, 1, "warm", "cold", 60),
        protocol.ShowChanged(11, 1, protocol.Show([protocol.Segment("Warm up", 2)]), "host:amy"),
        protocol.SegmentBegan(12, 1, 0, 0, "Warm up"),
        protocol.PromptChanged(13, 1, protocol.Prompt("欢迎家人们")),
        protocol.BannerPushed(14, 1, protocol.Banner("8点放单", 1, 2)),
        protocol.AlertRaised(15, 1, protocol.Alert("cooling", "Room is cooling", 1, {"type": "push_line", "line": "s1"})),
        protocol.ActionLogged(16, 1, protocol.Action(1, "controller", "lily", "pin", '{"sku":"A"}', "ok")),
        protocol.ScriptsChanged(17, 1, [protocol.ScriptLine("s1", "welcome", "hi")]),
        protocol.LiveChanged(18, 1, "live", "controller:lily", None, 1, None),
    ]
    assert {tag(type(m)) for m in messages} == {tag(cls) for cls in get_args(ServerMessage)}
    for message in messages:
        decoded = json.loads(protocol.encode(message))
        assert decoded["type"] == tag(type(message))
    resume = json.loads(protocol.encode(messages[1]))
    assert resume["events"] == [{"type": "pinned"}]


def test_room_events_decode_back():
    event = protocol.Pinned(7, 1, None, None, "admin:x")
    assert protocol.decode_event(protocol.encode(event)) == event


def test_viewers_get_events_without_staff_subjects_or_presence_counts():
    release = protocol.Release("w1", "P1", 5, 1, 990, 1, 300, present={"g1": 3})
    for staff in (
        protocol.Pinned(7, 1, None, None, "controller:lily"),
        protocol.LineupChanged(8, 1, [], "admin:boss", ["P2"]),
        protocol.ReleaseChanged(9, 1, release, "controller:lily"),
    ):
        data = protocol.encode(staff)
        public = protocol.decode_event(protocol.for_viewers(json.loads(data)["type"], data))
        assert public.by == staff.by.split(":")[0]
        if isinstance(staff, protocol.ReleaseChanged):
            assert public.release == msgspec.structs.replace(release, present=None)
        else:
            assert msgspec.structs.replace(public, by=staff.by) == staff
    sold_out = protocol.encode(protocol.SoldOut(10, 1, "w1", "P1", 400))
    assert protocol.for_viewers("sold_out", sold_out) is sold_out  # nothing to cut: the same bytes


def test_json_schema_covers_every_message():
    schema = protocol.json_schema()
    names = set(schema["$defs"])
    for cls in (*get_args(ClientMessage), *get_args(ServerMessage)):
        assert cls.__name__ in names


def test_protocol_doc_documents_every_message_and_close_code():
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### `([a-z_]+)`", doc, flags=re.M))
    assert headings == {tag(cls) for cls in (*get_args(ClientMessage), *get_args(ServerMessage))}
    for name in dir(protocol):
        if name.startswith("CLOSE_"):
            assert str(getattr(protocol, name)) in doc, name


def test_each_client_message_names_the_roles_that_may_send_it():
    for cls in get_args(ClientMessage):
        assert cls.roles and cls.roles <= set(protocol.ROLES)
    assert protocol.Pin.roles == {"controller", "admin"}
    assert "viewer" in protocol.Like.roles
    pacing = (protocol.SetPacing, protocol.SetShow, protocol.ShowControl, protocol.PushLine, protocol.PushBanner,
              protocol.AddScriptLines, protocol.DeleteScriptLine)
    for cls in pacing:  # only the controller and the host (and admins) pace the room
        assert cls.roles == {"controller", "host", "admin"}, cls
    assert protocol.SENDERS == {cls.__struct_config__.tag: cls.roles for cls in get_args(ClientMessage)}


def _structs(t, seen=None):
    """Every struct type inside msgspec type info `t`."""
    seen = set() if seen is None else seen
    if isinstance(t, msgspec.inspect.StructType):
        if t.cls in seen:
            return
        seen.add(t.cls)
        yield t
        for f in t.fields:
            yield from _structs(f.type, seen)
        return
    for inner in [getattr(t, a) for a in ("item_type", "key_type", "value_type", "type") if hasattr(t, a)]:
        yield from _structs(inner, seen)
    for inner in (*getattr(t, "types", ()), *getattr(t, "item_types", ())):
        yield from _structs(inner, seen)


def test_every_record_a_store_keeps_decodes_with_a_field_a_newer_release_added():
    """A release rolled back onto data a newer one wrote must start and read it."""
    from live.ops.tables import SCHEMA

    for table in SCHEMA.tables:
        strict = [t.cls.__name__ for t in _structs(msgspec.inspect.type_info(table.record)) if t.forbid_unknown_fields]
        assert not strict, f"{table.name}: {strict} forbid unknown fields"


@pytest.mark.parametrize(
    "body, kind, path",
    [
        ({"id": "b", "name": "B", "newer": 1}, protocol.Brand, "$.newer"),
        ({"id": "b", "name": "B", "rules": {"newer": 1}}, protocol.Brand, "$.rules.newer"),
        ({"id": "b", "name": "B", "rates": [{"scope": "brand", "level": 1, "bp": 5, "newer": 1}]}, protocol.Brand,
         "$.rates[0].newer"),
        ({"room": "r1", "touches": [], "rules": {"newer": 1}}, protocol.Simulation, "$.rules.newer"),
        ({"sku": "A", "title": "t", "price": 1, "newer": 1}, protocol.Product, "$.newer"),
    ],
)
def test_input_refuses_a_field_its_record_type_tolerates(body, kind, path):
    """The admin API's bodies and imports, decoded in the one strict place, refuse it
    (named before any other error of its object, as a strict type would)."""
    with pytest.raises(BadMessage) as raised:
        protocol.decode_input(json.dumps(body), kind)
    assert raised.value.path == path
    with pytest.raises(msgspec.ValidationError, match="unknown field `newer`"):
        protocol.strict.convert(body, kind)
    del body["id" if "id" in body else "room" if "room" in body else "sku"]
    with pytest.raises(msgspec.ValidationError, match="unknown field `newer`"):
        protocol.strict.convert(body, kind)
