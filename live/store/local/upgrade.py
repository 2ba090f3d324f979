"""The first release's file, in today's layout.

The first release kept one SQLite table per kind of record (`rooms`, `releases`,
`orders`, `clicks`, `bindings`...) and summed history into memory when it started.
This turns those rows into records of today's tables (`records`, `entries`, `bags`),
works out what the first release kept only in memory (each room's presence totals
and order figures, who first paid when, the hints that point at rooms; its bindings
are the paid orders themselves now), and drops the
old tables, in the one transaction `database.open_database` runs it in. The record
shapes are the first release's; the tables they go to are the ops' (`live/ops/tables.py`),
named here because this conversion is about that one release's data.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from typing import Any

import msgspec

from ...domain.numbers import minute_of
from ..schema import GLOBAL, Schema, Table
from ..tx import index_entries, sum_entries
from .database import ADD_TO_BAG, LAYOUT, UPSERT_RECORD, has_table

OLD_TABLES = (
    "rooms", "products", "scripts", "shops", "guides", "releases", "holds", "orders", "coupons", "coupon_claims",
    "pacing", "brands", "distributors", "links", "clicks", "bindings", "self_viewers", "portals", "revoked_tokens",
    "ledger", "payouts",
)
ACTIONS_KEPT = 200
_NUMBERED = re.compile(r"^([a-z]+)(\d+)$")


class _Writer:
    def __init__(self, db: sqlite3.Connection, schema: Schema) -> None:
        self.db = db
        self.tables = {t.name: t for t in schema.tables}
        self.sums: dict[tuple[str, str, str], int] = defaultdict(int)  # (scope, sum, group) of on-demand tables
        self.ids: dict[str, int] = {}

    def put(self, scope: str, table_name: str, key: str, data: Any) -> None:
        """Write a record (a JSON text, bytes, or a dict) under `key`."""
        table = self.tables[table_name]
        raw = data if isinstance(data, bytes) else (data.encode() if isinstance(data, str) else json.dumps(data).encode())
        self.db.execute(UPSERT_RECORD, (scope, table.name, key, raw))
        numbered = _NUMBERED.match(key)
        if numbered:
            self.ids[numbered[1]] = max(self.ids.get(numbered[1], 0), int(numbered[2]))
        if not table.resident:
            record = msgspec.json.decode(raw, type=table.record)
            self._index(scope, table, key, record)

    def _index(self, scope: str, table: Table, key: str, record: Any) -> None:
        for index, value, score in index_entries(table, record):
            self.db.execute(
                "INSERT OR REPLACE INTO entries (ix, scope, value, key, score) VALUES (?, ?, ?, ?, ?)",
                (f"{table.name}.{index.name}", scope, value, key, score),
            )
        for part, group, n in sum_entries(table, record):
            self.sums[(scope, f"sum:{table.name}.{part.name}", group)] += n

    def bag(self, scope: str, bag: str, name: str, n: int) -> None:
        self.db.execute(ADD_TO_BAG, (scope, bag, name, n))

    def finish(self) -> None:
        for (scope, bag, group), n in self.sums.items():
            self.bag(scope, bag, group, n)
        for prefix, n in self.ids.items():
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"id:{prefix}", n))


def from_first_release(db: sqlite3.Connection, schema: Schema) -> None:
    """Convert every row of the first release's tables, then drop them."""
    for statement in LAYOUT.split(";"):
        if statement.strip():
            db.execute(statement)
    w = _Writer(db, schema)
    present = {name for name in OLD_TABLES if has_table(db, name)}
    rows = lambda sql, *args: db.execute(sql, args).fetchall()  # noqa: E731

    for sku, data in rows("SELECT sku, data FROM products"):
        w.put(GLOBAL, "products", sku, data)
    for table in ("brands", "shops", "guides", "distributors"):
        if table in present:
            for (data,) in rows(f"SELECT data FROM {table}"):
                w.put(GLOBAL, table, json.loads(data)["id"], data)
    rooms = rows("SELECT id, title, video_url, created_at, lineup, pinned, off_sale, brand, shop FROM rooms")
    for rid, title, video, created, lineup, pinned, off_sale, brand, shop in rooms:
        w.put(GLOBAL, "rooms", rid, {"id": rid, "title": title, "created_at": created, "video_url": video,
                                     "brand": brand, "shop": shop})
        w.put(rid, "stage", "stage", {"lineup": json.loads(lineup), "pinned": pinned, "id": "stage"})
        for sku in json.loads(off_sale or "[]"):
            w.bag(rid, "off_sale", sku, 1)
    for table in ("releases", "holds", "orders", "coupons", "coupon_claims"):
        for key, room, data in rows(f"SELECT id, room, data FROM {table}"):
            w.put(room, table, key, data)

    orders = {key: (room, json.loads(data)) for key, room, data in rows("SELECT id, room, data FROM orders")}
    _people_and_links(w, rows, present, orders, {rid: brand or "default" for rid, *_, brand, _shop in rooms})
    _ledger(w, rows, present)
    _pacing(w, rows, present)
    _figures(w, rows, orders)
    _presence(w, rows)
    w.finish()
    for name in present:
        db.execute(f"DROP TABLE {name}")


