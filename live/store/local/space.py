"""One scope's records in memory (a live room's, or the global one), with their index
entries, sums and bags, kept exactly as `live/store/schema.py` describes them.

Records are replaced, never changed in place, so the object a transaction read is its
version: the commit checks it is still the one here. A table that is not resident
keeps here only its sums (on disk, rows of `bags`); its records and index entries are
read from SQLite (`store.py`).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Any

import msgspec

from ..schema import Index, Sum, Table, counter_value
from ..tx import index_entries, sum_entries


class Scored:
    """A scored index: keys by score, lowest first (a heap with lazy deletion)."""

    __slots__ = ("scores", "heap")

    def __init__(self) -> None:
        self.scores: dict[str, int] = {}
        self.heap: list[tuple[int, str]] = []

    def add(self, key: str, score: int) -> None:
        if self.scores.get(key) != score:
            heapq.heappush(self.heap, (score, key))
        self.scores[key] = score

    def remove(self, key: str) -> None:
        self.scores.pop(key, None)

    def due(self, until: int, limit: int) -> list[str]:
        out: list[str] = []
        while self.heap and len(out) < limit:
            score, key = self.heap[0]
            if self.scores.get(key) != score or key in out:
                heapq.heappop(self.heap)  # removed, re-scored or re-added since
                continue
            if score > until:
                break
            out.append(key)
            heapq.heappop(self.heap)
        for key in out:  # looking does not take them out
            heapq.heappush(self.heap, (self.scores[key], key))
        return out


class Space:
    __slots__ = ("scope", "records", "unique", "multi", "scored", "sums", "bags")

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.records: dict[str, dict[str, Any]] = defaultdict(dict)
        self.unique: dict[str, dict[str, str]] = defaultdict(dict)
        self.multi: dict[str, dict[str, dict[str, None]]] = defaultdict(lambda: defaultdict(dict))
        self.scored: dict[str, dict[str, Scored]] = defaultdict(lambda: defaultdict(Scored))
        self.sums: dict[str, dict[str, int]] = defaultdict(dict)
        self.bags: dict[str, dict[str, int]] = defaultdict(dict)

    # --- reads ----------------------------------------------------------------------

    def get(self, table: Table, key: str) -> Any:
        return self.records[table.name].get(key)

    def find(self, index: Index, value: str) -> list[str]:
        name = _name(index)
        if index.score is not None:
            return list(self.scored[name][value].scores)
        if index.unique:
            key = self.unique[name].get(value)
            return [] if key is None else [key]
        return list(self.multi[name].get(value, ()))

    def due(self, index: Index, value: str, until: int, limit: int) -> list[str]:
        scored = self.scored[_name(index)].get(value)
        return [] if scored is None else scored.due(until, limit)

    def total(self, part: Sum, group: str) -> int:
        return self.sums[_name(part)].get(group, 0)

    # --- changes ----------------------------------------------------------------------

    def put(self, table: Table, key: str, record: Any, old: Any, indexed: bool = True) -> None:
        """Store `record` under `key` (replacing `old`), keeping its index entries (if
        `indexed`: a resident table's) and its sums."""
        if indexed:
            if old is not None:
                self.unindex(table, key, old)
            self.index(table, key, record)
            self.records[table.name][key] = record
        self.sum(table, old, -1)
        self.sum(table, record, +1)

    def delete(self, table: Table, key: str, old: Any, indexed: bool = True) -> None:
        if indexed:
            self.unindex(table, key, old)
            self.records[table.name].pop(key, None)
        self.sum(table, old, -1)

    def index(self, table: Table, key: str, record: Any) -> None:
        for index, value, score in index_entries(table, record):
            name = _name(index)
            if score is not None:
                self.scored[name][value].add(key, score)
            elif index.unique:
                self.unique[name][value] = key
            else:
                self.multi[name][value][key] = None

    def unindex(self, table: Table, key: str, record: Any) -> None:
        for index, value, score in index_entries(table, record):
            name = _name(index)
            if score is not None:
                self.scored[name][value].remove(key)
            elif index.unique:
                if self.unique[name].get(value) == key:
                    del self.unique[name][value]
            else:
                keys = self.multi[name].get(value)
                if keys is not None:
                    keys.pop(key, None)
                    if not keys:
                        del self.multi[name][value]

    def sum(self, table: Table, record: Any, sign: int) -> dict[str, dict[str, int]]:
        """Add (or take off) the record's contributions; the groups changed, by sum."""
        changed: dict[str, dict[str, int]] = {}
        if record is None:
            return changed
        for part, group, n in sum_entries(table, record):
            name = _name(part)
            sums = self.sums[name]
            value = sums.get(group, 0) + sign * n
            if value:
                sums[group] = value
            else:
                sums.pop(group, None)
            changed.setdefault(name, {})[group] = value
        return changed

    def set_counter(self, table: Table, key: str, field: str, value: int) -> Any:
        """Replace the record with its counter `field` set; the new record."""
        records = self.records[table.name]
        record = records[key]
        new = msgspec.structs.replace(record, **{field: counter_value(record, field, value)})
        records[key] = new
        return new

    def counter(self, table: Table, key: str, field: str) -> int:
        record = self.records[table.name].get(key)
        return 0 if record is None else getattr(record, field) or 0


def _name(part: Index | Sum) -> str:
    assert part.table is not None
    return f"{part.table.name}.{part.name}"


qualified = _name
