"""`live bench history`: a store with a long past starts fast and small, and its review is quick.

    live bench history [--sessions 2000000] [--clicks 500000] [--viewers 600000]
                       [--minutes 240] [--port 8790] [--keep DIR]

Builds a local store whose one live had `--sessions` visits (by `--viewers` people over
`--minutes` minutes, a third brought by the demo's guides and distributors) and whose
links got `--clicks` clicks, then measures what a team feels the day after:

- **start_s**: `live serve` on that data dir, from the process's start until `/readyz`
  answers 200 (a new store's start (the same live without its past) is measured the same way and printed beside it);
- **rss_mib**: the server's resident memory once ready, minus that new store's;
- **review_s**: `GET /api/rooms/history/review` (the review of that live: every figure
  of `live.domain.review`, through the real server), from request to last byte.

**The bulk path.** The live, its catalog, people and links are made through the store's
own ops (`live.demo.seed`, as `live demo` does). Millions of visits and clicks through
the ops would take hours of the bench's time and measure nothing it reports, so they are
written straight into the store's SQLite layout (`live/store/local/database.py`): rows
of `sessions`, the minute buckets and presence totals those visits make (computed with
the store's own rule, `live.domain.review.replay`), and click records with their index
entries and per-link sums, exactly as the local store writes them. Nothing is loaded
back into memory by the bench: the server reads what it needs.

Checked: the review's views and viewers equal the visits and people written, its peak
the most visits at one instant, and its promoters' clicks the clicks written. A failed
check is printed as FAILED and the exit code is 1. Progress goes to stderr; the last line, alone on stdout:
`history sessions=N clicks=M start_s=X rss_mib=Y review_s=Z`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import ROOT
from bench.fanout import ServerProcess
from live.domain.review import Visit, replay
from live.settings import ONE_MACHINE_LOAD

ROOM = "history"
MINUTE = 60_000


def say(line: str) -> None:
    """Progress goes to stderr: stdout is the last line alone, for scripts."""
    print(line, file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="live bench history", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2_000_000)
    parser.add_argument("--clicks", type=int, default=500_000)
    parser.add_argument("--viewers", type=int, default=600_000)
    parser.add_argument("--minutes", type=int, default=240, help="how long the live ran")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--keep", type=Path, help="build the store here and leave it (default: a temporary dir); "
                        "a store already there is measured as it is")
    return parser.parse_args(argv)


async def seed(data_dir: Path) -> list[tuple[str, str]]:
    """The live, its catalog, people and links, through the ops; (owner, link code)."""
    from live.demo import seed as seed_demo
    from live.ops import open_ops

    ops = open_ops("local", data_dir)
    await ops.open()
    try:
        await seed_demo(ops, ROOM)
    finally:
        await ops.close()
    return await links_of(data_dir)


async def links_of(data_dir: Path) -> list[tuple[str, str]]:
    from live.ops import open_ops

    ops = open_ops("local", data_dir)
    await ops.open()
    try:
        people = [g.id for g in await ops.guides()] + [d.id for d in await ops.distributors()]
        return [(person, link.code) for person in people for link in await ops.links(person) if link.room == ROOM]
    finally:
        await ops.close()


def visits_of(options: argparse.Namespace, start: int, promoters: list[str]) -> list[Visit]:
    rng = random.Random(14)
    span = options.minutes * MINUTE
    out = []
    for _ in range(options.sessions):
        viewer = f"v_{rng.randrange(options.viewers):07d}"
        begin = start + rng.randrange(span)
        stay = min(int(rng.expovariate(1 / 300_000)) + 1, start + span - begin)  # five minutes on average
        via = rng.choice(promoters) if rng.random() < 1 / 3 else None
        out.append(Visit(viewer, begin, begin + stay, via))
    return out


def bulk(data_dir: Path, visits: list[Visit], links: list[tuple[str, str]], clicks: int, now: int) -> None:
    """Write the visits and clicks into the store's file (see the module docstring)."""
    db = sqlite3.connect(data_dir / "live.db")
    db.execute("BEGIN")
    (first_id,) = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM sessions").fetchone()
    db.executemany(
        "INSERT INTO sessions (id, room, viewer, via, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)",
        ((first_id + i, ROOM, v.viewer, v.via, v.start, v.end) for i, v in enumerate(visits)),
    )
    numbers = replay(visits, now)
    db.executemany(
        "INSERT OR REPLACE INTO minutes (room, t, online_start, online_max, online_end, entries, exits, likes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ((ROOM, b.t, b.online_start, b.online_max, b.online_end, b.entries, b.exits, b.likes) for b in numbers.minutes.values()),
    )
    promoters: dict[str, list[int]] = {}
    brought: dict[str, set[str]] = {}
    for v in visits:
        if v.via is not None:
            tally = promoters.setdefault(v.via, [0, 0, 0])
            brought.setdefault(v.via, set()).add(v.viewer)
            tally[1] += 1
            tally[2] += v.end - v.start
    for via, viewers in brought.items():
        promoters[via][0] = len(viewers)
    totals = {
        "peak": numbers.peak, "entries": numbers.entries, "exits": numbers.exits, "unique": numbers.unique, "likes": 0,
        "dwell_closed_ms": numbers.dwell_closed_ms, "promoters": promoters,
    }
    db.execute("INSERT OR REPLACE INTO presence (room, data) VALUES (?, ?)", (ROOM, json.dumps(totals).encode()))
    rng = random.Random(18)
    per_link: dict[str, int] = {}
    rows, entries = [], []
    for _ in range(clicks):
        owner, code = rng.choice(links)
        click = {"id": "k" + secrets.token_urlsafe(12), "link": code, "owner": owner, "room": ROOM,
                 "viewer": rng.choice(visits).viewer, "at": now - rng.randrange(7 * 86_400_000)}
        rows.append(("", "clicks", click["id"], json.dumps(click).encode()))
        entries += [("clicks.viewer", "", click["viewer"], click["id"], None), ("clicks.room", "", ROOM, click["id"], None),
                    ("clicks.last", "", f"{click['viewer']}\0{code}", click["id"], click["at"])]
        per_link[code] = per_link.get(code, 0) + 1
    db.executemany("INSERT INTO records (scope, tbl, key, data) VALUES (?, ?, ?, ?)", rows)
    db.executemany("INSERT INTO entries (ix, scope, value, key, score) VALUES (?, ?, ?, ?, ?)", entries)
    db.executemany(
        "INSERT INTO bags (scope, bag, name, value) VALUES ('', 'sum:clicks.per_link', ?, ?) "
        "ON CONFLICT (scope, bag, name) DO UPDATE SET value = value + excluded.value",
        per_link.items(),
    )
    db.execute("COMMIT")
    db.execute("VACUUM")  # as a store that grew over months: its pages in order, no free space
    db.close()


