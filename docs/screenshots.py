"""Regenerate the README's screenshots: `python docs/screenshots.py` (needs chromium).

Seeds a demo room in a temporary data dir, serves it, brings in a few viewers (some
through a guide's link), pins a product and takes the pictures in docs/img/.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from live.settings import Settings
from live.demo import links

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
PORT = 8799
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PHONE = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
# Stands in for the live video under the transparent overlay.
FAKE_VIDEO = "linear-gradient(160deg, #4b6cb7 0%, #182848 60%, #0b0f1f 100%)"


async def shoot(urls: dict[str, str]) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)

        async def page(url: str, width: int, height: int):
            # A phone's user agent: HeadlessChrome is a link-preview fetcher, whose clicks do not count.
            context = await browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1, user_agent=PHONE)
            tab = await context.new_page()
            await tab.goto(url)
            return tab

        control = await page(urls["control"], 1280, 1000)
        guide = await page(urls["guide"], 1280, 900)
        share = await guide.evaluate("new Promise(r => setTimeout(() => r(document.querySelector('input.share-link').value), 1500))")
        viewers = [await page(share if i % 2 else urls["watch"], 390, 780) for i in range(6)]
        host = await page(urls["host"], 1280, 720)
        await asyncio.sleep(1.5)
        await control.click("#coupons li[data-coupon='c1'] button[data-push]")
        await asyncio.sleep(0.5)
        await control.click("li[data-sku='MASK-02'] button[data-action='pin']")
        await control.select_option("#planner select[name=sku]", "MASK-02")
        await control.fill("#planner input[name=quantity]", "100")
        await control.fill("#planner input[name=countdown]", "0")
        await control.fill("#planner input[name=price]", "39")
        await control.click("#planner button[type=submit]")
        await asyncio.sleep(1)
        for viewer in viewers[1:4]:
            await viewer.click("#coupon-pop-close")
            await viewer.click("#buy")
            await asyncio.sleep(0.5)
            await viewer.click("#sheet-pay")
        await viewers[4].click("#coupon-pop-close")
        await viewers[4].click("#buy")
        for _ in range(9):
            await viewers[0].click("#like")
        await asyncio.sleep(2.5)
        await viewers[0].evaluate("bg => (document.body.style.background = bg)", FAKE_VIDEO)
        await control.screenshot(path=OUT / "control.png", full_page=True)
        await viewers[0].screenshot(path=OUT / "overlay.png")
        await host.screenshot(path=OUT / "host.png")
        await guide.screenshot(path=OUT / "guide.png")
        review = await page(urls["review"], 1280, 1400)
        await asyncio.sleep(1.5)
        await review.screenshot(path=OUT / "review.png")
        admin = await page(urls["admin"], 1280, 900)
        await asyncio.sleep(1)
        await admin.locator("#ledger-tab").scroll_into_view_if_needed()
        await admin.screenshot(path=OUT / "admin.png")
        await browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data), port=PORT).resolved()
        cmd = [sys.executable, "-m", "live", "demo", "--data-dir", data, "--port", str(PORT), "--log-level", "warning"]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"http://127.0.0.1:{PORT}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            urls = {k: v.replace("#", "?lang=zh-CN#") if "#" in v else v + "?lang=zh-CN" for k, v in links(settings, "demo").items()}
            asyncio.run(shoot(urls))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
