"""The Redis contract suites run every script call through `one_slot_per_script`, so a
script whose keys span hash slots (it would fail on Redis Cluster) fails them: this
checks that the check itself bites."""

from __future__ import annotations

import pytest

from live.ops.tables import PRODUCTS
from tests.stores import Clock, make_store


async def test_a_script_call_across_hash_slots_is_refused(tmp_path):
    store = make_store("redis", tmp_path / "store", Clock())
    await store.open()
    try:
        adapter = store.store
        products = adapter.k.counters("", PRODUCTS)
        with pytest.raises(AssertionError, match="spans hash slots"):
            adapter.lua["take"](keys=[products, adapter.k.room("r1").seq], args=["S1:stock", 1])
        assert await adapter.lua["take"](keys=[products], args=["nope:stock", 1]) == [0, 0]  # one slot: runs
    finally:
        await store.close()
