"""The web demo in a real browser: Debian's headless Chromium driven by Playwright clicks Generate and sees
both videos and the metrics, and the page makes no request beyond the local server."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.demo import create_app, launch

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 180_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)"
)


def test_generate_in_the_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    demo, session = create_app(out_dir=tmp_path / "videos")  # the demo model, or tiny-wan without its weights
    url = launch(demo, session, port=None, block=False)
    requests: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            steps = page.locator("#steps input[type=number]")
            steps.fill("2")  # few steps: the point is the page, not the video
            steps.press("Enter")
            page.click("#generate")
            for video in ("#dense video[src]", "#accelerated video[src]"):
                page.wait_for_selector(video, timeout=TIMEOUT_MS)
            page.wait_for_selector("#metrics :text('PSNR')", timeout=TIMEOUT_MS)
            page.wait_for_selector("#layout img", timeout=TIMEOUT_MS)
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
            sources = [page.get_attribute(f"#{name} video", "src") for name in ("dense", "accelerated")]
            metrics = page.inner_text("#metrics")
            browser.close()
    finally:
        demo.close()
    assert all(sources) and sources[0] != sources[1]
    assert "wall time" in metrics and "attention computed" in metrics and "SSIM" in metrics
    outside = [
        u
        for u in requests
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname not in LOCAL_HOSTS
    ]
    assert requests and not outside, f"requests beyond the local server: {outside[:5]}"
    print(f"screenshot: {tmp_path / 'demo.png'}")
