"""hls.js plays a live stream's DVR playlist at the live edge (latency as on index.m3u8),
then seeks back 30 s, into segments the live window no longer holds (served from the
recording), and plays again within 1 s."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server, wait_for_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

HLS_JS = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "hls.js" / "dist" / "hls.js"
WINDOW = 3  # live_window_segments: the live window holds ~6 s, the seek goes 30 s back
BACK = 30.0

PAGE = """<!doctype html><html><body>
<video id="video" muted playsinline></video>
</body></html>"""

START = """(src) => new Promise((resolve) => {
  const video = document.getElementById('video');
  const out = {errors: [], fatal: null};
  window.__dvr = out;
  const hls = new Hls({enableWorker: false, lowLatencyMode: true});
  window.__hls = hls;
  hls.on(Hls.Events.ERROR, (_, data) => {
    out.errors.push([data.details, +video.currentTime.toFixed(3)]);
    if (data.fatal) { out.fatal = data.details; resolve(out); }
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play(); });
  video.addEventListener('playing', () => {
    // Let it settle at the live edge for two seconds.
    setTimeout(() => {
      const s = video.seekable;
      out.seekableStart = s.length ? s.start(0) : null;
      out.seekableEnd = s.length ? s.end(0) : null;
      out.currentTime = video.currentTime;
      out.latency = hls.latency;
      resolve(out);
    }, 2000);
  }, {once: true});
  hls.loadSource(src);
  hls.attachMedia(video);
})"""

SEEK = """(back) => new Promise((resolve) => {
  const video = document.getElementById('video');
  const target = video.currentTime - back;
  const started = performance.now();
  const out = {target};
  const check = () => {
    if (video.currentTime >= target + 0.1 && video.currentTime < target + 5 && !video.paused) {
      out.seconds = (performance.now() - started) / 1000;
      out.currentTime = video.currentTime;
      resolve(out);
    } else if (performance.now() - started > 10000) {
      out.seconds = null;
      out.currentTime = video.currentTime;
      resolve(out);
    } else {
      requestAnimationFrame(check);
    }
  };
  video.currentTime = target;
  requestAnimationFrame(check);
})"""


async def test_hlsjs_seeks_back_30_s_in_the_dvr_playlist(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    assert HLS_JS.exists(), f"{HLS_JS} is missing (make web installs it)"
    async with running_server(
        tmp_path / "data", channel_ladders={"demo": "passthrough"}, live_window_segments=WINDOW
    ) as server:
        publisher = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=80)
        try:
            origin = f"http://127.0.0.1:{server.http_port}"
            async with http_client(server) as client:
                await wait_for_text(client, "/live/demo/dvr.m3u8", "source/dvr.m3u8")
                deadline = time.monotonic() + 60
                while True:  # until the stream is well past 30 s long
                    text = (await client.get("/live/demo/source/index.m3u8")).text
                    newest = max(int(m) for m in re.findall(r"/(\d+)\.m4s$", text, re.M))
                    if newest >= BACK + 6:
                        break
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.5)

            page = await browser.new_page(bypass_csp=True)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{origin}/healthz")
            await page.set_content(PAGE)
            await page.add_script_tag(path=str(HLS_JS))
            live = await page.evaluate(f"(src) => ({START})(src)", f"{origin}/live/demo/dvr.m3u8")
            seek = await page.evaluate(f"(back) => ({SEEK})(back)", BACK)
            await page.screenshot(path=str(artifacts / "dvr-seek.png"))
            await page.close()
        finally:
            publisher.kill()
            await finish(publisher, timeout=10)

    print("live edge", live)
    print("seek", seek)
    assert not errors, errors
    assert live["fatal"] is None, live
    # At the live edge of a playlist reaching back to the start of the stream.
    assert live["seekableStart"] < 1.0
    assert live["seekableEnd"] > BACK + 5
    assert live["seekableEnd"] - live["currentTime"] < 3.0, live
    # Back 30 s (older than the live window: served from the recording) and playing in 1 s.
    assert seek["seconds"] is not None, seek
    assert seek["seconds"] < 1.0, seek
