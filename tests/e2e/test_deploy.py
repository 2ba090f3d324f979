"""`deploy/` for real (issue 13, item 9): Debian's nginx with the site in
`deploy/nginx/live.conf` in front of two `live serve` workers on one Redis, and
`systemd-analyze verify` on `deploy/live.service`. The files are used as they are,
with only their ports and paths changed (and the IPv6 listen lines dropped on a
machine without IPv6).

Through the proxy, over TLS: a viewer loads the overlay and opens its socket through
the upgrade, staff open theirs, a command goes through the HTTP API, a tracked link is
clicked, and the poster carries the public URL. Then the limits per address: keyed on
the address nginx forwards when the workers trust nginx (`--trusted-proxies`), and on
nginx's own address when they do not. Clients come from different addresses by binding
to 127.0.0.2 and 127.0.0.3.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live.protocol import Guide, Shop
from live.ops import Ops
from live.ops.tables import HOT, SCHEMA
from live.store.redis import RedisStore
from tests.support import ROOM, Client, ServerProcess, free_port, seed, test_settings

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
PREFIX = "live"  # the key prefix `live serve --store redis://...` uses
PUBLIC_URL = "https://live.example.com"
SOCKETS_PER_WORKER = 2
CLIENT_A, CLIENT_B = "127.0.0.2", "127.0.0.3"


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Nginx:
    """Debian's nginx running `deploy/nginx/live.conf` from a directory of the test's own:
    the site's ports and certificate paths changed, its upstream pointed at `upstreams`."""

    def __init__(self, where: Path, upstreams: list[int]) -> None:
        self.where = where
        self.http_port, self.https_port = free_port(), free_port()
        where.mkdir(parents=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=live.example.com",
             "-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem")],
            check=True, capture_output=True,
        )
        site = (DEPLOY / "nginx" / "live.conf").read_text()
        site = site.replace("server 127.0.0.1:8000;", " ".join(f"server 127.0.0.1:{port};" for port in upstreams))
        site = re.sub(r"listen (\[::\]:)?80;", rf"listen \g<1>{self.http_port};", site)
        site = re.sub(r"listen (\[::\]:)?443 ", rf"listen \g<1>{self.https_port} ", site)
        site = site.replace("/etc/letsencrypt/live/live.example.com/fullchain.pem", str(where / "cert.pem"))
        site = site.replace("/etc/letsencrypt/live/live.example.com/privkey.pem", str(where / "key.pem"))
        if not has_ipv6():
            site = re.sub(r"\n\s*listen \[::\]:.*;", "", site)
        (where / "live.conf").write_text(site)
        temp = "\n".join(f"    {kind}_temp_path {where / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (where / "nginx.conf").write_text(
            # As root, nginx's workers would run as nobody, who cannot enter the test's directory.
            f"{'user root;' if os.geteuid() == 0 else ''}\nworker_processes 1;\npid {where / 'nginx.pid'};\n"
            f"error_log {where / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log {where / 'access.log'};\n{temp}\n    include {where / 'live.conf'};\n}}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        args = [NGINX, "-e", str(self.where / "error.log"), "-p", str(self.where), "-c", str(self.where / "nginx.conf")]
        checked = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen([*args, "-g", "daemon off;"])
        deadline = time.monotonic() + 10
        while not _listens(self.https_port):
            assert self.process.poll() is None, (self.where / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not listen within 10 s"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: open sockets are cut
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"


def _listens(port: int) -> bool:
    with contextlib.closing(socket.socket()) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def insecure() -> ssl.SSLContext:
    """The test's own certificate is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture(params=[True, False], ids=["nginx-trusted", "nginx-not-trusted"])
async def deployment(request, redis_server, tmp_path):
    """Two workers on Redis behind nginx; `trusted`: whether the workers list nginx
    (127.0.0.1) in --trusted-proxies."""
    store = Ops(RedisStore(redis_server.url, SCHEMA, HOT, prefix=PREFIX))
    await seed(store)
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01")])
    link = await store.create_link("g1", ROOM)
    trusted = request.param
    workers = []
    for name in ("w0", "w1"):
        flags = ["--public-url", PUBLIC_URL] + (["--trusted-proxies", "127.0.0.1"] if trusted else [])
        env = {"LIVE_ADDRESS_SOCKETS": str(SOCKETS_PER_WORKER)}
        workers.append(ServerProcess(test_settings(tmp_path / name, store=redis_server.url), env=env, flags=flags))
    await asyncio.gather(*(asyncio.to_thread(w.start) for w in workers))
    nginx = Nginx(tmp_path / "nginx", [w.settings.port for w in workers]).start()
    try:
        yield Deployment(nginx, workers, store, link.code, trusted)
    finally:
        nginx.stop()
        for worker in workers:
            await worker.close_clients()
            worker.stop(signal.SIGKILL)
        await store.store.r.aclose()


class Deployment:
    def __init__(self, nginx: Nginx, workers: list[ServerProcess], store: Ops, code: str, trusted: bool) -> None:
        self.nginx, self.workers, self.store, self.code, self.trusted = nginx, workers, store, code, trusted
        self.clients: list[Client] = []

    def http(self, address: str = CLIENT_A, **kwargs) -> httpx.AsyncClient:
        """A phone's browser at `address`, talking to nginx over TLS."""
        transport = httpx.AsyncHTTPTransport(local_address=address, verify=insecure())
        return httpx.AsyncClient(base_url=self.nginx.origin, transport=transport, timeout=10, **kwargs)

    async def socket(self, address: str = CLIENT_A, cookie: str | None = None, token: str | None = None) -> Client:
        """A page's socket through nginx (wss, with the page's Origin); its welcome or
        refusal is in `welcome`."""
        headers = {"Origin": self.nginx.origin}
        if cookie:
            headers["Cookie"] = f"live_vid={cookie}"
        ws = await connect(
            f"wss://127.0.0.1:{self.nginx.https_port}/ws/{ROOM}", ssl=insecure(), additional_headers=headers,
            local_addr=(address, 0), max_size=None,
        )
        client = Client(ws)
        self.workers[0].clients.append(client)
        hello = {"type": "hello", "v": 1, **({"token": token} if token else {})}
        with contextlib.suppress(ConnectionClosed):
            await client.send(hello)
        client.welcome = await client.recv(timeout=10)
        return client

    def refused_sockets(self) -> list[float]:
        """`live_address_limited_total{limit="sockets"}` of each worker."""
        counts = []
        for worker in self.workers:
            text = httpx.get(worker.base + "/metrics", timeout=5).text
            [line] = [l for l in text.splitlines() if l.startswith('live_address_limited_total{limit="sockets"}')]
            counts.append(float(line.split()[-1]))
        return counts


async def test_nginx_in_front_of_two_workers(deployment):
    await viewers_and_staff_through_nginx(deployment)
    for client in deployment.workers[0].clients:
        await client.close()
    await limits_per_address_behind_nginx(deployment)


async def viewers_and_staff_through_nginx(d: Deployment) -> None:
    async with d.http() as http:
        page = await http.get(f"/watch/{ROOM}")
        assert page.status_code == 200 and 'id="conn"' in page.text
        assert re.fullmatch(r"[0-9a-f]{32}", page.headers["x-request-id"])  # nginx's $request_id, kept by the app
        cookie_header = page.headers["set-cookie"]
        # X-Forwarded-Proto: https reaches the app only from a trusted proxy; then its
        # cookies are for https only.
        assert ("; secure" in cookie_header.lower()) == d.trusted
        viewer_cookie = page.cookies["live_vid"]
        assert (await http.get(f"/control/{ROOM}")).status_code == 200  # the staff page (its token stays in the fragment)

        viewer = await d.socket(cookie=viewer_cookie)
        assert viewer.welcome["type"] == "snapshot" and viewer.welcome["role"] == "viewer"
        controller = await d.socket(CLIENT_B, token=d.workers[0].token("controller"))
        assert controller.welcome["role"] == "controller"
        await controller.send({"type": "pin", "sku": "P2"})
        assert (await viewer.recv_type("pinned"))["sku"] == "P2"

        command = await http.post(
            f"/api/rooms/{ROOM}/commands", json={"type": "pin", "sku": "P3"},
            headers={"Authorization": f"Bearer {d.workers[0].token('controller')}"},
        )
        assert command.status_code == 200 and command.json()["type"] == "ack", command.text
        assert (await viewer.recv_type("pinned"))["sku"] == "P3"

    async with d.http(CLIENT_B, headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile Safari/604.1"}) as phone:
        click = await phone.get(f"/r/{d.code}")
        assert (click.status_code, click.headers["location"]) == (302, f"/watch/{ROOM}")
        poster = await phone.get(f"/r/{d.code}/poster.svg")
        assert f"{PUBLIC_URL}/r/{d.code}" in poster.text  # --public-url, not the Host nginx passed
    [live] = (await d.store.guide_report("g1")).lives
    assert live.clicks == 1

    async with httpx.AsyncClient() as plain:  # http:// is sent to https://
        moved = await plain.get(f"http://127.0.0.1:{d.nginx.http_port}/watch/{ROOM}")
        assert (moved.status_code, moved.headers["location"]) == (301, f"https://127.0.0.1/watch/{ROOM}")


async def limits_per_address_behind_nginx(d: Deployment) -> None:
    """Each worker lets an address hold SOCKETS_PER_WORKER sockets. Client A opens
    sockets through nginx until both workers refuse it; then client B, from another
    address, gets in only if the workers see the address nginx forwards: when they do
    not trust nginx, everyone is nginx's 127.0.0.1."""
    a = d.workers[0].tokens
    refused_in_a_row = attempts = 0
    while refused_in_a_row < 4:  # nginx takes turns between the workers: both refused
        attempts += 1
        assert attempts <= 20, "client A was never refused"
        client = await d.socket(CLIENT_A, cookie=a.viewer_cookie(f"v_a{attempts}")[1])
        if client.welcome["type"] == "snapshot":
            refused_in_a_row = 0
        else:
            assert (client.welcome["code"], client.welcome["params"]) == ("too_many_connections", {"limit": SOCKETS_PER_WORKER})
            refused_in_a_row += 1
    assert attempts - 4 <= 2 * SOCKETS_PER_WORKER
    assert all(count >= 1 for count in d.refused_sockets())  # each worker refused A

    b = await d.socket(CLIENT_B, cookie=a.viewer_cookie("v_b")[1])
    if d.trusted:
        assert b.welcome["type"] == "snapshot", b.welcome
    else:
        assert (b.welcome["type"], b.welcome["code"]) == ("error", "too_many_connections")


def test_the_systemd_unit_verifies_clean(tmp_path):
    """`systemd-analyze verify` on deploy/live.service, its ExecStart pointed at this
    checkout's `live` (verify checks that the program exists)."""
    live = Path(sys.executable).parent / "live"
    unit = (DEPLOY / "live.service").read_text()
    assert "ExecStart=/opt/live/venv/bin/live serve " in unit
    (tmp_path / "live.service").write_text(unit.replace("/opt/live/venv/bin/live", str(live)))
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(tmp_path / "live.service")], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
