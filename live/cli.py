"""`live serve | demo | token [revoke] | import | backup | restore | migrate | schema | bench`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path

from . import __version__
from .errors import ConfigError, LiveError
from .protocol import STAFF
from .settings import Settings
from .tokens import ANY_ROOM, TOKEN_ID, Tokens

WS_PROTOCOL = "live.web.transport:LiveWebSocketProtocol"
# A checkout of the repository: the benchmarks live in its bench/, which no wheel holds.
CHECKOUT = Path(__file__).resolve().parent.parent
HTTP_PROTOCOL = "live.web.h11_protocol:LiveH11Protocol"


def _duration(text: str) -> int:
    """Seconds from '90', '45m', '12h' or '7d'."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 3600, 45m, 12h or 7d")
    number, unit = int(match[1]), match[2] or "s"
    return number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _version() -> str:
    """The version in the installed package's metadata, as pip shows it."""
    try:
        return metadata.version("live")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return f"{__version__} (not installed)"


def _addresses(text: str) -> tuple[str, ...]:
    """'127.0.0.1, 10.0.0.0/8' -> ('127.0.0.1', '10.0.0.0/8')."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (LIVE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (LIVE_PORT, default 8000)")
    parser.add_argument("--store", help="store URL: 'local' (default) or 'redis://host:6379/0' (LIVE_STORE)")
    parser.add_argument("--data-dir", type=Path, help="where the local store and the secret live (LIVE_DATA_DIR, default .live)")
    parser.add_argument("--workers", type=int, help="worker processes; more than one needs a shared store (LIVE_WORKERS)")
    parser.add_argument("--public-url", help="the URL people reach this server at, for printed links (LIVE_PUBLIC_URL)")
    parser.add_argument("--trusted-proxies", type=_addresses, metavar="ADDRESSES",
                        help="reverse proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For "
                        "and X-Forwarded-Proto are believed; default none (LIVE_TRUSTED_PROXIES)")
    parser.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"], help="(LIVE_LOG_LEVEL)")
    parser.add_argument("--timezone", help="time zone of the dates in exports when the page sends none "
                        "(LIVE_TIMEZONE, default Asia/Shanghai)")
    parser.add_argument("--log-format", choices=["text", "json"],
                        help="text for a terminal, json (one object per line) for production (LIVE_LOG_FORMAT)")
    parser.add_argument("--demo-pay", action=argparse.BooleanOptionalAction,
                        help="the overlay's demo Pay step, where viewers mark their own orders paid (LIVE_DEMO_PAY; "
                        "off for serve, on for demo): never where the shop takes real payments")


def _settings(args: argparse.Namespace, **extra) -> Settings:
    flags = {
        name: getattr(args, name, None)
        for name in ("host", "port", "store", "data_dir", "workers", "public_url", "trusted_proxies", "log_level",
                     "log_format", "demo_pay", "timezone")
    }
    return Settings.from_env(**flags, **extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live", description="Real-time control of a live-shopping room.")
    parser.add_argument("--version", action="version", version=f"live {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server", description="Run the server (uvicorn).")
    _server_flags(serve)

    demo = commands.add_parser(
        "demo", help="seed a demo room, print its links, and serve",
        description="Seed a demo room (lineup, scripts, stores and guides), print the links of every page with "
        "valid tokens, in zh-CN and en, and serve.",
    )
    _server_flags(demo)
    demo.set_defaults(demo_pay=True)  # the demo shows the whole flow, paying included
    demo.add_argument("--room", default="demo", help="room id to seed (default demo)")
    demo.add_argument("--no-serve", action="store_true", help="seed and print the links, then exit")

    token = commands.add_parser(
        "token", help="mint a staff token, or revoke one",
        description="Mint a signed, expiring staff token: the token on stdout, its id (jti) on stderr. "
        "`live token revoke JTI` revokes one.",
    )
    token.add_argument("--role", choices=sorted(STAFF), help="(required to mint)")
    token.add_argument("--room", help=f"room id, or {ANY_ROOM!r} for an admin of every room (required to mint)")
    token.add_argument("--sub", default="staff", help="who the token is for (a name or guide id)")
    token.add_argument("--ttl", type=_duration, default="12h", help="lifetime: 3600, 45m, 12h, 7d (default 12h, at most 30d)")
    token.add_argument("--data-dir", type=Path, help="data dir holding the server secret (LIVE_DATA_DIR)")
    revoke = token.add_subparsers(dest="token_action", metavar="ACTION").add_parser(
        "revoke", help="revoke a staff token by its id",
        description="Revoke the staff token with this id (jti): every route and the room socket refuse it from now "
        "on, and its open sockets close within seconds.",
    )
    revoke.add_argument("jti", help="the token's id, as `live token` printed it")
    revoke.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help="(LIVE_DATA_DIR)")
    revoke.add_argument("--store", help="the store URL (LIVE_STORE), when not revoking through --server")
    revoke.add_argument("--server", help="revoke through a running server at this URL (an admin token is minted with "
                        "the secret in the data dir or LIVE_SECRET); needed for a local store while it serves")

    importer = commands.add_parser(
        "import", help="import a product catalog (CSV or JSON)",
        description="Import a product catalog from CSV or JSON. Every bad row is reported by line; nothing is "
        "imported from a file with errors unless --skip-bad is given. Prices are integer fen.",
    )
    importer.add_argument("file", type=Path, help="the catalog: a .csv or .json file")
    importer.add_argument("--format", choices=["csv", "json"], help="when the file name does not say")
    importer.add_argument("--skip-bad", action="store_true", help="import the good rows of a file with bad ones")
    importer.add_argument("--data-dir", type=Path, help="the local store's data dir (LIVE_DATA_DIR)")
    importer.add_argument("--server", help="import through a running server at this URL instead (an admin token "
                          "is minted with the secret in the data dir or LIVE_SECRET)")

    backup = commands.add_parser(
        "backup", help="copy the local store and the secret, while it serves",
        description="Make a consistent copy of the local store (SQLite's online backup: the server goes on "
        "serving) and the secret into DEST, a new directory (0700, files 0600). A Redis store is backed up with "
        "Redis's own tools (see the README).",
    )
    backup.add_argument("dest", type=Path, help="a new or empty directory for the backup")
    backup.add_argument("--data-dir", type=Path, help="the data dir: the secret, and the store unless --store "
                        "names another directory (LIVE_DATA_DIR)")
    backup.add_argument("--store", help="the store URL, local or local:///dir (LIVE_STORE)")
    restore = commands.add_parser(
        "restore", help="put a backup in place of the local store (server stopped)",
        description="Check a backup made by `live backup` and put it in place of the local store and its "
        "secret. Refused while a server uses the data dir; over an existing store only with --replace.",
    )
    restore.add_argument("src", type=Path, help="the backup directory")
    restore.add_argument("--data-dir", type=Path, help="(LIVE_DATA_DIR)")
    restore.add_argument("--store", help="the store URL, local or local:///dir (LIVE_STORE)")
    restore.add_argument("--replace", action="store_true",
                         help="replace the store there (its files are moved into a replaced-<time> directory)")

    migrate = commands.add_parser(
        "migrate", help="move everything to another store (servers stopped)",
        description="Move every record, bag, room log, presence figure, visit and id from one store to another "
        "(local:///dir, redis://host:port/db, redis+cluster://...), then count both sides. The target must be "
        "empty; no server may run on either store meanwhile.",
    )
    migrate.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to move from")
    migrate.add_argument("--to", dest="target", required=True, metavar="URL", help="the empty store to move to")
    migrate.add_argument("--data-dir", type=Path, help="the data dir of a plain 'local' URL (LIVE_DATA_DIR)")

    rooms = commands.add_parser(
        "rooms", help="create, list, show and copy lives",
        description="Lives (rooms): create one with its lineup, list them, show one, copy one into next week's. "
        "Straight into the store (a local one only while no server holds it), or through a running server "
        "(--server). A refused live (bad id, id taken, unknown sku, bad time) creates nothing.",
    )
    rooms_of = rooms.add_subparsers(dest="rooms_action", metavar="ACTION", required=True)
    create = rooms_of.add_parser("create", help="create a live", description="Create a live, scheduled, with its lineup.")
    create.add_argument("id", help="the live's id: lowercase letters, digits and dashes (its URLs: /control/ID, /watch/ID)")
    create.add_argument("--title", required=True)
    create.add_argument("--brand", default="default")
    create.add_argument("--shop", help="the store relaying it (its orders' default store)")
    create.add_argument("--start", help="its scheduled start: 'YYYY-MM-DD HH:MM' in LIVE_TIMEZONE (or --timezone), or epoch ms")
    create.add_argument("--video", help="the stream's URL (MP4 or HLS .m3u8) the overlay plays beneath it")
    create.add_argument("--lineup", default="", help="catalog skus, in order, comma-separated")
    copy = rooms_of.add_parser("copy", help="copy a live into a new one",
                               description="A new live with the lineup, script library, run-of-show and pacing rules "
                               "of SOURCE.")
    copy.add_argument("source")
    copy.add_argument("id")
    copy.add_argument("--title")
    copy.add_argument("--start", help="as for create")
    rooms_of.add_parser("list", help="every live with its status")
    show = rooms_of.add_parser("show", help="one live: status, times, lineup")
    show.add_argument("id")
    for sub in (create, copy, *[p for n, p in rooms_of.choices.items() if n in ("list", "show")]):
        sub.add_argument("--data-dir", type=Path, help="the local store's data dir (LIVE_DATA_DIR)")
        sub.add_argument("--store", help="the store URL (LIVE_STORE)")
        sub.add_argument("--timezone", help="the zone of --start and of printed times (LIVE_TIMEZONE)")
        sub.add_argument("--server", help="through a running server at this URL (an admin token is minted with the "
                         "secret in the data dir or LIVE_SECRET)")

    schema = commands.add_parser("schema", help="print the JSON Schema of every wire message",
                                 description="Print the JSON Schema of every wire message.")
    schema.add_argument("--indent", type=int, default=2)

    bench = commands.add_parser("bench", help="run a benchmark from bench/", description="Run a benchmark from bench/.")
    bench.add_argument("name", help="benchmark name, e.g. fanout")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own flags (see `live bench NAME --help`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            serve(_settings(args))
        elif args.command == "demo":
            from .demo import run_demo

            run_demo(_settings(args), room=args.room, serve_after=not args.no_serve)
        elif args.command == "token":
            return revoke_token(args) if args.token_action == "revoke" else mint_token(args)
        elif args.command == "import":
            return import_file(args)
        elif args.command == "backup":
            return backup_store(args)
        elif args.command == "restore":
            return restore_store(args)
        elif args.command == "migrate":
            return migrate_store(args)
        elif args.command == "rooms":
            from .rooms_cli import run_rooms

            return run_rooms(args)
        elif args.command == "schema":
            from .protocol import json_schema

            print(json.dumps(json_schema(), indent=args.indent, ensure_ascii=False))
        elif args.command == "bench":
            return run_bench(args.name, args.rest)
    except (ConfigError, LiveError, ValueError) as exc:
        print(f"live: {exc}", file=sys.stderr)
        return 2
    return 0


def mint_token(args: argparse.Namespace) -> int:
    if args.role is None or args.room is None:
        print("live token: --role and --room are required to mint a token", file=sys.stderr)
        return 2
    settings = Settings.from_env(data_dir=args.data_dir).resolved()
    issued = Tokens(settings.secret).issue(args.role, args.room, args.sub, args.ttl)
    print(issued.token)
    print(f"jti: {issued.jti}  (to revoke this token: live token revoke {issued.jti})", file=sys.stderr)
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    """Through a running server (`--server`), or straight into the store: a Redis store at
    any time, a local one only while no server holds it."""
    from .access import revoke
    from .clock import now_ms
    from .ops import open_ops

    if not re.fullmatch(TOKEN_ID, args.jti):
        print(f"live: {args.jti!r} is not a token id", file=sys.stderr)
        return 2
    settings = Settings.from_env(data_dir=args.data_dir, store=args.store).resolved()
    if args.server:
        import httpx

        token = Tokens(settings.secret).mint("admin", ANY_ROOM, "live-token-revoke", 300)
        response = httpx.post(args.server.rstrip("/") + "/api/tokens/revoke", json={"jti": args.jti},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if response.status_code != 200:
            print(f"live: {response.json().get('message', response.text)}", file=sys.stderr)
            return 2
    else:
        async def run() -> None:
            store = open_ops(settings.store, settings.data_dir)
            await store.open()
            try:
                await revoke(store, args.jti, now_ms())
            finally:
                await store.close()

        asyncio.run(run())
    print(f"revoked {args.jti}")
    return 0


def import_file(args: argparse.Namespace) -> int:
    from .imports import format_of, import_catalog, text_of
    from .ops import open_ops

    settings = Settings.from_env(data_dir=args.data_dir).resolved()
    fmt = format_of(args.file.name, args.format)
    text = text_of(args.file.read_bytes())
    if args.server:
        import httpx

        token = Tokens(settings.secret).mint("admin", ANY_ROOM, "live-import", 300)
        try:
            response = httpx.post(
                args.server.rstrip("/") + "/api/catalog/import",
                params={"format": fmt, "skip_bad": "1" if args.skip_bad else "0"},
                content=text.encode(), headers={"Authorization": f"Bearer {token}"}, timeout=60,
            )
            report = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            print(f"live: no answer from {args.server}: {exc}", file=sys.stderr)
            return 2
        if "code" in report:
            print(f"live: {report['message']}", file=sys.stderr)
            return 2
        imported, errors = report["imported"], [f"line {e['line']}{', ' + e['field'] if e['field'] else ''}: {e['message']}" for e in report["errors"]]
    else:
        async def run():
            store = open_ops(settings.store, settings.data_dir)
            await store.open()
            try:
                return await import_catalog(store, text, fmt, skip_bad=args.skip_bad)
            finally:
                await store.close()

        result = asyncio.run(run())
        imported, errors = result.imported, [str(e) for e in result.errors]
    for error in errors:
        print(f"{args.file}: {error}", file=sys.stderr)
    if errors and not imported:
        print(f"live: nothing imported: {len(errors)} bad row(s); fix them or use --skip-bad", file=sys.stderr)
        return 1
    print(f"imported {imported} product(s)" + (f", skipped {len(errors)} bad row(s)" if errors else ""))
    return 0


def _local_store(args: argparse.Namespace) -> tuple[Settings, Path]:
    """The settings and the local store's directory the command works on."""
    from .store import local_dir

    settings = Settings.from_env(data_dir=args.data_dir, store=args.store)
    if not settings.store.startswith("local"):
        raise ConfigError(f"{settings.store} is not a local store: back up Redis with its own tools "
                          "(BGSAVE and a copy of the RDB or AOF files; see the README)")
    return settings, local_dir(settings.store, settings.data_dir)


