"""The README's pictures of a live's life: `python docs/lives_screenshots.py` (needs chromium).

Seeds the demo in a temporary data dir, serves it, creates a scheduled live through
`POST /api/rooms`, and takes the admin's list of lives, the control panel on a phone
(before and during the live), and the overlay before, during and after it, in zh-CN
and en, into docs/img/lives-*.png.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from live.tokens import Tokens

OUT = Path(__file__).resolve().parent / "img"
PORT = 8791
SECRET = "lives-screenshots-secret-0123456789abcdef"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
BASE = f"http://127.0.0.1:{PORT}"


async def shoot(tokens: Tokens) -> None:
    admin = tokens.mint("admin", "*", "boss", 3600)
    controller = tokens.mint("controller", "spring2", "lily", 3600)
    httpx.post(f"{BASE}/api/rooms", headers={"Authorization": f"Bearer {admin}"}, json={
        "id": "spring2", "title": "春季第二场 · Spring live #2", "scheduled_at": int(time.time() * 1000) + 3_600_000,
        "lineup": ["TEA-01", "MASK-02", "SERUM-03"]}).raise_for_status()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)

        async def snap(path: str, name: str, width: int, height: int, phone: bool = False) -> None:
            context = await browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
            tab = await context.new_page()
            await tab.goto(BASE + path)
            await asyncio.sleep(1.5)
            await tab.screenshot(path=OUT / f"lives-{name}.png")
            await context.close()

        for lang in ("zh-CN", "en"):
            await snap(f"/admin?lang={lang}#token={admin}", f"admin-{lang}", 1280, 760)
            await snap(f"/watch/spring2?lang={lang}", f"overlay-scheduled-{lang}", 390, 700, phone=True)
        for message in ({"type": "start_live"}, {"type": "pin", "sku": "TEA-01"},
                        {"type": "plan_release", "sku": "TEA-01", "quantity": 5, "waves": 3, "interval_s": 30, "price": 590}):
            httpx.post(f"{BASE}/api/rooms/spring2/commands", headers={"Authorization": f"Bearer {controller}"},
                       json=message).raise_for_status()
        for lang in ("zh-CN", "en"):
            await snap(f"/control/spring2?lang={lang}#token={controller}", f"control-phone-{lang}", 390, 844, phone=True)
            await snap(f"/watch/spring2?lang={lang}", f"overlay-live-{lang}", 390, 700, phone=True)
        httpx.post(f"{BASE}/api/rooms/spring2/commands", headers={"Authorization": f"Bearer {controller}"},
                   json={"type": "end_live"}).raise_for_status()
        for lang in ("zh-CN", "en"):
            await snap(f"/watch/spring2?lang={lang}", f"overlay-ended-{lang}", 390, 700, phone=True)
        await browser.close()


def main() -> None:
    data = tempfile.mkdtemp()
    env = {**os.environ, "LIVE_SECRET": SECRET}
    subprocess.run([sys.executable, "-m", "live", "demo", "--no-serve", "--data-dir", data], env=env, check=True,
                   capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "live", "serve", "--data-dir", data, "--port", str(PORT),
                               "--log-level", "warning"], env=env)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{BASE}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(shoot(Tokens(SECRET)))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
