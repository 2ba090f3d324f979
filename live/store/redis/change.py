"""One atomic change of a room, built in Python and committed by `commit.lua`.

An op reads what it needs, decides with the same rules as the local store, and
describes the result: the values it read that must still hold (`expect`), the writes,
and the events. The script checks, writes and numbers the events in one step; if a
check fails nothing happens and the op decides again on fresh reads (`RedisStore._atomic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from .. import base
from ... import protocol
from .keys import RoomKeys

ABSENT = b"\0"


def numbered(data: bytes, seq: int) -> bytes:
    """The event as `commit.lua` stored it: its `"seq":0` made `seq`."""
    return data.replace(b'"seq":0,', b'"seq":%d,' % seq, 1)


@dataclass(slots=True)
class Change:
    room: str
    keys: RoomKeys
    checks: list[tuple[str, bytes | str, bytes]] = field(default_factory=list)
    writes: list[tuple[str, str, bytes | str, bytes | str | int]] = field(default_factory=list)
    events: list[tuple[str, str, int, bytes]] = field(default_factory=list)

    def expect(self, key: str, name: bytes | str, value: bytes | None) -> None:
        """`key[name]` must still be `value` (None: still absent) when this commits."""
        self.checks.append((key, name, ABSENT if value is None else value))

    def hset(self, key: str, name: str, value: bytes | str | int | msgspec.Struct) -> None:
        self.writes.append(("hset", key, name, protocol.encode(value) if isinstance(value, msgspec.Struct) else value))

    def hdel(self, key: str, name: str) -> None:
        self.writes.append(("hdel", key, name, ""))

    def hincrby(self, key: str, name: str, n: int) -> None:
        self.writes.append(("hincrby", key, name, n))

    def rpush(self, key: str, value: bytes | str) -> None:
        self.writes.append(("rpush", key, "", value))

    def sadd(self, key: str, value: str) -> None:
        self.writes.append(("sadd", key, "", value))

    def srem(self, key: str, value: str) -> None:
        self.writes.append(("srem", key, "", value))

    def set(self, key: str, value: bytes | str | int) -> None:
        self.writes.append(("set", key, "", value))

    def event(self, kind: str, audience: str, ts: int, message: msgspec.Struct) -> None:
        """`message` is built with seq 0; the script gives it the room's next seq."""
        self.events.append((kind, audience, ts, protocol.encode(message)))

    def script_args(self, window: int) -> tuple[list[str], list]:
        keys = [self.keys.seq, self.keys.log, self.keys.archive]
        index: dict[str, int] = {}

        def at(key: str) -> int:
            if key not in index:
                keys.append(key)
                index[key] = len(keys)
            return index[key]

        args: list = [window, len(self.checks)]
        for key, name, value in self.checks:
            args += [at(key), name, value]
        args.append(len(self.writes))
        for op, key, name, value in self.writes:
            args += [op, at(key), name, value]
        args.append(len(self.events))
        for kind, audience, ts, data in self.events:
            args += [kind, audience, ts, data]
        return keys, args

    def committed(self, first: int) -> list[base.Event]:
        return [
            base.Event(self.room, first + i, ts, kind, audience, numbered(data, first + i))
            for i, (kind, audience, ts, data) in enumerate(self.events)
        ]
