"""ffmpeg publishes over WHIP (WebRTC); hls.js in chromium plays the channel's LL-HLS: the
WebRTC ingest's H.264 and AAC (made from Opus) make a stream a browser plays without
stalling."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.publisher import finish
from tests.support.server import running_server
from tests.support.whip import start_whip_publisher

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PLAY_SECONDS = 12
SETTLE_SECONDS = 3


async def test_hlsjs_plays_a_whip_published_stream(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    async with running_server(tmp_path / "data", reconnect_grace=2.0) as server:
        key = server.demo_key
        assert key is not None
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"http://127.0.0.1:{server.http_port}/demo")
        await page.wait_for_function(
            "() => window.golive && window.golive.stats.offline", timeout=10_000
        )
        proc = await start_whip_publisher(
            server.http_port, key, seconds=PLAY_SECONDS + SETTLE_SECONDS + 15
        )
        try:
            await page.wait_for_function("() => window.golive.stats.playing", timeout=25_000)
            await asyncio.sleep(SETTLE_SECONDS)
            start_time = await page.evaluate("() => window.golive.video.currentTime")
            started = time.monotonic()
            await asyncio.sleep(PLAY_SECONDS)
            end_time = await page.evaluate("() => window.golive.video.currentTime")
            elapsed = time.monotonic() - started
            stats = await page.evaluate("() => window.golive.stats")
            size = await page.evaluate(
                "() => [window.golive.video.videoWidth, window.golive.video.videoHeight]"
            )
            await page.screenshot(path=str(artifacts / "whip-playing.png"))
        finally:
            proc.kill()
            await finish(proc, timeout=10)
            await page.close()
    print("stats", stats, "played", end_time - start_time, "in", elapsed)
    assert not errors, errors
    assert size == [320, 240]
    assert end_time - start_time >= PLAY_SECONDS - 1.5, (start_time, end_time, stats)
    assert stats["stalls"] == 0, stats
