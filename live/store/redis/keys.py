"""Where everything lives in Redis, from the tables' description alone.

Every key of a scope shares its hash tag: `{<prefix>}` for global records, and
`{<prefix>:room:<id>}` for a room's, so each script touches one hash slot and runs on
Redis Cluster too. Within a scope `T`:

| key | type | holds |
| --- | --- | --- |
| `T:t:<table>` | hash | record key -> the record (msgspec JSON) |
| `T:n:<table>` | hash | "<key>:<counter>" -> int: the counters, apart from the records |
| `T:u:<table>.<index>` | hash | value -> key, for a unique index |
| `T:i:<table>.<index>:<value>` | sorted set | keys, by score (a scored index's, or 1, 2, 3... in the order they came) |
| `T:s:<table>.<sum>` | hash | group -> its sum (a group at zero is deleted, so HLEN counts the others) |
| `T:b:<bag>` | hash | name -> int |
| `T:seq`, `T:log`, `T:archive` | string, stream, list | a room's last seq; its events (ids `0-<seq>`, trimmed) for resumes; every event, for the review |
| `T:sessions` ... `T:samples` | | presence (`presence.py`) |
"""

from __future__ import annotations

from ..schema import GLOBAL, Bag, Index, Sum, Table

class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.global_tag = "{" + prefix + "}"
        self.ids = f"{self.global_tag}:ids"  # id prefix -> last number reserved
        self.beats = f"{self.global_tag}:beats"  # worker -> its last heartbeat (ms)

    def tag(self, scope: str) -> str:
        return self.global_tag if scope == GLOBAL else "{" + self.prefix + ":room:" + scope + "}"

    def records(self, scope: str, table: Table) -> str:
        return f"{self.tag(scope)}:t:{table.name}"

    def counters(self, scope: str, table: Table) -> str:
        return f"{self.tag(scope)}:n:{table.name}"

    def unique(self, scope: str, index: Index) -> str:
        assert index.table is not None
        return f"{self.tag(scope)}:u:{index.table.name}.{index.name}"

    def entries(self, scope: str, index: Index, value: str) -> str:
        assert index.table is not None
        return f"{self.tag(scope)}:i:{index.table.name}.{index.name}:{value}"

    def sums(self, scope: str, part: Sum) -> str:
        assert part.table is not None
        return f"{self.tag(scope)}:s:{part.table.name}.{part.name}"

    def bag(self, scope: str, bag: Bag) -> str:
        return f"{self.tag(scope)}:b:{bag.name}"

    def room(self, room: str) -> RoomKeys:
        return RoomKeys(self.tag(room))

    def worker(self, worker: str) -> str:
        """Exists while the worker beats (a TTL): a dead worker's viewers stop counting."""
        return f"{self.global_tag}:worker:{worker}"


class RoomKeys:
    """A room's log and presence keys."""

    __slots__ = ("tag", "seq", "log", "archive", "sessions", "numbers", "minutes", "tally", "seen", "workers",
                 "brought", "visits", "on_prefix", "samples")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.seq = f"{tag}:seq"
        self.log = f"{tag}:log"
        self.archive = f"{tag}:archive"
        self.sessions = f"{tag}:sessions"
        self.numbers = f"{tag}:numbers"
        self.minutes = f"{tag}:minutes"
        self.tally = f"{tag}:tally"
        self.seen = f"{tag}:seen"
        self.workers = f"{tag}:workers"
        self.brought = f"{tag}:brought"
        self.visits = f"{tag}:visits"
        self.on_prefix = f"{tag}:on:"
        self.samples = f"{tag}:samples"

    def on(self, worker: str) -> str:
        return self.on_prefix + worker
