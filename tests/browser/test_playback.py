"""hls.js in low-latency mode plays a live stream in chromium without stalling."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from golive.app import GoliveServer
from tests.support.publisher import finish, start_publisher
from tests.support.server import rtmp_url

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

PLAY_SECONDS = 30
STARTUP_SECONDS = 5


async def test_hlsjs_plays_30_seconds_without_stall(
    server: GoliveServer, browser: Any, artifacts: Path
) -> None:
    proc = await start_publisher(
        rtmp_url(server, server.demo_key or ""),
        seconds=PLAY_SECONDS + STARTUP_SECONDS + 15,
        gop=30,
        bframes=0,
        extra=["-tune", "zerolatency"],
    )
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"http://127.0.0.1:{server.http_port}/demo")
    # Wait until playback has started.
    await page.wait_for_function(
        "() => window.golive && window.golive.video && window.golive.video.currentTime > 0.5",
        timeout=20_000,
    )
    # The window opens once start-up is over (first parts, the player's one settle seek to
    # the live edge); a stall inside start-up is reported below but judged separately.
    await asyncio.sleep(STARTUP_SECONDS)
    startup_stalls = await page.evaluate("() => window.golive.stats.stalls")
    start_time = await page.evaluate("() => window.golive.video.currentTime")
    started = time.monotonic()
    latencies: list[float] = []
    while time.monotonic() - started < PLAY_SECONDS:
        await asyncio.sleep(1)
        latency = await page.evaluate("() => window.golive.stats.latency")
        if isinstance(latency, int | float) and latency > 0:
            latencies.append(float(latency))
    stats = await page.evaluate("() => window.golive.stats")
    end_time = await page.evaluate("() => window.golive.video.currentTime")
    await page.screenshot(path=str(artifacts / "watch-playing.png"))
    await page.close()
    proc.kill()
    await finish(proc, timeout=10)

    assert not errors, errors
    played = end_time - start_time
    assert played >= PLAY_SECONDS - 1.5, f"played only {played:.1f} s in {PLAY_SECONDS} s"
    assert stats["stalls"] == startup_stalls, json.dumps(stats)
    assert startup_stalls <= 1, json.dumps(stats)
    assert latencies, stats
    latencies.sort()
    # Generous bound for a shared 2-core machine; bench/latency.py measures the real figure.
    assert latencies[len(latencies) // 2] < 3.0, latencies
