"""`simshop ui` in a real browser: Debian's Chromium driven by Playwright.

The test starts the command on 127.0.0.1, picks a shopper and a recommender, types a
parameter, picks a click model, steps pages, checks the product cards and takes a
screenshot. ``SIMSHOP_UPDATE_SCREENSHOT=1`` copies that screenshot to docs/ui.png, the one
the README shows.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "ui.png"
UPDATE_SCREENSHOT_ENV = "SIMSHOP_UPDATE_SCREENSHOT"
START_TIMEOUT = 60.0
TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def simshop_command() -> list[str]:
    script = Path(sys.executable).with_name("simshop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "simshop_cli"]


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"simshop ui exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"simshop ui did not answer within {START_TIMEOUT:.0f} s:\n{log.read_text()}")


@pytest.fixture
def chromium() -> Path:
    # CI installs it (`make browser`): a missing browser is a failure, never a silent skip.
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser test needs Debian's chromium "
            "package (`make browser` installs it; never `playwright install`)."
        )
    return CHROMIUM


@pytest.fixture
def app_url(chromium: Path, tmp_path: Path) -> Iterator[str]:
    """`simshop ui` on a free port, in an empty folder (no saved models or runs)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "simshop-ui.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMSHOP_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*simshop_command(), "ui", "--port", str(port), "--host", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Streamlit goes down with it
        )
        try:
            wait_until_healthy(process, url, log)
            yield url
        finally:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert f"SimShop UI: {url}" in log.read_text()


def choose(page, label: str, option: str) -> None:
    """Streamlit selectboxes are comboboxes, not <select>: open the list, click the option."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_browser_session(chromium: Path, app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1200})
            page.goto(app_url, timeout=TIMEOUT_MS)
            expect(page.get_by_role("combobox", name="Shopper", exact=True)).to_be_visible()

            choose(page, "Shopper", "brand_lover")
            choose(page, "Recommender", "popularity")
            expect(page.get_by_text("recommender popularity")).to_be_visible()
            # A parameter typed in the sidebar and a click model where position matters.
            params = page.get_by_role("textbox", name="Recommender parameters")
            expect(params).to_have_attribute("placeholder", "explore=EPS")
            params.fill("explore=0.1")
            params.press("Enter")
            choose(page, "Click model", "pbm")
            expect(page.get_by_text("popularity:explore=0.1 · click model pbm")).to_be_visible()

            cards = page.locator("[class*='st-key-card-']")
            for number in (1, 2):
                page.get_by_role("button", name="Next page").click()
                expect(page.get_by_role("heading", name=f"Page {number}")).to_be_visible()
                expect(cards).to_have_count(5)
            expect(cards.first).to_contain_text("quality")
            expect(cards.nth(1)).to_contain_text("examined 63%")
            expect(page.get_by_text("Page reward")).to_be_visible()
            # Let the charts draw before the picture is taken.
            expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible()
            page.wait_for_timeout(500)

            shot = tmp_path / "ui.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get(UPDATE_SCREENSHOT_ENV):
                SCREENSHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(shot, SCREENSHOT)
        finally:
            browser.close()