def backup_store(args: argparse.Namespace) -> int:
    from .store.local.backup import backup

    settings, store_dir = _local_store(args)
    copied = backup(store_dir, settings.data_dir, args.dest)
    print(f"backed up {store_dir} to {args.dest} ({copied.bytes} bytes, layout {copied.layout})")
    if copied.secret is None:
        print(f"live: {settings.data_dir} holds no secret (it is given as LIVE_SECRET): keep it with the backup "
              "yourself, or the tokens it signed will not open", file=sys.stderr)
    return 0


def restore_store(args: argparse.Namespace) -> int:
    from .store.local.backup import restore

    settings, store_dir = _local_store(args)
    aside = restore(args.src, store_dir, settings.data_dir, replace=args.replace)
    print(f"restored {args.src} into {store_dir}")
    if aside:
        print(f"what it replaced is in {aside[0].parent}")
    return 0


def migrate_store(args: argparse.Namespace) -> int:
    from .ops.tables import HOT, SCHEMA
    from .store import open_store
    from .store.migrate import migrate

    data_dir = Settings.from_env(data_dir=args.data_dir).data_dir
    if args.source == args.target:
        raise ConfigError("--from and --to name the same store")

    async def run():
        source = open_store(args.source, data_dir, SCHEMA, HOT)
        target = open_store(args.target, data_dir, SCHEMA, HOT)
        await source.open()
        try:
            await target.open()
            try:
                return await migrate(source, target)
            finally:
                await target.close()
        finally:
            await source.close()

    moved = asyncio.run(run())
    print(f"moved {sum(moved.records.values())} records of {len(moved.records)} tables, "
          f"{sum(moved.events.values())} events and {sum(moved.visits.values())} visits of {moved.records['rooms']} "
          "lives; the counts match on both sides")
    for table, n in sorted(moved.records.items()):
        print(f"  {table:<14} {n}")
    return 0


