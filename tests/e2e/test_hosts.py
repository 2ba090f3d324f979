"""Host names: QR codes and posters carry an absolute URL, so the server answers only
for the host names it was given (`LIVE_ALLOWED_HOSTS`, the public URL's), builds those
URLs from `LIVE_PUBLIC_URL` when it is set, and lets shared caches keep them only then.
A forged `Host` header can neither plant a link to another site in a cached QR code
nor reach a page."""

from __future__ import annotations

import io

import httpx
import pytest
import segno
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from live.app import create_app
from live.errors import ConfigError
from live.protocol import Guide, Shop
from tests.support import ROOM, running_server, test_settings

PUBLIC = "https://live.example.com"


async def with_link(server) -> str:
    store = server.app.state.live.ops
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01")])
    return (await store.create_link("g1", ROOM)).code


def qr_svg(url: str) -> bytes:
    expected = io.BytesIO()
    segno.make(url, error="m").save(expected, kind="svg", scale=8, border=2, dark="#111", light="#fff")
    return expected.getvalue()


async def test_other_host_names_are_refused_and_links_are_not_shared_by_caches(tmp_path):
    async with running_server(test_settings(tmp_path / "data")) as server:
        code = await with_link(server)
        async with server.http() as http:
            for path in ("/", f"/watch/{ROOM}", f"/r/{code}.svg", f"/r/{code}.png", f"/r/{code}/poster.svg", "/healthz"):
                forged = await http.get(path, headers={"Host": "evil.example"})
                assert forged.status_code == 400, (path, forged.status_code)
                assert b"evil.example" not in forged.content
            for host in ("localhost", f"localhost:{server.settings.port}", f"127.0.0.1:{server.settings.port}"):
                qr = await http.get(f"/r/{code}.svg", headers={"Host": host})
                assert qr.status_code == 200 and qr.content == qr_svg(f"http://{host}/r/{code}")
                # Built from the request's own Host: for the one who asked, never for a shared cache.
                assert qr.headers["cache-control"].startswith("private")
                poster = await http.get(f"/r/{code}/poster.svg", headers={"Host": host})
                assert poster.status_code == 200 and poster.headers["cache-control"].startswith("private")
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{server.settings.port}/ws/{ROOM}", additional_headers={"Host": "evil.example"})
        assert refused.value.response.status_code == 400
        viewer = await server.viewer()  # the same socket under a known name
        assert viewer.welcome["type"] == "snapshot"


async def test_the_public_url_makes_the_links_and_its_host_is_served(tmp_path):
    settings = test_settings(tmp_path / "data", public_url=PUBLIC + "/")
    async with running_server(settings) as server:
        code = await with_link(server)
        async with server.http() as http:
            for host in ("live.example.com", f"127.0.0.1:{server.settings.port}"):
                qr = await http.get(f"/r/{code}.svg", headers={"Host": host})
                assert qr.status_code == 200 and qr.content == qr_svg(f"{PUBLIC}/r/{code}")
                assert qr.headers["cache-control"].startswith("public")
                poster = await http.get(f"/r/{code}/poster.svg", headers={"Host": host})
                assert f"{PUBLIC}/r/{code}" in poster.text and poster.headers["cache-control"].startswith("public")
            assert (await http.get(f"/r/{code}.svg", headers={"Host": "evil.example"})).status_code == 400


async def test_any_host_name_needs_a_public_url(tmp_path):
    with pytest.raises(ConfigError, match="LIVE_PUBLIC_URL"):
        create_app(test_settings(tmp_path / "data", allowed_hosts=("*",)))
    settings = test_settings(tmp_path / "data", allowed_hosts=("*",), public_url=PUBLIC)
    async with running_server(settings) as server:
        code = await with_link(server)
        async with httpx.AsyncClient(base_url=server.base) as http:
            qr = await http.get(f"/r/{code}.svg", headers={"Host": "anything.example"})
            assert qr.status_code == 200 and qr.content == qr_svg(f"{PUBLIC}/r/{code}")
