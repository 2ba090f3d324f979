"""`live` installed from its wheel, as an operator installs it: the wheel is built with
`pip wheel` from a copy of the checkout, installed into a fresh venv outside it, and run
from a directory that is not the checkout (nothing of the source tree on the path).
Then `live --version`, `live demo --no-serve`, `live serve`, every page, every static
file the pages load, the tracked links, a room socket and `live import --server`.

The venv installs from the wheels `make` fetched beside the test venv (`.venv/wheels`,
with --no-index), so this test needs no network of its own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect

from live.demo import DISTRIBUTORS, GUIDES
from tests.support import free_port

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parent.parent
WHEELS = Path(sys.prefix) / "wheels"
# What a checkout holds that is no part of the source (the copy the wheel is built from leaves them out).
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", ".live", ".demo-data", "data"
)
ASSET = re.compile(r"""(?:src|href)="(/static/[^"]+)\"""")
IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}/[^"']+)["']""")


def pip_env() -> dict[str, str]:
    """This machine's pip settings (extra indexes, find-links) left out: only the wheels given count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run(*args: str | Path, cwd: Path, env: dict | None = None, timeout: float = 300) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env or pip_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `bin/` of a fresh venv with live installed from its wheel and nothing else."""
    if not any(WHEELS.glob("*.whl")):
        pytest.fail(f"no wheels in {WHEELS}: build the test venv with make (it fetches them)")
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCE)
    find = ["--no-index", "--find-links", WHEELS]
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *find, "--wheel-dir", tmp / "dist", source, cwd=tmp)
    [wheel] = (tmp / "dist").glob("live-*.whl")
    check_contents(wheel)
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", *find, wheel, cwd=tmp)
    return venv / "bin"


def check_contents(wheel: Path) -> None:
    """Every file the server reads besides Python is in the wheel, tests and benches are not."""
    names = set(zipfile.ZipFile(wheel).namelist())
    package = CHECKOUT / "live"
    wanted = [
        *package.glob("templates/*"), *package.glob("static/**/*.*"),
        *package.glob("web/locales/*.json"), *package.glob("store/redis/lua/*.lua"),
    ]
    missing = sorted(str(p.relative_to(CHECKOUT)) for p in wanted if str(p.relative_to(CHECKOUT)) not in names)
    assert not missing, f"not in the wheel: {missing}"
    assert not any(name.startswith(("tests/", "bench/", "docs/")) for name in names)


class Served:
    """`live serve` from the installed venv, in a directory of its own."""

    def __init__(self, bin_dir: Path, home: Path, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [bin_dir / "live", "serve", "--port", str(port), "--data-dir", home / "data", "--log-level", "warning"],
            cwd=home, env=pip_env(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"live serve exited with {self.process.returncode}"
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("live serve did not become healthy")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)


async def load_page(http: httpx.AsyncClient, url: str, seen: set[str]) -> str:
    """The page, then every static file it loads, and every module those import."""
    page = await http.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), (url, page.status_code)
    queue = [urljoin(url, path) for path in ASSET.findall(page.text)]
    assert queue, f"{url} loads nothing from /static/"
    while queue:
        asset = queue.pop()
        if asset in seen:
            continue
        seen.add(asset)
        response = await http.get(asset)
        assert response.status_code == 200, (asset, response.status_code)
        if asset.endswith((".js", ".mjs")):
            queue += [urljoin(asset, path) for path in IMPORT.findall(response.text)]
    return page.text


async def test_the_wheel_installs_and_serves_every_page(installed, tmp_path):
    home = tmp_path / "elsewhere"  # neither the checkout nor anything beside it
    home.mkdir()
    live = installed / "live"
    assert run(live, "--version", cwd=home).strip() == "live 0.1.0"
    port = free_port()
    printed = run(live, "demo", "--no-serve", "--data-dir", home / "data", "--port", str(port), cwd=home)
    pages = [url for url in re.findall(r"http://\S+", printed)]
    assert len(pages) == 12, printed  # six pages, in zh-CN and in en
    server = Served(installed, home, port)
    try:
        async with httpx.AsyncClient(timeout=20) as http:
            seen: set[str] = set()
            for url in [f"{server.base}/", *pages]:
                await load_page(http, url.partition("#")[0], seen)
            assert {"/static/js/watch.js", "/static/js/page-kit.js", "/static/vendor/uplot/uPlot.iife.min.js"} <= {urlsplit(u).path for u in seen}
            assert (await http.get(f"{server.base}/nope")).status_code == 404  # the not-found page renders too
            codes = await demo_links(http, live, home, server)
            assert len(codes) == len(GUIDES) + len(DISTRIBUTORS)
            for code in codes:
                follow = await http.get(f"{server.base}/r/{code}", headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"})
                assert follow.status_code == 302 and follow.headers["location"] == "/watch/demo"
                for suffix, kind in ((".png", "image/png"), (".svg", "image/svg+xml"), ("/poster.svg", "image/svg+xml"), ("/poster.png", "image/png")):
                    image = await http.get(f"{server.base}/r/{code}{suffix}")
                    assert image.status_code == 200 and image.headers["content-type"] == kind, (suffix, image.status_code)
        await open_room_socket(server, pages)
        catalog = home / "catalog.csv"
        catalog.write_text("sku,title,price,list_price,role,image,stock,limit\nNEW-1,新品 New,1990,2990,hit,,10,2\n", encoding="utf-8")
        imported = run(live, "import", catalog, "--server", server.base, "--data-dir", home / "data", cwd=home)
        assert "imported 1 product(s)" in imported
    finally:
        server.stop()
    lua = run(installed / "python", "-c", "import live.store.redis.connection as l; print(len(list(l.LUA.glob('*.lua'))))", cwd=home)
    assert int(lua) == len(list((CHECKOUT / "live/store/redis/lua").glob("*.lua")))


async def demo_links(http: httpx.AsyncClient, live: Path, home: Path, server: Served) -> list[str]:
    """The tracked link of each of the demo's guides and distributors, through their portal
    (their tokens minted by the installed `live token`)."""
    codes = []
    for person, *_ in [*GUIDES, *DISTRIBUTORS]:
        token = run(live, "token", "--role", "guide", "--room", "*", "--sub", person, "--data-dir", home / "data", cwd=home).strip()
        me = await http.get(f"{server.base}/api/guide/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        codes += [link["code"] for life in me.json()["lives"] for link in life["links"] if link["sku"] is None]
    return codes


async def open_room_socket(server: Served, pages: list[str]) -> None:
    """A viewer and the controller (its token from the demo's printed link) join the room."""
    ws_url = server.base.replace("http://", "ws://") + "/ws/demo"
    controller = next(url.split("#token=")[1] for url in pages if urlsplit(url).path == "/control/demo")
    for role, hello in (("viewer", {"type": "hello", "v": 1}), ("controller", {"type": "hello", "v": 1, "token": controller})):
        async with connect(ws_url) as ws:
            await ws.send(json.dumps(hello))
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (snapshot["type"], snapshot["role"], snapshot["room"]["id"]) == ("snapshot", role, "demo"), snapshot
