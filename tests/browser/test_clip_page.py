"""The clip page plays its clip in chromium: a clip made through the site's JSON from a VOD,
opened at /clips/<id>, played by the page's own script (clip-page.js, hls.js) to its end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_recording import wait_until_finished
from tests.hls_conformance import parse_media_playlist
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

SECONDS = 14  # published
CLIP = 6  # seconds asked for
BUNDLE = Path(__file__).resolve().parents[2] / "src/golive/web/static/dist/clip-page.js"

ENDED = """() => new Promise((resolve) => {
  const video = document.getElementById('video');
  const article = video.closest('article');
  const done = () => resolve({state: article.dataset.state, time: video.currentTime,
                              duration: video.duration});
  if (article.dataset.state === 'ended' || article.dataset.state === 'error') return done();
  video.playbackRate = 2;
  video.addEventListener('ended', done);
  new MutationObserver(() => {
    if (article.dataset.state === 'error' || article.dataset.state === 'ended') done();
    if (article.dataset.state === 'playing') video.playbackRate = 2;
  }).observe(article, {attributes: true});
  setTimeout(done, 20000);
})"""


async def test_the_clip_page_plays_the_clip(tmp_path: Path, browser: Any, artifacts: Path) -> None:
    assert BUNDLE.exists(), f"{BUNDLE} is missing (cd web && node build.mjs)"
    async with running_server(
        tmp_path / "data", reconnect_grace=2.0, channel_ladders={"demo": "passthrough"}
    ) as server:
        url = rtmp_url(server, server.demo_key or "")
        assert (await finish(await start_publisher(url, seconds=SECONDS)))[0] == 0
        assert server.registry.stop("demo", "test over", end=True)
        assert server.recordings is not None
        vod = await wait_until_finished(server.recordings)
        origin = f"http://127.0.0.1:{server.http_port}"
        async with http_client(server) as client:
            await sign_up(client, "clipper")
            csrf = {"x-csrf-token": (await client.get("/web/session")).json()["csrf"]}
            r = await client.post(
                f"/web/vods/{vod.id}/clips", json={"start": 3, "duration": CLIP}, headers=csrf
            )
            assert r.status_code == 201, r.text
            made = r.json()
            text = (await client.get(f"/clip/{made['id']}/source/index.m3u8")).text
        listed = math.fsum(s.duration for s in parse_media_playlist(text).segments)

        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{origin}{made['url']}")
        assert await page.locator("h1.clip-title").inner_text() == (vod.title or "Clip of demo")
        result = await page.evaluate(ENDED)
        await page.screenshot(path=str(artifacts / "clip-page.png"))
        await page.close()

    print("clip page", result)
    assert not errors, errors
    assert result["state"] == "ended", result
    assert result["duration"] == pytest.approx(listed, abs=0.5)
    assert result["time"] == pytest.approx(result["duration"], abs=0.5)
    assert listed == pytest.approx(CLIP, abs=1.5)
