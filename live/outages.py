"""Background loops against a store that may be down: back off, and say so once.

A worker's background loops (the hub's ticks, which also expire holds; the Redis
store's presence beats, which also sweep dead workers; each room's event feed) call
the store on their own schedule. While it cannot be reached every turn fails, so each
loop paces its retries with a `Backoff` (exponential, bounded, jittered so that workers
do not come back in step), and each kind of loop shares one `Outage`, which logs one
line when the first of its loops starts failing and one when the last is back, with
how long it lasted and how many turns failed: an operator reads two lines per kind per
outage, whatever its length and however many rooms a worker follows.

Both lines are warnings with the fields `loop`, `outage` (`started` or `ended`) and, at
the end, `lasted_s` and `tries`. A failure the loop does not expect (a bug rather than
the store being away) gets its traceback in the first line.

A pause can be cut short (`Backoff.now()`): whoever learns that the store answers again
(a command that just committed, the readiness probe) lets the loop retry at once
instead of waiting out its pause. The formula is three lines, so it is written here
rather than taken from a retry library whose loop we would not use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from .errors import StoreUnavailable

# The store is away (as opposed to a bug): the store's own error, and the OS's.
AWAY: tuple[type[BaseException], ...] = (StoreUnavailable, OSError, TimeoutError)
# The lines are about the worker, not about the request or room whose task started a loop.
_WORKER = {"room": None, "request_id": None}


class Outage:
    """One kind of loop's view of the store: up, or down since when."""

    def __init__(self, loop: str, log: logging.Logger, away: tuple[type[BaseException], ...] = ()) -> None:
        self.loop = loop
        self._log = log
        self._away = AWAY + away
        self._failing: set[Backoff] = set()
        self._since = 0.0
        self._tries = 0

    @property
    def down(self) -> bool:
        return bool(self._failing)

    def backoff(self, first_s: float, cap_s: float, rng: Callable[[], float] = random.random) -> Backoff:
        """The pace of one loop of this kind."""
        return Backoff(self, first_s, cap_s, rng)

    def _failed(self, loop: Backoff, exc: BaseException) -> None:
        if self._failing:
            self._failing.add(loop)
            self._tries += 1
            return
        self._failing.add(loop)
        self._since = time.monotonic()
        self._tries = 1
        away = isinstance(exc, self._away)
        self._log.warning(
            "%s: outage started: %s", self.loop, _said(exc), exc_info=None if away else exc,
            extra={**_WORKER, "loop": self.loop, "outage": "started"},
        )

    def _recovered(self, loop: Backoff) -> None:
        if loop not in self._failing:
            return
        self._failing.discard(loop)
        if not self._failing:
            lasted = round(time.monotonic() - self._since, 3)
            self._log.warning(
                "%s: outage ended after %.1f s (%d failed tries)", self.loop, lasted, self._tries,
                extra={**_WORKER, "loop": self.loop, "outage": "ended", "lasted_s": lasted, "tries": self._tries},
            )

    def _forget(self, loop: Backoff) -> None:
        """A loop stopped (its room was let go, or the worker stops): it no longer
        counts, and says nothing (it did not see the store come back)."""
        self._failing.discard(loop)


class Backoff:
    """One loop's pace: `period` between turns while they work; while they fail, a pause
    that doubles from `first_s` up to `cap_s`, each drawn in [half, whole] of that."""

    def __init__(self, outage: Outage, first_s: float, cap_s: float, rng: Callable[[], float]) -> None:
        self._outage = outage
        self._first_s = first_s
        self._cap_s = cap_s
        self._rng = rng
        self.failures = 0
        self._wake = asyncio.Event()

    def delay(self) -> float:
        """The pause after the failures so far."""
        if not self.failures:
            return 0.0
        whole = min(self._cap_s, self._first_s * 2 ** min(self.failures - 1, 32))
        return whole / 2 + self._rng() * whole / 2

    async def pause(self, period: float = 0.0) -> None:
        """Wait before the next turn: `period` while things work, the backoff while they
        fail (cut short by `now()`)."""
        if not self.failures:
            if period > 0:
                await asyncio.sleep(period)
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.delay()):
                await self._wake.wait()

    def now(self) -> None:
        """Retry at once if pausing after a failure (the store is known to answer)."""
        if self.failures:
            self._wake.set()

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._outage._failed(self, exc)

    def succeeded(self) -> None:
        if self.failures:
            self.failures = 0
            self._outage._recovered(self)

    def forget(self) -> None:
        self._outage._forget(self)


def _said(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
