"""What a change writes, as the Lua scripts take it: KEYS named once each, and
(op, key index, field, value) writes that `lib.lua`'s `apply` runs.

A record's writes follow from its table's description alone: the record, a new
record's counters, the index entries it gains or loses, its contributions to sums.
The commit, the hot primitives and the benchmark build their calls here, so the
scripts' arguments are described once.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..schema import Table
from ..tx import index_entries, sum_entries
from .keys import Keys

_encode = msgspec.json.Encoder().encode
Write = tuple[str, str, str, "bytes | str | int"]  # (op, redis key, field, value)


class Call:
    """The KEYS and ARGV of one script call."""

    def __init__(self, *first: str) -> None:
        self.keys: list[str] = []
        self.args: list = []
        self._at: dict[str, int] = {}
        for key in first:
            self.key(key)

    def key(self, key: str) -> int:
        """`key`'s index in KEYS (1-based, as Lua counts)."""
        at = self._at.get(key)
        if at is None:
            self.keys.append(key)
            at = self._at[key] = len(self.keys)
        return at

    def writes(self, writes: list[Write]) -> None:
        """Append a count and the writes, their keys as indexes."""
        self.args.append(len(writes))
        for op, key, field, value in writes:
            self.args += [op, self.key(key), field, value]


def record_writes(keys: Keys, table: Table, scope: str, key: str, new: Any, old: Any) -> list[Write]:
    """The writes that replace `old` with `new` (None: absent) under `key`."""
    out: list[Write] = []
    records = keys.records(scope, table)
    if new is not None:
        out.append(("hset", records, key, _encode(new)))
    else:
        out.append(("hdel", records, key, ""))
    counters = keys.counters(scope, table)
    for name in table.counters:
        if new is not None and old is None:
            out.append(("hset", counters, f"{key}:{name}", getattr(new, name) or 0))
        elif new is None:
            out.append(("hdel", counters, f"{key}:{name}", ""))
    before = {(index, value): score for index, value, score in index_entries(table, old)} if old is not None else {}
    after = {(index, value): score for index, value, score in index_entries(table, new)} if new is not None else {}
    for (index, value), score in before.items():
        if (index, value) in after:
            continue
        if index.unique:
            out.append(("hdel", keys.unique(scope, index), value, ""))
        else:
            out.append(("zrem", keys.entries(scope, index, value), key, ""))
    for (index, value), score in after.items():
        if (index, value) in before and before[(index, value)] == score:
            continue
        if index.unique:
            out.append(("hset", keys.unique(scope, index), value, key))
        else:
            out.append(("zadd", keys.entries(scope, index, value), key, score if score is not None else ""))
    sums: dict[tuple[str, str], int] = {}
    for record, sign in ((old, -1), (new, 1)):
        if record is not None:
            for part, group, n in sum_entries(table, record):
                at = (keys.sums(scope, part), group)
                sums[at] = sums.get(at, 0) + sign * n
    out += [("sum", sums_key, group, n) for (sums_key, group), n in sums.items() if n]
    return out


def unique_claims(keys: Keys, table: Table, scope: str, key: str, new: Any, old: Any) -> list[tuple[str, str, str]]:
    """(unique index hash, value, key) for each unique value `new` takes that `old` did
    not have: the commit checks nobody else holds it."""
    if new is None:
        return []
    before = {(i, v) for i, v, _ in index_entries(table, old)} if old is not None else set()
    return [(keys.unique(scope, i), v, key) for i, v, _ in index_entries(table, new) if i.unique and (i, v) not in before]
