"""Playwright driving Debian's chromium (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from golive.app import GoliveServer
from tests.support.server import running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # WebRTC: gather a loopback candidate too, as golive's test servers offer only 127.0.0.1.
    "--allow-loopback-in-peer-connection",
]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# The ABR ladder of the browser tests: a 640x360 source transcoded into 270p and 180p (small,
# so that publisher, encoder and browser fit on a shared two-core machine), and the audio.
LADDER = [
    {"name": "source", "kind": "source"},
    {"name": "270p", "height": 270, "bitrate": 500_000},
    {"name": "180p", "height": 180, "bitrate": 250_000},
    {"name": "audio", "kind": "audio"},
]


ABR_SETTINGS: dict[str, object] = {
    "transcode_ladder": LADDER,
    "transcode_preset": "ultrafast",
    "transcode_max_lag": 30.0,  # a loaded test machine must not shed renditions mid-test
}


@pytest.fixture
async def abr_server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with running_server(tmp_path / "data", reconnect_grace=2.0, **ABR_SETTINGS) as server:
        yield server
