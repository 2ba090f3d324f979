"""`live rooms create | copy | list | show`: lives from the command line.

The same ops as `POST /api/rooms` and the admin page, straight on the store or through
a running server (`--server`, with an admin token minted from the server's secret). A
refusal prints its code (`room_taken`, `bad_room_id`, `product_not_found`, `bad_time`)
and creates nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import datetime, tzinfo

import msgspec

from .errors import BadMessage, LiveError
from .ops import Actor, LiveSummary, open_ops
from .protocol import CopyLive, CreateLive
from .settings import Settings
from .tokens import ANY_ROOM, Tokens

CLI_ACTOR = Actor("admin", "live-rooms")


def run_rooms(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir, store=args.store, timezone=args.timezone).resolved()
    try:
        if args.server:
            answer = _through_server(args, settings)
        else:
            answer = asyncio.run(_on_store(args, settings))
    except LiveError as exc:
        print(f"live rooms {args.rooms_action}: refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 2
    for line in _lines(answer, settings.zone):
        print(line)
    return 0


def start_ms(text: str | None, zone: tzinfo) -> int | None:
    """`--start`: epoch ms, or 'YYYY-MM-DD HH:MM' in `zone` (`bad_time` otherwise)."""
    if text is None:
        return None
    if re.fullmatch(r"\d{10,16}", text.strip()):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.strip()).replace(tzinfo=zone)
    except ValueError:
        raise BadMessage(f"--start {text!r} is not 'YYYY-MM-DD HH:MM' nor epoch ms", path="$.scheduled_at",
                         code="bad_time", at=text[:40], reason="unreadable") from None
    return int(moment.timestamp() * 1000)


def _create(args: argparse.Namespace, zone: tzinfo) -> CreateLive:
    lineup = [sku.strip() for sku in args.lineup.split(",") if sku.strip()]
    return _convert(dict(id=args.id, title=args.title, brand=args.brand, shop=args.shop, video_url=args.video,
                         scheduled_at=start_ms(args.start, zone), lineup=lineup), CreateLive)


def _copy(args: argparse.Namespace, zone: tzinfo) -> CopyLive:
    return _convert(dict(id=args.id, title=args.title, scheduled_at=start_ms(args.start, zone)), CopyLive)


def _convert(fields: dict, kind: type):
    try:
        return msgspec.convert({k: v for k, v in fields.items() if v is not None}, kind)
    except msgspec.ValidationError as exc:
        raise BadMessage(str(exc)) from None


async def _on_store(args: argparse.Namespace, settings: Settings) -> dict | list[dict]:
    ops = open_ops(settings.store, settings.data_dir)
    await ops.open()
    try:
        if args.rooms_action == "create":
            room = await ops.create_live(_create(args, settings.zone))
            await ops.record(room.id, CLI_ACTOR, "create_live", {"id": room.id}, "ok", None)
            return await _shown(ops, room.id)
        if args.rooms_action == "copy":
            room, _ = await ops.copy_live(args.source, _copy(args, settings.zone), CLI_ACTOR)
            await ops.record(room.id, CLI_ACTOR, "copy_live", {"from": args.source}, "ok", None)
            return await _shown(ops, room.id)
        if args.rooms_action == "show":
            return await _shown(ops, args.id)
        return [summary.as_dict() for summary in await ops.lives()]
    finally:
        await ops.close()


async def _shown(ops, room_id: str) -> dict:
    summary: LiveSummary = await ops.live(room_id)
    state = await ops.state(room_id)
    return {**summary.as_dict(), "lineup": [p.sku for p in state.lineup]}


def _through_server(args: argparse.Namespace, settings: Settings) -> dict | list[dict]:
    import httpx

    token = Tokens(settings.secret).mint("admin", ANY_ROOM, "live-rooms", 300)
    base = args.server.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    if args.rooms_action == "create":
        response = httpx.post(f"{base}/api/rooms", content=msgspec.json.encode(_create(args, settings.zone)),
                              headers=headers, timeout=30)
    elif args.rooms_action == "copy":
        response = httpx.post(f"{base}/api/rooms/{args.source}/copy",
                              content=msgspec.json.encode(_copy(args, settings.zone)), headers=headers, timeout=30)
    else:
        response = httpx.get(f"{base}/api/rooms", headers=headers, timeout=30)
    body = response.json()
    if response.status_code >= 400:
        raise LiveError(body.get("message", response.text), code=body.get("code", "error"))
    if args.rooms_action == "show":
        found = [live for live in body if live["id"] == args.id]
        if not found:
            raise LiveError(f"no room {args.id!r}", code="room_not_found")
        return found[0]
    return body


def _lines(answer: dict | list[dict], zone: tzinfo) -> list[str]:
    if isinstance(answer, list):
        return [_summary(live, zone) for live in answer] or ["no lives yet: live rooms create ID --title ..."]
    out = [_summary(answer, zone)]
    if "lineup" in answer:
        out.append(f"  lineup: {', '.join(answer['lineup']) or '(empty)'}")
    out += [f"  control panel: /control/{answer['id']}   overlay: /watch/{answer['id']}   review: /rooms/{answer['id']}/review"]
    return out


def _summary(live: dict, zone: tzinfo) -> str:
    def when(ms: int | None) -> str:
        return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M") if ms else "-"

    times = f"scheduled {when(live['scheduled_at'])}, started {when(live['started_at'])}, ended {when(live['ended_at'])}"
    return f"{live['id']}\t{live['status']}\t{live['title']}\t({times})"
