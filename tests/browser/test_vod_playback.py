"""hls.js plays a finished recording (a VOD with a reconnect in it) in chromium from start to
end: the ended event, the playhead at the duration, no fatal error."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_recording import wait_until_finished
from tests.hls_conformance import parse_media_playlist
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

FIRST, SECOND = 8, 6  # seconds published before and after the reconnect
RATE = 2.0  # played at twice the speed: the test waits half as long
HLS_JS = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "hls.js" / "dist" / "hls.js"

PAGE = """<!doctype html><html><body>
<video id="video" muted playsinline></video>
</body></html>"""

PLAY = """(src) => new Promise((resolve) => {
  const video = document.getElementById('video');
  const out = {errors: [], fatal: null, ended: false};
  window.__vod = out;
  const hls = new Hls({enableWorker: false});
  hls.on(Hls.Events.ERROR, (_, data) => {
    const b = video.buffered;
    const ranges = Array.from({length: b.length}, (_, i) => [+b.start(i).toFixed(3), +b.end(i).toFixed(3)]);
    out.errors.push([data.details, +video.currentTime.toFixed(3), ranges]);
    if (data.fatal) { out.fatal = data.details; resolve(out); }
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.playbackRate = RATE; video.play(); });
  video.addEventListener('ended', () => {
    out.ended = true;
    out.currentTime = video.currentTime;
    out.duration = video.duration;
    resolve(out);
  });
  hls.loadSource(src);
  hls.attachMedia(video);
})""".replace("RATE", str(RATE))


async def test_hlsjs_plays_a_vod_from_start_to_end(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    assert HLS_JS.exists(), f"{HLS_JS} is missing (make web installs it)"
    async with running_server(
        tmp_path / "data", reconnect_grace=5.0, channel_ladders={"demo": "passthrough"}
    ) as server:
        url = rtmp_url(server, server.demo_key or "")
        assert (await finish(await start_publisher(url, seconds=FIRST)))[0] == 0
        assert (await finish(await start_publisher(url, seconds=SECOND)))[0] == 0
        assert server.registry.stop("demo", "test over", end=True)
        assert server.recordings is not None
        recording = await wait_until_finished(server.recordings)
        origin = f"http://127.0.0.1:{server.http_port}"
        async with http_client(server) as client:
            text = (await client.get(f"/vod/{recording.id}/source/index.m3u8")).text
        listed = math.fsum(s.duration for s in parse_media_playlist(text).segments)

        # The test's own page and script (hls.js) under the origin's URL: the origin's CSP
        # allows no inline script, so it is bypassed for this test page only.
        page = await browser.new_page(bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{origin}/healthz")  # the origin's own page: same-origin requests
        await page.set_content(PAGE)
        await page.add_script_tag(path=str(HLS_JS))
        result = await page.evaluate(
            f"(src) => ({PLAY})(src)", f"{origin}/vod/{recording.id}/index.m3u8"
        )
        await page.screenshot(path=str(artifacts / "vod-ended.png"))
        await page.close()

    # Non-fatal errors are printed, not failed on: hls.js jumps the 67 ms before the first
    # frame and the ~0.15 s the live timeline leaves at a publisher reconnect
    # (bufferSeekOverHole, once with a bufferStalledError), as it does live.
    print("hls.js", result)
    assert not errors, errors
    assert result["fatal"] is None, result
    assert result["ended"], result
    assert result["duration"] == pytest.approx(listed, abs=0.5)
    assert result["currentTime"] == pytest.approx(result["duration"], abs=0.5)
    assert listed == pytest.approx(FIRST + SECOND, abs=2.5)
