"""The stores every contract suite runs against, and the fake clock they are given.

`STORES` names each implementation; `make_store` builds one (not yet opened) on a
durable location with an injected clock. The `opener` fixture (in `conftest.py`) opens
stores of one kind on one location, so a test can close a store and open it again.
"""

from __future__ import annotations

from pathlib import Path

from live.store.local import LocalStore

STORES = ["local"]
T0 = 1_795_600_000_000


class Clock:
    """Server time (epoch ms) that moves only when a test moves it."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make_store(kind: str, where: Path, clock: Clock):
    if kind == "local":
        return LocalStore(where, clock=clock)
    raise AssertionError(kind)
