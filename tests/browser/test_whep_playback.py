"""The watch page's "Low latency (WebRTC)" mode: chromium plays a channel over WHEP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.publisher import start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


async def test_the_watch_page_plays_over_webrtc(
    browser: Any, tmp_path: Path, artifacts: Path
) -> None:
    async with running_server(tmp_path / "data", reconnect_grace=1.0) as server:
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""), seconds=60, size="640x360", bframes=0
        )
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            async with http_client(server) as client:
                for _ in range(100):
                    if (await client.get("/live/demo/index.m3u8")).status_code == 200:
                        break
                    await asyncio.sleep(0.2)
            await page.goto(f"http://127.0.0.1:{server.http_port}/demo")
            await page.wait_for_function("() => window.golive && window.golive.webrtc")
            await page.click("#webrtc-toggle")
            await page.wait_for_function(
                "() => window.golive.stats.mode === 'webrtc'", timeout=20_000
            )
            status = await page.text_content("#webrtc-status")
            assert status is not None and "playing over WebRTC" in status
            first = await page.evaluate(
                "() => [window.golive.video.currentTime,"
                " window.golive.video.getVideoPlaybackQuality().totalVideoFrames,"
                " window.golive.video.videoWidth]"
            )
            await asyncio.sleep(3)
            later = await page.evaluate(
                "() => [window.golive.video.currentTime,"
                " window.golive.video.getVideoPlaybackQuality().totalVideoFrames]"
            )
            assert later[0] > first[0] + 2, (first, later)
            assert later[1] > first[1] + 40, (first, later)
            assert first[2] == 640
            assert await page.evaluate("() => window.golive.stats.mode") == "webrtc"
            (session,) = server.webrtc.sessions.for_channel("demo")
            assert session.connected and session.feed == "source"

            # Switching back ends the session (DELETE) and plays LL-HLS again.
            await page.click("#webrtc-toggle")
            await page.wait_for_function("() => window.golive.stats.mode === 'hls.js'")
            for _ in range(50):
                if not len(server.webrtc.sessions):
                    break
                await asyncio.sleep(0.1)
            assert len(server.webrtc.sessions) == 0

            # Leaving the page ends the session too (a DELETE on pagehide).
            await page.click("#webrtc-toggle")
            await page.wait_for_function(
                "() => window.golive.stats.mode === 'webrtc'", timeout=20_000
            )
            assert len(server.webrtc.sessions) == 1
            await page.goto("about:blank")
            for _ in range(50):
                if not len(server.webrtc.sessions):
                    break
                await asyncio.sleep(0.1)
            assert len(server.webrtc.sessions) == 0
            assert errors == []
        except Exception:
            await page.screenshot(path=str(artifacts / "whep-playback.png"))
            raise
        finally:
            await page.close()
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


async def test_the_watch_page_falls_back_to_ll_hls_and_says_why(
    browser: Any, tmp_path: Path, artifacts: Path
) -> None:
    # The B-frame source with no transcoded rendition: the server refuses WebRTC (409).
    async with running_server(
        tmp_path / "data",
        reconnect_grace=1.0,
        transcode_ladder=[{"name": "source", "kind": "source"}],
    ) as server:
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""), seconds=60, size="320x240", bframes=2
        )
        page = await browser.new_page()
        try:
            async with http_client(server) as client:
                for _ in range(100):
                    if (await client.get("/live/demo/index.m3u8")).status_code == 200:
                        break
                    await asyncio.sleep(0.2)
            await page.goto(f"http://127.0.0.1:{server.http_port}/demo?webrtc=1")
            await page.wait_for_function(
                "() => window.golive.stats.mode === 'hls.js' && window.golive.stats.playing",
                timeout=20_000,
            )
            status = await page.text_content("#webrtc-status")
            assert status is not None
            assert "WebRTC is not available" in status and "409" in status
            assert "B-frames" in status and "playing LL-HLS" in status
            assert not await page.is_checked("#webrtc-toggle")
            assert len(server.webrtc.sessions) == 0
        except Exception:
            await page.screenshot(path=str(artifacts / "whep-fallback.png"))
            raise
        finally:
            await page.close()
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