def _people_and_links(w: _Writer, rows, present: set[str], orders: dict, brands: dict[str, str]) -> None:
    for code, data in rows("SELECT code, data FROM links"):
        w.put(GLOBAL, "links", code, data)
    for cid, code, owner, room, viewer, at in rows("SELECT id, code, owner, room, viewer, at FROM clicks"):
        w.put(GLOBAL, "clicks", str(cid), {"id": str(cid), "link": code, "owner": owner, "room": room, "viewer": viewer, "at": at})
    for viewer, owner in rows("SELECT viewer, owner FROM self_viewers"):
        w.put(GLOBAL, "self_viewers", f"{viewer}\0{owner}", {"viewer": viewer, "owner": owner})
    for person, since in rows("SELECT person, since FROM portals"):
        w.put(GLOBAL, "portals", person, {"person": person, "since": since})
    if "revoked_tokens" in present:
        for jti, until in rows("SELECT jti, until FROM revoked_tokens"):
            w.put(GLOBAL, "revoked", jti, {"jti": jti, "until": until})
    first_paid: dict[str, int] = {}
    for room, order in orders.values():
        if order.get("status") in ("paid", "refunded") and order.get("viewer") and order.get("paid_at") is not None:
            first_paid[order["viewer"]] = min(order["paid_at"], first_paid.get(order["viewer"], order["paid_at"]))
            # the buyer's later orders find this one (its binding, their history) through the hint
            subject = f"{brands.get(room, 'default')}\0{order['viewer']}"
            w.put(GLOBAL, "hints", f"paid\0{subject}\0{room}", {"kind": "paid", "subject": subject, "room": room})
        if order.get("external_id"):
            w.put(GLOBAL, "externals", order["external_id"], {"id": order["external_id"], "room": room})
    for viewer, at in first_paid.items():
        w.put(GLOBAL, "first_paid", viewer, {"viewer": viewer, "at": at})


def _ledger(w: _Writer, rows, present: set[str]) -> None:
    for (data,) in rows("SELECT data FROM ledger ORDER BY CAST(SUBSTR(id, 2) AS INTEGER)"):
        entry = json.loads(data)
        w.put(entry["room"], "ledger", entry["id"], data)
        w.put(GLOBAL, "hints", f"ledger\0{entry['who']}\0{entry['room']}", {"kind": "ledger", "subject": entry["who"], "room": entry["room"]})
        if entry.get("payout"):
            w.put(GLOBAL, "payout_marks", entry["id"], {"entry": entry["id"], "payout": entry["payout"]})
    for pid, who, amount, at in rows("SELECT id, who, amount, at FROM payouts"):
        w.put(GLOBAL, "payouts", pid, {"id": pid, "who": who, "amount": amount, "at": at})


