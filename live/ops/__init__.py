"""Every business op of `live`, written once, above the stores.

An op reads through a transaction of the store it is given, decides with the rules
of `live/domain/`, and hands the store one change to commit (`core.py`). The store
is a thin adapter (`live/store/`): it never knows what a release or a coupon is, so
every op here runs unchanged on every store. `Ops` gathers them: it is what the
hub, the command handlers and the web layer call.

Where each rule lives:

| ops module | what | rules from |
| --- | --- | --- |
| `lives.py` | creating, copying, starting and ending a live | `domain/lives.py` |
| `rooms.py` | rooms, catalog, lineup, pin, snapshots, history | `domain/lives.py` |
| `releases.py` | on/off sale, releases, the claim, unit moves | `domain/releases.py`, `domain/audience.py` |
| `orders.py` | checkout, pay, cancel, refund, shop reports, expiry | `domain/pricing.py` |
| `coupons.py` | coupon campaigns, pushes, claims | `domain/coupons.py` |
| `people.py` | brands, stores, guides, distributors, links, clicks | `domain/people.py` |
| `attribution.py` | who brought a viewer and an order | `domain/attribution.py` |
| `ledger.py` | commissions, payouts, reassignment | `domain/ledger.py` |
| `numbers.py` | the live numbers and boards | `domain/numbers.py`, `domain/alerts.py` |
| `pacing.py` | scripts, tiers, run-of-show, prompts, alerts, control log | `domain/tiers.py`, `domain/runofshow.py`, `domain/prompts.py`, `domain/alerts.py` |
| `reports.py` | a guide's portal figures | `domain/ledger.py` |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..store import Store, open_store
from .core import Actor
from .coupons import Coupons
from .lives import Lives, LiveSummary
from .numbers import Figures
from .orders import OrderReport, Orders
from .pacing import Pacer
from .releases import Releases
from .reports import Reports
from .rooms import RoomHistory, RoomState, Rooms
from .tables import HOT, SCHEMA

__all__ = ["Actor", "LiveSummary", "OrderReport", "Ops", "RoomHistory", "RoomState", "open_ops"]


class Ops(Lives, Rooms, Releases, Orders, Coupons, Pacer, Figures, Reports):
    """The business API of `live` over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rooms_seen = set()
        self._terms = {}
        self._limits = {}
        self._links = {}
        self._flights = {}

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    async def ready(self) -> None:
        """Return once a command could commit; `StoreUnavailable` otherwise."""
        await self.store.ready()


def open_ops(url: str, data_dir: Path, clock: Callable[[], int] | None = None) -> Ops:
    """The ops over the store `url` names (see `live.store.open_store`), not yet opened."""
    return Ops(open_store(url, data_dir, SCHEMA, HOT, clock))
