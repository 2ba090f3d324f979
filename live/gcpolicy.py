"""Keep CPython's cyclic garbage collector from stalling a big room.

A full collection walks every tracked object. At 10,000 viewers (about 110 objects
each) that is a 0.5 s stall of the event loop, for every viewer at once, and CPython
runs one each time the heap has grown by a quarter: a dozen during a wave of joins,
then again every few thousand entries of churn. It finds nothing: a live connection's
objects are long-lived, and a closed one is freed by reference counting
(`live.web.transport` breaks its cycles), so scanning them is pure stall.

So once the process holds many connections, and after each growth of a tenth,
`gc.freeze()` moves every object alive into the permanent generation that collections
skip; young objects are collected first, so little garbage gets frozen with them.
When the connections fall to half of what was frozen, `gc.unfreeze()` hands everything
back to the collector, whose next full pass is then over a much smaller heap.

The store's records grow the same way without a single connection (a tracked link
records a click per new phone, thousands a second): after each full collection, what
survived it is long-lived, so `settle()` (every hub tick) freezes it too, and the next
full collection walks only what is newer.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("live.gc")


class GcPolicy:
    def __init__(self, min_connections: int = 1000, growth: float = 1.1) -> None:
        self.min_connections = min_connections
        self.growth = growth
        self.frozen_at = 0
        self.full_collections = gc.get_stats()[2]["collections"]

    def observe(self, connections: int) -> None:
        """Call now and then (the hub does, every sweep) with the connection count."""
        if connections >= self.min_connections and connections >= self.frozen_at * self.growth:
            gc.collect(1)
            gc.freeze()
            self.frozen_at = connections
        elif self.frozen_at and connections < self.frozen_at / 2:
            log.info("unfreezing %d objects (connections %d, frozen at %d)", gc.get_freeze_count(), connections, self.frozen_at)
            gc.unfreeze()
            self.frozen_at = 0

    def settle(self) -> None:
        """Call often (the hub does, every tick): freeze what a full collection left."""
        full = gc.get_stats()[2]["collections"]
        if full != self.full_collections:
            self.full_collections = full
            gc.freeze()