def _pacing(w: _Writer, rows, present: set[str]) -> None:
    """The pacing record, its script library (once apart from it) and the control log's
    recent entries (once in memory only, read back from the room's events)."""
    next_line: dict[str, int] = {}
    for room, data in rows("SELECT room, data FROM pacing"):
        old = json.loads(data)
        next_line[room] = old.get("next_line", 1)
        record = {k: old[k] for k in ("pacing", "segment", "alerted", "show_by") if k in old}
        w.put(room, "pacing", "pacing", {**record, "id": "pacing"})
    libraries: dict[str, list] = defaultdict(list)
    for room, data in rows("SELECT room, data FROM scripts ORDER BY room, position"):
        libraries[room].append(json.loads(data))
    for room, lines in libraries.items():
        numbers = [int(m[2]) for m in (_NUMBERED.match(line["id"]) for line in lines) if m and m[1] == "s"]
        first_free = max([next_line.get(room, 1), *(n + 1 for n in numbers)])
        w.put(room, "library", "library", {"lines": lines, "next_line": first_free, "id": "library"})
    for (room,) in rows("SELECT id FROM rooms"):
        actions = rows("SELECT data FROM events WHERE room = ? AND kind = 'action' ORDER BY seq DESC LIMIT ?", room, ACTIONS_KEPT)
        if actions:
            recent = [json.loads(data)["entry"] for (data,) in reversed(actions)]
            w.put(room, "control_log", "log", {"recent": recent, "id": "log"})


def _figures(w: _Writer, rows, orders: dict) -> None:
    """What paid orders count for: totals, and per promoter and store; per minute as the
    first release's minute buckets had them."""
    for room, order in orders.values():
        if order.get("status") != "paid":
            continue
        amount = order["amount"]
        w.bag(room, "figures", "orders", 1)
        w.bag(room, "figures", "gmv", amount)
        for key in (order.get("guide") or order.get("distributor"), f"shop:{order['shop']}" if order.get("shop") else None):
            if key is not None:
                w.bag(room, "figures", f"p:{key}:orders", 1)
                w.bag(room, "figures", f"p:{key}:gmv", amount)
    for room, t, paid, gmv in rows("SELECT room, t, orders, gmv FROM minutes WHERE orders != 0 OR gmv != 0"):
        w.bag(room, "figures", f"m{minute_of(t)}:orders", paid)
        w.bag(room, "figures", f"m{minute_of(t)}:gmv", gmv)


def _presence(w: _Writer, rows) -> None:
    """Each room's presence totals from its closed visits (open ones are closed at the
    last heartbeat when the store opens), peak and likes from its minute buckets."""
    totals: dict[str, dict] = defaultdict(lambda: {"promoters": {}})
    for room, entries, exits, dwell, unique in rows(
        "SELECT room, COUNT(*), COUNT(ended_at), COALESCE(SUM(ended_at - started_at), 0), COUNT(DISTINCT viewer) "
        "FROM sessions GROUP BY room"
    ):
        totals[room].update(entries=entries, exits=exits, dwell_closed_ms=dwell, unique=unique)
    for room, via, brought, sessions, dwell in rows(
        "SELECT room, via, COUNT(DISTINCT viewer), COUNT(*), COALESCE(SUM(ended_at - started_at), 0) "
        "FROM sessions WHERE via IS NOT NULL GROUP BY room, via"
    ):
        totals[room]["promoters"][via] = [brought, sessions, dwell]
    for room, likes, peak in rows("SELECT room, SUM(likes), MAX(online_max) FROM minutes GROUP BY room"):
        totals[room].update(likes=likes or 0, peak=peak or 0)
    for room, values in totals.items():
        w.db.execute("INSERT OR REPLACE INTO presence (room, data) VALUES (?, ?)", (room, json.dumps(values).encode()))