def uvicorn_config(settings: Settings) -> dict:
    from .logs import log_config

    return {
        "log_config": log_config(settings),
        "host": settings.host,
        "port": settings.port,
        "http": HTTP_PROTOCOL,
        "ws": WS_PROTOCOL,
        # Forwarded headers from the trusted proxies only, never from anyone by default
        # (uvicorn's own default trusts 127.0.0.1).
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies),
        "ws_per_message_deflate": False,
        "ws_max_size": settings.max_frame_bytes,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_interval_s,
        "log_level": settings.log_level,
        "backlog": 8192,
        "timeout_graceful_shutdown": 5,
    }


def serve(settings: Settings) -> None:
    import uvicorn

    from .app import create_app

    settings = settings.resolved()
    if settings.workers > 1:
        if settings.store.startswith("local"):
            raise ConfigError("--workers > 1 needs a shared store (--store redis://...); the local store is one process")
        os.environ.update(_settings_env(settings))
        uvicorn.run("live.app:create_app_from_env", factory=True, workers=settings.workers, **uvicorn_config(settings))
        return
    uvicorn.run(create_app(settings), **uvicorn_config(settings))


def _settings_env(settings: Settings) -> dict[str, str]:
    return {
        "LIVE_STORE": settings.store,
        "LIVE_DATA_DIR": str(settings.data_dir),
        "LIVE_SECRET": settings.secret,
        "LIVE_PUBLIC_URL": settings.public_url,
        "LIVE_TRUSTED_PROXIES": ",".join(settings.trusted_proxies),
        "LIVE_ALLOWED_ORIGINS": ",".join(settings.allowed_origins),
        "LIVE_DEMO_PAY": "1" if settings.demo_pay else "0",
    }


def run_bench(name: str, rest: list[str]) -> int:
    """Benchmarks live in the repository's bench/ folder, next to the package."""
    bench_dir = CHECKOUT / "bench"
    if not bench_dir.is_dir():
        print("live: the benchmarks run from a checkout of the repository (bench/ is not installed)", file=sys.stderr)
        return 2
    if not (bench_dir / f"{name}.py").exists():
        names = sorted(p.stem for p in bench_dir.glob("*.py") if not p.stem.startswith("_"))
        print(f"live: no benchmark {name!r}; there are: {', '.join(names) or 'none'}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(CHECKOUT))
    module = __import__(f"bench.{name}", fromlist=["main"])
    return int(asyncio.run(module.main(rest)) or 0) if asyncio.iscoroutinefunction(module.main) else int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
