"""Where everything lives in Redis.

Catalog and people are shared by every room: they sit under the global hash tag
`{<prefix>}`. Everything of one room sits under its own tag `{<prefix>:room:<id>}`, so
each script that changes a room touches one hash slot and runs on Redis Cluster too.
"""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        g = "{" + prefix + "}"
        self.products = f"{g}:products"
        self.rooms = f"{g}:rooms"
        self.beats = f"{g}:beats"  # worker -> its last heartbeat (ms)
        self.shops = f"{g}:shops"
        self.brands = f"{g}:brands"
        self.guides = f"{g}:guides"
        self.distributors = f"{g}:distributors"
        self.codes = f"{g}:codes"  # checkout code -> guide or distributor
        self.links = f"{g}:links"
        self.ids = f"{g}:ids"  # id prefix -> last number

    def worker(self, worker: str) -> str:
        """Exists while the worker beats (a TTL): a dead worker's viewers stop counting."""
        return "{" + self.prefix + "}:worker:" + worker

    def room(self, room_id: str) -> RoomKeys:
        return RoomKeys("{" + self.prefix + ":room:" + room_id + "}")


class RoomKeys:
    __slots__ = (
        "tag", "seq", "log", "archive", "state", "scripts", "sessions", "numbers", "minutes", "tally", "seen",
        "workers", "brought", "visits", "on_prefix", "releases", "holds", "orders", "coupons", "coupon_claims",
        "pacing", "actions", "index", "paid_by",
    )

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.seq = f"{tag}:seq"
        self.log = f"{tag}:log"  # the resume window: stream ids are 0-<seq>
        self.archive = f"{tag}:archive"  # every event, for the review
        self.state = f"{tag}:state"  # lineup, pinned, off_sale
        self.scripts = f"{tag}:scripts"
        self.sessions = f"{tag}:sessions"
        self.numbers = f"{tag}:numbers"
        self.minutes = f"{tag}:minutes"
        self.tally = f"{tag}:tally"
        self.seen = f"{tag}:seen"
        self.workers = f"{tag}:workers"
        self.brought = f"{tag}:brought"
        self.visits = f"{tag}:visits"
        self.on_prefix = f"{tag}:on:"
        self.releases = f"{tag}:releases"
        self.holds = f"{tag}:holds"
        self.orders = f"{tag}:orders"
        self.coupons = f"{tag}:coupons"
        self.coupon_claims = f"{tag}:coupon_claims"
        self.pacing = f"{tag}:pacing"
        self.actions = f"{tag}:actions"
        self.paid_by = f"{tag}:paid_by"  # buyer -> paid orders standing
        self.index = f"{tag}:index"  # secondary indexes: "<kind>:<key>" -> value

    def on(self, worker: str) -> str:
        return self.on_prefix + worker
