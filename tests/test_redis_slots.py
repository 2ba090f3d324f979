"""The Redis contract suites run every script call through `one_slot_per_script`, so a
script whose keys span hash slots (it would fail on Redis Cluster) fails them: this
checks that the check itself bites."""

from __future__ import annotations

import pytest

from tests.stores import Clock, make_store


async def test_a_script_call_across_hash_slots_is_refused(tmp_path):
    store = make_store("redis", tmp_path / "store", Clock())
    await store.open()
    try:
        room = store.k.room("r1")
        with pytest.raises(AssertionError, match="spans hash slots"):
            store.lua["stock"](keys=[store.k.products, room.seq], args=["S1", 1])
        assert await store.lua["stock"](keys=[store.k.products], args=["nope", 0]) == [0, -1]  # one slot: runs
    finally:
        await store.close()