async def serve_and_measure(data_dir: Path, port: int, secret: str, review: bool) -> tuple[float, int, float | None, dict | None]:
    """start_s, RSS (KiB) once ready, and the review's time and body (if asked)."""
    env = {**os.environ, **ONE_MACHINE_LOAD, "LIVE_SECRET": secret}
    argv = [sys.executable, "-m", "live", "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    began = time.monotonic()
    with ServerProcess("live", argv, port, False, env) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.process.poll() is not None:
                    raise RuntimeError("the server exited")
                await asyncio.sleep(0.01)
            start_s = time.monotonic() - began
            rss = server.rss_kib()
            if not review:
                return start_s, rss, None, None
            from live.tokens import Tokens

            token = Tokens(secret).mint("admin", "*", "bench", 600)
            t = time.monotonic()
            answer = await http.get(f"/api/rooms/{ROOM}/review", headers={"Authorization": f"Bearer {token}"})
            review_s = time.monotonic() - t
            answer.raise_for_status()
            say(f"  after the review the server holds {server.rss_kib() / 1024:.0f} MiB")
            return start_s, rss, review_s, answer.json()


async def run(options: argparse.Namespace) -> tuple[str, list[str]]:
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="live-bench-history-") as tmp:
        big = options.keep or Path(tmp) / "big"
        empty = Path(tmp) / "empty"
        built = (big / "live.db").exists()
        say("seeding a new store (the live without its past)" + ("" if built else ", and the live again beside it"))
        await seed(empty)
        links = [] if built else await seed(big)
        now = int(time.time() * 1000)
        promoters = sorted({owner for owner, _ in await links_of(empty)})
        visits = visits_of(options, now - 3 * 86_400_000, promoters)  # the live was three days ago
        if built:
            say(f"measuring the store already in {big} (built with these flags, it is hoped)")
        else:
            say(f"writing {options.sessions:,} visits by up to {options.viewers:,} viewers and {options.clicks:,} clicks (bulk path)")
            t = time.monotonic()
            bulk(big, visits, links, options.clicks, now)
            say(f"  written in {time.monotonic() - t:.0f} s; the file is {(big / 'live.db').stat().st_size / 2**20:,.0f} MiB")
        viewers = len({v.viewer for v in visits})
        peak = replay(visits, now).peak
        del visits
        empty_start, empty_rss, _, _ = await serve_and_measure(empty, options.port, secret, review=False)
        start_s, rss, review_s, result = await serve_and_measure(big, options.port + 1, secret, review=True)
    rss_mib = (rss - empty_rss) / 1024
    say(f"new store:  ready in {empty_start:.2f} s, {empty_rss / 1024:.0f} MiB")
    say(f"this store:  ready in {start_s:.2f} s, {rss / 1024:.0f} MiB (+{rss_mib:.0f} MiB); review in {review_s:.2f} s")
    problems = []
    headline, clicked = result["headline"], sum(row["clicks"] for row in result["guides"])
    if (headline["views"], headline["unique_viewers"]) != (options.sessions, viewers):
        problems.append(f"FAILED: the review counts {headline['views']} visits by {headline['unique_viewers']} viewers, "
                        f"not {options.sessions} by {viewers}")
    if headline["peak_online"] != peak:
        problems.append(f"FAILED: the review's peak is {headline['peak_online']}, the visits' {peak}")
    if clicked != options.clicks:
        problems.append(f"FAILED: the review's promoters had {clicked} clicks, not {options.clicks}")
    line = (f"history sessions={options.sessions} clicks={options.clicks} start_s={start_s:.2f} rss_mib={rss_mib:.0f} "
            f"review_s={review_s:.2f}")
    return line, problems


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    line, problems = asyncio.run(run(options))
    for problem in problems:
        say(problem)
    print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
