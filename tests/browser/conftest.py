"""Real Chromium (Debian's, through Playwright) against the real server.

`browser` is one Chromium per test: a few hundred milliseconds, and a test that
wedges the browser cannot take the next one down with it. `pages` opens pages in
fresh browser contexts (each context is a distinct viewer: its own cookies and
storage) and records what goes wrong in them: an uncaught exception, a console
error or a dialog (`alert`) fails the test (or, if it comes later, its teardown).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.support import ROOM, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

expect.set_options(timeout=10_000)


@pytest.fixture
async def browser():
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


class Frames:
    """Every websocket frame a page sent and received, decoded, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, dict]] = []

    def sent(self, type_: str | None = None) -> list[dict]:
        return [m for d, m in self.log if d == "sent" and (type_ is None or m.get("type") == type_)]

    def received(self, type_: str | None = None) -> list[dict]:
        return [m for d, m in self.log if d == "received" and (type_ is None or m.get("type") == type_)]

    async def wait(self, predicate, timeout: float = 10) -> None:
        """Until `predicate(self)` holds: frames are reported a moment after they pass."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            assert time.monotonic() < deadline, f"frames never matched; got {self.log}"
            await asyncio.sleep(0.02)

    def _add(self, direction: str, payload: str | bytes) -> None:
        try:
            self.log.append((direction, json.loads(payload)))
        except ValueError:
            self.log.append((direction, {"type": "<not json>", "raw": payload}))


class Pages:
    """Opens the app's pages in Chromium and keeps a list of problems seen in them."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.frames: dict[Page, Frames] = {}
        self.reported = 0

    async def context(self, **options) -> BrowserContext:
        context = await self.browser.new_context(**options)
        self.contexts.append(context)
        return context

    async def open(self, path: str, context: BrowserContext | None = None, **options) -> Page:
        """`path` in a new tab of `context` (by default a new context: a new viewer).
        The page's websocket frames are kept in `self.frames[page]`."""
        context = context or await self.context(**options)
        page = await context.new_page()
        self._watch(page)
        frames = self.frames[page] = Frames()
        page.on("websocket", lambda ws: self._record(ws, frames))
        await page.goto(self.server.base + path)
        return page

    async def overlay(self, room: str = ROOM, query: str = "", **kwargs) -> Page:
        return await self.open(f"/watch/{room}{query}", **kwargs)

    async def control(self, room: str = ROOM, token: str | None = None, **kwargs) -> Page:
        token = token if token is not None else self.server.token("controller", room)
        return await self.open(f"/control/{room}#token={token}", **kwargs)

    async def host(self, room: str = ROOM, token: str | None = None, **kwargs) -> Page:
        token = token if token is not None else self.server.token("host", room)
        return await self.open(f"/host/{room}#token={token}", **kwargs)

    def _watch(self, page: Page) -> None:
        def on_console(message) -> None:
            if message.type == "error":
                self.problems.append(f"console error on {page.url}: {message.text} ({message.location})")

        async def on_dialog(dialog) -> None:
            self.dialogs.append(dialog.message)
            self.problems.append(f"{dialog.type} dialog on {page.url}: {dialog.message!r}")
            await dialog.dismiss()

        page.on("pageerror", lambda error: self.problems.append(f"uncaught error on {page.url}: {error}"))
        page.on("console", on_console)
        page.on("dialog", on_dialog)

    @staticmethod
    def _record(ws, frames: Frames) -> None:
        ws.on("framesent", lambda payload: frames._add("sent", payload))
        ws.on("framereceived", lambda payload: frames._add("received", payload))

    @staticmethod
    async def until_live(*pages: Page) -> None:
        """Wait until each page's connection badge says it is live."""
        for page in pages:
            await expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    async def close(self) -> None:
        for context in self.contexts:
            try:
                await context.close()
            except Exception:  # already closed by the test
                pass
        self.contexts.clear()

    def unreported(self) -> str | None:
        new, self.reported = self.problems[self.reported :], len(self.problems)
        return "the pages reported problems:\n" + "\n".join(new) if new else None


@pytest.fixture
async def pages(browser, server):
    pages = Pages(browser, server)
    try:
        yield pages
    finally:
        await pages.close()
    if problems := pages.unreported():
        pytest.fail(problems, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A test whose pages threw (or alerted) fails, even if its assertions passed."""
    result = yield
    pages = getattr(item, "funcargs", {}).get("pages")
    if isinstance(pages, Pages) and (problems := pages.unreported()):
        pytest.fail(problems, pytrace=False)
    return result

