"""What `/metrics` shows: one `Metrics` per app, built by `create_app()`.

Every metric lives in the app's own `CollectorRegistry` (never prometheus_client's
global one), so a test can build as many apps as it likes. Label sets are bounded:
roles, protocol message types, claim outcomes, close codes from a fixed list, op names
(the methods of `live.ops.Ops`), store error kinds. No viewer ids, no room ids.

The hot paths stay cheap: the hub adds `len(connections)` to the frame counter once
per event, never per viewer, and times each event's fan-out once; children of labelled
metrics that the hot paths touch are resolved once, here.

Ops are timed in one place, `instrument(ops)`, which puts a `TimedStore` in front of
them: every op, on every store, is measured and its errors counted without a line in
the ops or the stores.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from . import protocol
from .errors import LiveError, StoreUnavailable
from .ops import Ops

__all__ = ["CONTENT_TYPE", "Metrics"]

# The classic text format, which every Prometheus reads; every name and label here is a
# legacy-valid one, so `generate_latest()` writes exactly that.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ROLES = ("viewer", *sorted(protocol.STAFF))
CLAIM_OUTCOMES = (*typing.get_args(typing.get_type_hints(protocol.ClaimResult)["outcome"]), "error")
COUPON_OUTCOMES = (*typing.get_args(typing.get_type_hints(protocol.CouponResult)["outcome"]), "error")
# A frame that did not decode, and one dropped by the rate limit before decoding.
MESSAGE_INVALID, MESSAGE_DROPPED = "invalid", "dropped"
# Close codes we label by name; any other code a client sends is `other`.
CLOSE_CODES = frozenset({
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1012,
    protocol.CLOSE_BAD_HELLO, protocol.CLOSE_UNAUTHORIZED, protocol.CLOSE_ROOM_NOT_FOUND,
    protocol.CLOSE_SLOW_CONSUMER, protocol.CLOSE_IDLE, protocol.CLOSE_RATE_LIMITED,
})
ADDRESS_LIMITS = ("sockets", "new_viewers", "clicks", "commands")
STORE_ERROR_KINDS = ("unavailable", "timeout", "connection", "redis", "unexpected")
# Base class names (anywhere in an exception's MRO) and their kind, first match wins:
# redis-py's errors are matched by name, so this module never imports redis.
_ERROR_KIND_BY_NAME = {
    "StoreUnavailable": "unavailable",
    "TimeoutError": "timeout",
    "ConnectionError": "connection",
    "RedisError": "redis",
}
FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STORE_OPS = tuple(sorted(
    name for name in dir(Ops)
    if not name.startswith("_") and inspect.iscoroutinefunction(getattr(Ops, name)) and name not in ("open", "close", "run", "events_of")
))


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.connections = Gauge(
            "live_connections", "Open room websocket connections, by role.", ["role"], registry=registry)
        self.connections_opened = Counter(
            "live_connections_opened", "Room websocket connections that joined a room, by role.", ["role"],
            registry=registry)
        self.connections_closed = Counter(
            "live_connections_closed",
            "Room websocket connections that left, by role and close code (who closed it says the code: "
            "4008 slow consumer, 4009 idle, 4029 rate limited, 4001 token expired; 1000/1001/1005/1006 the client).",
            ["role", "code"], registry=registry)
        self.rooms_active = Gauge(
            "live_rooms_active", "Rooms with at least one open connection in this process.", registry=registry)
        self.messages_in = Counter(
            "live_messages_in", "Websocket messages received, by protocol message type "
            "(`invalid`: did not decode; `dropped`: over the rate limit).", ["type"], registry=registry)
        self.messages_out = Counter(
            "live_messages_out", "Websocket frames the hub wrote: `broadcast` (room events and ticks, one per "
            "connection) and `direct` (snapshots, resumes, replies and errors to one connection).", ["kind"],
            registry=registry)
        self.fanout_seconds = Histogram(
            "live_fanout_seconds", "Time for the hub to write one room event to all its connections.",
            buckets=FAST_BUCKETS, registry=registry)
        self.claims = Counter("live_claims", "Stock claims (tap to buy), by outcome.", ["outcome"], registry=registry)
        self.coupon_claims = Counter(
            "live_coupon_claims", "Coupon claims, by outcome.", ["outcome"], registry=registry)
        self.store_op_seconds = Histogram(
            "live_store_op_seconds", "Latency of store operations, by op (the Store method).", ["op"],
            buckets=FAST_BUCKETS, registry=registry)
        self.store_errors = Counter(
            "live_store_errors", "Store operations that failed for the store's sake, not the request's: "
            "`unavailable` (StoreUnavailable: the store cannot take writes, or Redis is unreachable), "
            "`timeout`, `connection`, `redis` (any other Redis error), `unexpected`.", ["kind"],
            registry=registry)
        self.slow_consumer_closes = Counter(
            "live_slow_consumer_closes", "Connections closed because their unsent bytes passed the backlog "
            "bound (close code 4008).", registry=registry)
        self.address_limited = Counter(
            "live_address_limited", "What a limit per client address or token subject refused: `sockets` "
            "(open websockets), `new_viewers` (viewer ids minted), `clicks` (counted link clicks; the click "
            "was still redirected), `commands` (HTTP command API).", ["limit"], registry=registry)
        self.header_timeouts = Counter(
            "live_header_timeouts", "Connections closed because their request head did not arrive within "
            "LIVE_HEADER_TIMEOUT_S.", registry=registry)

        # Children the hot paths use, resolved once; bounded label sets show at zero.
        self.role_open = {role: self.connections.labels(role) for role in ROLES}
        for role in ROLES:
            self.connections_opened.labels(role)
        self.claim_outcomes = {outcome: self.claims.labels(outcome) for outcome in CLAIM_OUTCOMES}
        self.coupon_outcomes = {outcome: self.coupon_claims.labels(outcome) for outcome in COUPON_OUTCOMES}
        self.messages_in_by_class = {
            cls: self.messages_in.labels(cls.__struct_config__.tag) for cls in typing.get_args(protocol.ClientMessage)
        }
        self.messages_invalid = self.messages_in.labels(MESSAGE_INVALID)
        self.messages_dropped = self.messages_in.labels(MESSAGE_DROPPED)
        self.broadcast_out = self.messages_out.labels("broadcast")
        self.direct_out = self.messages_out.labels("direct")
        self.store_error_kinds = {kind: self.store_errors.labels(kind) for kind in STORE_ERROR_KINDS}
        self.limited = {limit: self.address_limited.labels(limit) for limit in ADDRESS_LIMITS}

    # --- exposition -----------------------------------------------------------------

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

    # --- connections ----------------------------------------------------------------

    def opened(self, role: str) -> None:
        role = role if role in self.role_open else "other"
        self.connections_opened.labels(role).inc()
        self.connections.labels(role).inc()

    def closed(self, role: str, code: int | None) -> None:
        """`code`: the close code, when known (None: the connection ended otherwise)."""
        role = role if role in self.role_open else "other"
        self.connections.labels(role).dec()
        label = "none" if code is None else str(code) if code in CLOSE_CODES else "other"
        self.connections_closed.labels(role, label).inc()

    def watch_rooms(self, count: Callable[[], int]) -> None:
        """`live_rooms_active` asks `count` at scrape time: nothing to keep up to date."""
        self.rooms_active.set_function(count)

    # --- messages and outcomes ------------------------------------------------------

    def message_in(self, message: object) -> None:
        child = self.messages_in_by_class.get(type(message))
        (child or self.messages_invalid).inc()

    def claim(self, outcome: str) -> None:
        self.claim_outcomes.get(outcome, self.claim_outcomes["error"]).inc()

    def coupon_claim(self, outcome: str) -> None:
        self.coupon_outcomes.get(outcome, self.coupon_outcomes["error"]).inc()

    # --- the store ------------------------------------------------------------------

    def store_error(self, exc: BaseException) -> None:
        self.store_error_kinds[error_kind(exc)].inc()

    def instrument(self, store: Ops) -> Ops:
        """The ops with every one of them timed and its failures counted (domain
        refusals such as `NotFound` are answers, not failures)."""
        return TimedStore(store, self)  # type: ignore[return-value]

    def _timed(self, op: str, method: Callable[..., typing.Awaitable]) -> Callable[..., typing.Awaitable]:
        child = self.store_op_seconds.labels(op)
        perf_counter = time.perf_counter

        @functools.wraps(method)
        async def timed(*args, **kwargs):
            start = perf_counter()
            try:
                return await method(*args, **kwargs)
            except StoreUnavailable as exc:
                self.store_error(exc)
                raise
            except LiveError:
                raise
            except Exception as exc:
                self.store_error(exc)
                raise
            finally:
                child.observe(perf_counter() - start)

        return timed


class TimedStore:
    """The ops seen through their metrics: each op timed, everything else passed
    through. An op's calls to other ops do not come through here, so an op is counted
    once, and a tracked-link click pays for two clocks, not for context variables."""

    def __init__(self, store: Ops, metrics: Metrics) -> None:
        self.store = store
        for op in STORE_OPS:
            method = getattr(store, op, None)
            if method is not None and inspect.iscoroutinefunction(method):
                setattr(self, op, metrics._timed(op, method))

    def __getattr__(self, name: str):
        return getattr(self.store, name)


def error_kind(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        kind = _ERROR_KIND_BY_NAME.get(cls.__name__)
        if kind is not None:
            return kind
    return "unexpected"
