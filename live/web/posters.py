"""Posters as PNG images, for where an SVG is not taken (WeChat chats, photo albums).

The PNG is the SVG poster (`templates/poster.svg`) drawn by resvg (`resvg-py`: a Rust
renderer in a self-contained wheel, no system library). resvg picks a font for each
glyph among the system's fonts, so the Chinese text needs a CJK font installed: Debian's
`fonts-noto-cjk` or `fonts-wqy-microhei`. Without one, the PNG is refused (503
`poster_font_missing`, logged once) rather than sent with its Chinese missing; the SVG
poster, drawn by the phone with its own fonts, still works.

Drawing a poster takes about 0.15 s of CPU and holds the GIL, which would stall every
socket of the process meanwhile: it runs in a child process of its own (one per server
process, started at the first PNG poster), and the last drawings are kept, since the
same poster is asked for again and again. This module imports nothing heavy, so the
child starts quickly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import NotAvailable

log = logging.getLogger("live.posters")

KEPT = 64  # drawings kept (about 100 KiB each)
# One Chinese character: drawn, it leaves pixels; with no font that has it, nothing.
_PROBE = '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">{}</svg>'
_CJK = '<text x="2" y="28" font-size="28" font-family="sans-serif">中</text>'


_drawable: dict[str, bool] = {}  # font options -> cjk_drawable, in this process


def cjk_drawable(fonts: dict[str, Any]) -> bool:
    """Whether resvg, with these font options, can draw Chinese text (asked once)."""
    import resvg_py

    key = repr(sorted(fonts.items()))
    if key not in _drawable:
        drawn, blank = (resvg_py.svg_to_bytes(svg_string=_PROBE.format(body), **fonts) for body in (_CJK, ""))
        _drawable[key] = drawn != blank
    return _drawable[key]


def end_with_parent() -> None:
    """(In the child, first) Exit as soon as the server process ends, however it ends, even
    killed with -9: the child holds both ends of its task pipe, so it would never see
    that pipe close, and would wait for work forever."""
    sentinel = multiprocessing.parent_process().sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def draw(svg: str, fonts: dict[str, Any]) -> bytes | None:
    """The SVG as PNG bytes, or None when no font can draw its Chinese (in the child)."""
    import resvg_py

    if not cjk_drawable(fonts):
        return None
    return resvg_py.svg_to_bytes(svg_string=svg, **fonts)


class PosterPainter:
    """Draws SVG posters as PNG in a child process, keeping the last `KEPT` drawings.
    `fonts` are resvg's font options (none: the system's fonts)."""

    def __init__(self, **fonts: Any) -> None:
        self._fonts = fonts
        self._pool: ProcessPoolExecutor | None = None
        self._kept: OrderedDict[bytes, bytes] = OrderedDict()
        self._warned = False

    async def png(self, svg: str) -> bytes:
        key = hashlib.sha256(svg.encode()).digest()
        if (png := self._kept.get(key)) is not None:
            self._kept.move_to_end(key)
            return png
        if self._pool is None:
            # spawn, not fork: a fork of this process would copy its threads' locks mid-use.
            spawn = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(1, mp_context=spawn, initializer=end_with_parent)
        try:
            png = await asyncio.get_running_loop().run_in_executor(self._pool, draw, svg, self._fonts)
        except BrokenProcessPool:
            self._pool = None  # the child died: the next poster starts another
            raise
        if png is None:
            if not self._warned:
                self._warned = True
                log.warning("no CJK font: PNG posters are refused; install fonts-noto-cjk or fonts-wqy-microhei")
            raise NotAvailable(
                "no font on this server draws Chinese: install fonts-noto-cjk or fonts-wqy-microhei "
                "(the SVG poster works meanwhile)", code="poster_font_missing",
            )
        self._kept[key] = png
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return png

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
