"""Real parts for tests: a uvicorn server on a free port (in this process or in a child
process that can be killed), websocket clients, and a seeded room."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from live.app import create_app
from live.cli import uvicorn_config
from live.protocol import Product
from live.settings import Settings
from live.ops import Actor
from live.tokens import Tokens

SECRET = "test-secret-for-live-0123456789-abcdef"
ROOM = "r1"
WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789"
SEEDER = Actor("admin", "tests")
PRODUCTS = [
    Product("P1", "Longjing tea", 990, 3900, "traffic", stock=100),
    Product("P2", "Face masks", 5900, 12900, "hit", stock=100),
    Product("P3", "Serum", 19900, 26900, "regular", stock=100),
    Product("P4", "Eye cream", 29900, 39900, "margin", stock=100),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=data_dir,
        secret=SECRET,
        port=free_port(),
        log_level="warning",
        viewer_tick_ms=100,
        staff_tick_ms=100,
        presence_grace_ms=0,
    )
    if os.environ.get("LIVE_TEST_STORE") == "redis":  # run the app's tests on the Redis store
        from tests.stores import redis_url

        values["store"] = redis_url(data_dir)
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # a helper, not a test


def signed(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict:
    """The headers a shop's webhook sends: a timestamp and the HMAC of `ts.body`."""
    ts = str(int(time.time()) if at is None else at)
    signature = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Live-Timestamp": ts, "X-Live-Signature": f"sha256={signature}", "Content-Type": "application/json"}


async def seed(store, room: str = ROOM, products: list[Product] = PRODUCTS) -> None:
    await store.put_products(products)
    await store.put_room(room, "Test room")
    await store.set_lineup(room, [p.sku for p in products], SEEDER)


class Client:
    """A websocket client that speaks the protocol as JSON dicts."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.welcome: dict | None = None

    async def hello(self, token: str | None = None, last_seq: int | None = None, v: int = 1) -> dict:
        message: dict[str, Any] = {"type": "hello", "v": v}
        if token is not None:
            message["token"] = token
        if last_seq is not None:
            message["last_seq"] = last_seq
        await self.send(message)
        self.welcome = await self.recv()
        return self.welcome

    async def send(self, message: dict | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout: float = 5) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def recv_type(self, *types: str, timeout: float = 5) -> dict:
        """The next message of one of these types, skipping others (ticks, numbers)."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if message["type"] in types:
                return message

    async def recv_where(self, predicate, timeout: float = 5) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class LiveServer:
    settings: Settings
    app: Any = None
    process: subprocess.Popen | None = None
    clients: list[Client] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  # more `live serve` flags (ServerProcess)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.settings.secret)

    def token(self, role: str = "controller", room: str = ROOM, sub: str = "tester", ttl_s: int = 3600) -> str:
        return self.tokens.mint(role, room, sub, ttl_s)

    async def client(self, room: str = ROOM, **kwargs: Any) -> Client:
        ws = await connect(f"ws://127.0.0.1:{self.settings.port}/ws/{room}", max_size=None, **kwargs)
        client = Client(ws)
        self.clients.append(client)
        return client

    async def viewer(self, room: str = ROOM, last_seq: int | None = None, cookie: str | None = None) -> Client:
        headers = {"Cookie": f"live_vid={cookie}"} if cookie else None
        client = await self.client(room, additional_headers=headers)
        await client.hello(last_seq=last_seq)
        return client

    async def staff(self, role: str = "controller", room: str = ROOM, last_seq: int | None = None) -> Client:
        client = await self.client(room)
        await client.hello(token=self.token(role, room), last_seq=last_seq)
        return client

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=10)

    async def close_clients(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()
        self.clients.clear()


@contextlib.asynccontextmanager
async def running_server(settings: Settings, seeded: bool = True):
    """The real app under a real uvicorn server, in this event loop."""
    app = create_app(settings)
    config = uvicorn.Config(app, **{**uvicorn_config(settings), "port": settings.port})
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    live = LiveServer(settings, app=app)
    if seeded:
        await seed(app.state.live.ops)
    try:
        yield live
    finally:
        await live.close_clients()
        server.should_exit = True
        await task


@dataclass
class ServerProcess(LiveServer):
    """`python -m live serve` (or `demo`) in a child process: for restarts and kill -9,
    and for what the command line itself decides. With `log_path` its output goes to
    that file (for tests that read the worker's log)."""

    log_path: Path | None = None

    def start(self, command: str = "serve") -> None:
        env = {**os.environ, "LIVE_SECRET": self.settings.secret, "LIVE_PRESENCE_GRACE_MS": "0", **self.env}
        cmd = [
            sys.executable, "-m", "live", command,
            "--port", str(self.settings.port),
            "--data-dir", str(self.settings.data_dir),
            "--log-level", "warning",
        ]
        if self.settings.store != "local":  # e.g. a redis:// URL: workers sharing one store
            cmd += ["--store", self.settings.store]
        cmd += self.flags
        if self.log_path is None:
            self.process = subprocess.Popen(cmd, env=env)
        else:
            with open(self.log_path, "ab") as out:  # the child holds its own copy of the file
                self.process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"live serve exited with {self.process.returncode}")
            try:
                if httpx.get(self.base + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("live serve did not become healthy")

    def log(self) -> str:
        """What the process wrote so far (with `log_path`)."""
        assert self.log_path is not None, "start the server with a log_path to read its log"
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)
        self.process = None


def with_port(settings: Settings) -> Settings:
    return replace(settings, port=free_port())
