"""`live.metrics` on its own: store ops timed once each, store errors by kind, one
registry per app. The metrics of a real session are in tests/e2e/test_metrics.py."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from live.errors import NotFound, StoreUnavailable
from live.metrics import STORE_OPS, Metrics, error_kind


class RedisError(Exception):  # shaped like redis-py's tree, matched by name
    pass


class ConnectionError(RedisError):  # noqa: A001 - redis-py's name
    pass


class FakeStore:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def state(self, room_id):
        self.calls.append("state")
        return "state"

    async def claim(self, room_id, *args):
        self.calls.append("claim")
        return await self.state(room_id)  # an op inside an op: timed once, as `claim`

    async def list_rooms(self):
        raise StoreUnavailable("the local store stopped after a write failed")

    async def get_room(self, room_id):
        raise NotFound("no such room")

    async def orders(self, room_id, limit=50):
        raise RuntimeError("a bug")

    async def pin(self, room_id, sku, actor):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    def subscribe(self, room_id, listener):  # not a coroutine: left alone
        return "subscription"


def samples(metrics: Metrics) -> dict:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


async def test_store_ops_are_timed_once_and_failures_counted_by_kind():
    metrics = Metrics()
    store = metrics.instrument(FakeStore())
    assert await store.claim("r1", "w1") == "state"
    assert store.calls == ["claim", "state"]
    assert store.subscribe("r1", None) == "subscription"
    with pytest.raises(StoreUnavailable):
        await store.list_rooms()
    with pytest.raises(NotFound):
        await store.get_room("r1")
    with pytest.raises(RuntimeError):
        await store.orders("r1")
    with pytest.raises(ConnectionError):
        await store.pin("r1", "P1", None)
    await store.state("r1")

    values = samples(metrics)
    count = {op: values.get(("live_store_op_seconds_count", (("op", op),))) for op in
             ("claim", "state", "list_rooms", "get_room", "orders", "pin")}
    assert count == {"claim": 1, "state": 1, "list_rooms": 1, "get_room": 1, "orders": 1, "pin": 1}
    errors = {kind: values[("live_store_errors_total", (("kind", kind),))]
              for kind in ("unavailable", "timeout", "connection", "redis", "unexpected")}
    # NotFound is an answer, not a failure of the store
    assert errors == {"unavailable": 1, "timeout": 0, "connection": 1, "redis": 0, "unexpected": 1}


def test_error_kinds():
    assert error_kind(StoreUnavailable("x")) == "unavailable"
    assert error_kind(TimeoutError()) == "timeout"
    assert error_kind(ConnectionRefusedError()) == "connection"
    assert error_kind(RedisError()) == "redis"
    assert error_kind(KeyError()) == "unexpected"


def test_every_store_op_is_instrumented_and_open_close_are_not():
    assert {"claim", "state", "enter", "leave", "plan_release", "numbers"} <= set(STORE_OPS)
    assert "open" not in STORE_OPS and "close" not in STORE_OPS and "subscribe" not in STORE_OPS


def test_each_app_has_its_own_registry():
    one, two = Metrics(), Metrics()
    one.claim("claimed")
    one.opened("viewer")
    assert samples(one)[("live_claims_total", (("outcome", "claimed"),))] == 1
    assert samples(two)[("live_claims_total", (("outcome", "claimed"),))] == 0
    assert samples(one)[("live_connections", (("role", "viewer"),))] == 1


def test_label_values_stay_bounded():
    metrics = Metrics()
    metrics.opened("viewer")
    for code in (1000, 3999, 4123, 4999, None):
        metrics.opened("viewer")
        metrics.closed("viewer", code)
    metrics.claim("something new")
    values = samples(metrics)
    closed = {dict(labels)["code"]: v for (name, labels), v in values.items() if name == "live_connections_closed_total"}
    assert closed == {"1000": 1, "other": 3, "none": 1}
    assert values[("live_claims_total", (("outcome", "error"),))] == 1
    assert values[("live_connections", (("role", "viewer"),))] == 1
