"""PNG posters (`live/web/posters.py`): drawn in a child process with the system's fonts,
Chinese included, kept once drawn, and refused with a clear code when no font on the
machine draws Chinese. `make test` installs a CJK font (fonts-wqy-microhei)."""

from __future__ import annotations

import contextlib
import signal
import struct
import time
from pathlib import Path

import pytest

from live.errors import NotAvailable
from live.protocol import Guide, Shop
from live.ops import open_ops
from live.web.posters import PosterPainter, cjk_drawable
from tests.support import ROOM, ServerProcess, seed, test_settings

TEXT = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><text x="10" y="45" font-size="40" font-family="sans-serif">{}</text></svg>'


def size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.fixture
async def painter():
    painter = PosterPainter()
    yield painter
    painter.close()


async def test_chinese_is_drawn_glyph_by_glyph(painter):
    """Two names that differ in one Chinese character give two images, and both differ
    from no text at all: real glyphs, not blanks or the same missing-glyph box."""
    assert cjk_drawable({})
    mei, li, blank = [await painter.png(TEXT.format(name)) for name in ("小美", "小丽", "")]
    assert size(mei) == size(li) == (200, 60)
    assert len({mei, li, blank}) == 3


async def test_a_drawing_is_kept(painter):
    first = await painter.png(TEXT.format("直播间"))
    pool = painter._pool
    pool.shutdown()  # the child is gone: a second drawing could not be made
    assert await painter.png(TEXT.format("直播间")) == first


async def test_without_a_cjk_font_the_png_is_refused_with_a_code():
    painter = PosterPainter(skip_system_fonts=True)  # a machine with no fonts at all
    try:
        assert not cjk_drawable({"skip_system_fonts": True})
        with pytest.raises(NotAvailable) as refused:
            await painter.png(TEXT.format("小美"))
        assert (refused.value.code, refused.value.status) == ("poster_font_missing", 503)
        assert "fonts-noto-cjk" in refused.value.message
    finally:
        painter.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_the_drawing_process_ends_with_the_server(tmp_path, sig):
    """`live serve` stopped, or killed with -9, leaves no drawing process behind."""
    settings = test_settings(tmp_path / "data")
    store = open_ops(settings.store, settings.data_dir)
    await store.open()
    await seed(store)
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "小美", "s1", "MEI-01")])
    code = (await store.create_link("g1", ROOM)).code
    await store.close()
    server = ServerProcess(settings)
    server.start()
    try:
        async with server.http() as http:
            assert (await http.get(f"/r/{code}/poster.png")).status_code == 200
        children = children_of(server.process.pid)
        assert children, "no drawing process was started"
    finally:
        server.stop(sig)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children)


def children_of(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(stat.parent.name))
    return pids


def alive(pid: int) -> bool:
    """Still running (one that exited but is not yet reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
