"""The watch page's DVR controls in chromium, against a real server and ffmpeg publisher.

- Seek bar: a click 22 s back in the live window (media not buffered yet: the viewer arrived
  at the edge moments before) plays again within 1 s, behind the edge, the
  indicator saying "-0:22"; it stays behind at rate 1 for several seconds (pacing does not
  chase the edge); "Jump to live" brings it back under 2 s of latency; pausing and resuming
  leaves the viewer behind; the keyboard (Left, End) seeks and the slider says where it is.
- Clip dialog: the JSON it sends (length, title, ``start_pdt`` behind the edge and none at the
  edge, the CSRF header) and what it shows for an answer or an error. The clips endpoint is
  another branch's: the request is answered by Playwright route interception here.
- Source: at the live edge the page plays ``index.m3u8`` (every rendition) even when the
  channel's JSON says ``"dvr": true``; anonymous viewers get no clip button.
- DVR: with a live window of 4 segments, a click 30 s back switches to ``dvr.m3u8`` at the
  date sought (segments served from the recording), plays within 1 s, 30 s behind by program
  date time; "Jump to live" switches back to ``index.m3u8`` with every rendition.

The first test's live window is raised to 45 segments (45 s) so that its seeks stay in the live
window (one hls.js session throughout); the second one is the DVR switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from golive.app import GoliveServer
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(200)]

WINDOW_SEGMENTS = 45
SEEK_BACK_S = 22
RESUME_BOUND_MS = 1000  # the claim: seeking back plays within 1 s on loopback
STAY_SECONDS = 6
LIVE_LATENCY_BOUND_S = 2.0
CLIP_ANSWER = {
    "id": "c1Ab2",
    "url": "/clips/c1Ab2",
    "playlist_url": "/clip/c1Ab2/index.m3u8",
    "start": 0,
    "duration": 20,
}

# Test instrumentation: when the seek bar was pressed, and when the playhead next advanced
# after a seek ended (playback resumed).
RESUME_PROBE = """() => {
  const v = window.golive.video;
  const out = {pressed: null, resumed: null, seekedAt: null, events: []};
  window.__resume = out;
  for (const name of ['seeking', 'seeked', 'waiting', 'playing', 'pause']) {
    v.addEventListener(name, () => out.events.push([name, Math.round(performance.now()),
      +v.currentTime.toFixed(2), window.golive.stats.behind]));
  }
  document.getElementById('seek-bar').addEventListener('pointerdown',
    () => { out.pressed = performance.now(); }, true);
  v.addEventListener('seeked', () => { out.seekedAt = v.currentTime; });
  v.addEventListener('timeupdate', () => {
    if (out.pressed !== null && out.resumed === null && out.seekedAt !== null && !v.paused
        && v.currentTime > out.seekedAt + 0.05) {
      out.resumed = performance.now();
    }
  });
}"""

STATE = """() => { const g = window.golive; const r = g.range(); return {
  following: g.stats.following, behind: g.stats.behind, latency: g.stats.latency,
  rate: g.video.playbackRate, time: g.video.currentTime, paused: g.video.paused,
  span: r ? r.live - r.start : null, stalls: g.stats.stalls,
  badge: document.getElementById('live-badge').textContent }; }"""


@contextlib.asynccontextmanager
async def published(tmp_path: Path, window_segments: int) -> AsyncIterator[GoliveServer]:
    """A server with a live window of ``window_segments`` and a 2-minute publish to it."""
    async with running_server(
        tmp_path / "data", reconnect_grace=2.0, live_window_segments=window_segments
    ) as server:
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""),
            seconds=120,
            gop=30,
            bframes=0,
            extra=["-tune", "zerolatency"],
        )
        try:
            yield server
        finally:
            proc.kill()
            await finish(proc, timeout=10)


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with published(tmp_path, WINDOW_SEGMENTS) as server:
        yield server


def base_url(server: GoliveServer) -> str:
    return f"http://127.0.0.1:{server.http_port}"


async def state(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(STATE)
    return result


async def wait_state(page: Any, predicate: str, timeout: float = 10_000) -> None:
    await page.wait_for_function(
        f"() => {{ const s = ({STATE})(); return {predicate}; }}", timeout=timeout
    )


async def seek_bar_click(page: Any, behind: float) -> None:
    """Clicks the seek bar where it seeks `behind` seconds behind the live position."""
    box = await page.locator("#seek-bar").bounding_box()
    span = (await state(page))["span"]
    assert box is not None and span is not None
    x = box["x"] + box["width"] * (1 - behind / span)
    await page.mouse.click(x, box["y"] + box["height"] / 2)


async def test_seek_back_stays_behind_jumps_to_live_and_clips(
    live_server: GoliveServer, browser: Any, artifacts: Path
) -> None:
    server = live_server
    base = base_url(server)
    errors: list[str] = []

    # -- an anonymous viewer of a channel whose JSON says "dvr": plays index.m3u8 at the edge
    # (every rendition; dvr.m3u8 only behind the live window), no clip button
    anonymous = await browser.new_context()
    dvr_page = await anonymous.new_page()
    dvr_page.on("pageerror", lambda e: errors.append(str(e)))
    dvr_requests: list[str] = []

    async def channel_with_dvr(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        await route.fulfill(response=response, json={**body, "dvr": True})

    async def dvr_playlist(route: Any) -> None:
        dvr_requests.append(route.request.url)
        url = route.request.url.replace("/dvr.m3u8", "/index.m3u8")
        await route.fulfill(response=await route.fetch(url=url))

    await dvr_page.route(re.compile(r"/web/channels/demo$"), channel_with_dvr)
    await dvr_page.route(re.compile(r"/live/demo/dvr\.m3u8"), dvr_playlist)
    await dvr_page.goto(f"{base}/demo")
    await dvr_page.wait_for_function("() => window.golive.stats.playing", timeout=30_000)
    assert (await dvr_page.evaluate("() => window.golive.stats.source")) == "/live/demo/index.m3u8"
    assert not dvr_requests, dvr_requests
    assert await dvr_page.is_hidden("#clip-button")
    # The window grows with the stream: wait until there is enough of it to seek back over.
    # (Waiting here, not on the signed-in page, keeps the media 22 s back out of that page's
    # buffer: its seek back loads from the server.)
    await wait_state(dvr_page, f"s.span !== null && s.span > {SEEK_BACK_S + 8}", timeout=60_000)
    await anonymous.close()

    # -- a signed-in viewer
    async with http_client(server) as client:
        session = await sign_up(client, "viewer", display="Viewer")
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    await context.add_cookies([{"name": "golive_session", "value": session, "url": base}])
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base}/demo")
    await page.wait_for_function("() => window.golive.stats.playing", timeout=30_000)
    assert (await page.evaluate("() => window.golive.stats.source")) == "/live/demo/index.m3u8"
    await asyncio.sleep(2)
    at_edge = await state(page)
    buffered_from = await page.evaluate("() => window.golive.video.buffered.start(0)")
    assert at_edge["following"] and at_edge["badge"] == "Live", at_edge
    assert await page.is_visible("#clip-button")

    # -- seek back with the mouse: plays again within 1 s, behind, "-0:22"
    await page.evaluate(RESUME_PROBE)
    await seek_bar_click(page, SEEK_BACK_S)
    await page.wait_for_function("() => window.__resume.resumed !== null", timeout=10_000)
    probe = await page.evaluate("() => window.__resume")
    resume_ms = probe["resumed"] - probe["pressed"]
    behind = await state(page)
    print("at edge", at_edge, "seeked", behind, "resumed after", round(resume_ms), "ms")
    assert resume_ms < RESUME_BOUND_MS, probe
    assert behind["time"] < buffered_from, "the seek landed in media already buffered"
    assert not behind["following"], behind
    assert SEEK_BACK_S - 1.5 < behind["behind"] < SEEK_BACK_S + 1.5, behind
    assert re.fullmatch(r"-0:2\d", behind["badge"]), behind
    slider = await page.get_attribute("#seek-bar", "aria-valuetext") or ""
    assert "seconds behind live" in slider, slider

    # -- it stays behind: rate 1, the distance to live unchanged, playing (no catch-up)
    samples = []
    start = time.monotonic()
    while time.monotonic() - start < STAY_SECONDS:
        await asyncio.sleep(0.5)
        samples.append(await state(page))
    print("behind samples", [(round(s["behind"], 2), s["rate"]) for s in samples])
    print("events", await page.evaluate("() => window.__resume.events"))
    assert all(s["rate"] == 1 and not s["following"] for s in samples), samples
    # Still well behind. (Not "within 1.5 s of where it landed": on a loaded machine the
    # distance once dropped by 4 s at rate 1, a forward jump of the playhead, most likely
    # hls.js skipping a buffer hole; the events printed above show such a seek.)
    assert all(s["behind"] > SEEK_BACK_S - 6 for s in samples), samples
    assert samples[-1]["time"] - behind["time"] > STAY_SECONDS - 1.5, samples
    assert all(re.fullmatch(r"-0:[12]\d", s["badge"]) for s in samples), samples
    await page.screenshot(path=str(artifacts / "watch-dvr-behind.png"))

    # -- the clip dialog behind the edge: length 20 (keyboard), a title, start_pdt, CSRF
    sent: list[dict[str, Any]] = []
    answer: dict[str, Any] = {"status": 201, "json": CLIP_ANSWER}

    async def clips(route: Any) -> None:
        request = route.request
        sent.append(
            {
                "method": request.method,
                "body": json.loads(request.post_data or "null"),
                "csrf": await request.header_value("x-csrf-token"),
                "type": await request.header_value("content-type"),
            }
        )
        await route.fulfill(status=answer["status"], json=answer["json"])

    await page.route(re.compile(r"/web/channels/demo/clips$"), clips)
    csrf = await page.evaluate("async () => (await (await fetch('/web/session')).json()).csrf")
    playing_ms = await page.evaluate("() => window.golive.hls.playingDate.getTime()")
    await page.click("#clip-button")
    await page.wait_for_selector("#clip-dialog[open]")
    assert "before -0:2" in (await page.text_content("#clip-summary") or "")
    await page.focus("#clip-length")
    for _ in range(10):
        await page.keyboard.press("ArrowLeft")
    assert await page.text_content("#clip-length-out") == "20 s"
    await page.fill("#clip-title", "  The moment  ")
    await page.click("#clip-submit")
    await page.wait_for_selector("#clip-result:not([hidden])", timeout=5000)
    assert await page.get_attribute("#clip-link", "href") == "/clips/c1Ab2"
    assert (await page.text_content("#clip-link") or "").endswith("/clips/c1Ab2")
    assert len(sent) == 1, sent
    body = sent[0]["body"]
    assert sent[0]["method"] == "POST" and sent[0]["csrf"] == csrf and csrf
    assert sent[0]["type"] == "application/json"
    assert set(body) == {"duration", "title", "start_pdt"}, body
    assert body["duration"] == 20 and body["title"] == "The moment", body
    # The clip ends at the playhead when the dialog opened (read just before the click).
    assert abs(body["start_pdt"] - (playing_ms / 1000 - 20)) < 1.0, (body, playing_ms)
    assert await page.is_disabled("#clip-submit")  # one clip per opening
    await page.click("#clip-cancel")
    await page.wait_for_selector("#clip-dialog:not([open])", state="attached")

    # -- jump to live: under 2 s of latency, following again
    await page.click("#jump-live")
    await wait_state(page, f"s.following && s.latency < {LIVE_LATENCY_BOUND_S}", timeout=10_000)
    assert (await state(page))["badge"] == "Live"

    # -- a clip at the edge sends no start; an error answer is shown
    answer.update(status=422, json={"error": {"code": "bad_range", "message": "Too early."}})
    await page.click("#clip-button")
    await page.wait_for_selector("#clip-dialog[open]")
    assert "The last 30 seconds" in (await page.text_content("#clip-summary") or "")
    await page.click("#clip-submit")
    await page.wait_for_selector("#clip-error:not([hidden])", timeout=5000)
    assert await page.text_content("#clip-error") == "Too early."
    assert sent[-1]["body"] == {"duration": 30}, sent[-1]
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#clip-dialog:not([open])", state="attached")

    # -- pausing and resuming leaves the viewer behind (no jump, no catch-up)
    await page.evaluate("() => window.golive.video.pause()")
    await asyncio.sleep(3)
    await page.evaluate("() => window.golive.video.play()")
    await asyncio.sleep(2)
    resumed = await state(page)
    print("after pause", resumed)
    assert not resumed["following"] and resumed["rate"] == 1, resumed
    assert 2.0 < resumed["behind"] < 5.0, resumed

    # -- keyboard: Left seeks 5 s further back, End returns to live
    await page.focus("#seek-bar")
    before = resumed["behind"]
    await page.keyboard.press("ArrowLeft")
    await wait_state(page, f"!s.following && s.behind > {before + 3.5}", timeout=5000)
    assert abs((await state(page))["behind"] - (before + 5)) < 1.5
    await page.keyboard.press("End")
    await wait_state(page, f"s.following && s.latency < {LIVE_LATENCY_BOUND_S}", timeout=10_000)
    await page.screenshot(path=str(artifacts / "watch-dvr-live.png"))
    final = await page.evaluate("() => window.golive.stats")
    print("final stats", final)
    assert final["fatalErrors"] == 0, final
    await context.close()
    assert not errors, errors


DVR_WINDOW_SEGMENTS = 4
DVR_BACK_S = 30

# When the seek bar was pressed, and when the DVR session's playhead first advanced.
DVR_PROBE = """() => {
  const out = {pressed: null, resumed: null, from: null};
  window.__dvr = out;
  document.getElementById('seek-bar').addEventListener('pointerdown',
    () => { out.pressed = performance.now(); }, true);
  const watch = () => {
    const g = window.golive;
    if (out.pressed !== null && out.resumed === null && g.stats.playing && !g.video.paused
        && g.stats.source.endsWith('/dvr.m3u8')) {
      if (out.from === null) out.from = g.video.currentTime;
      else if (g.video.currentTime > out.from + 0.05) out.resumed = performance.now();
    }
    if (out.resumed === null) requestAnimationFrame(watch);
  };
  requestAnimationFrame(watch);
}"""


@pytest.fixture
async def short_window_server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with published(tmp_path, DVR_WINDOW_SEGMENTS) as server:
        yield server


async def test_seek_before_the_live_window_plays_the_dvr_playlist_and_jumps_back(
    short_window_server: GoliveServer, browser: Any
) -> None:
    server = short_window_server
    errors: list[str] = []
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base_url(server)}/demo")
    await page.wait_for_function("() => window.golive.stats.playing", timeout=30_000)
    assert (await page.evaluate("() => window.golive.stats.source")) == "/live/demo/index.m3u8"
    edge_levels = await page.evaluate("() => window.golive.hls.levels.length")
    # The seek bar spans the DVR range (dvr_from in the channel's JSON), not the 4 s window.
    await wait_state(page, f"s.span !== null && s.span > {DVR_BACK_S + 8}", timeout=60_000)
    info = await page.evaluate("async () => (await fetch('/web/channels/demo')).json()")
    assert info["dvr"] is True and isinstance(info["dvr_from"], float), info

    await page.evaluate(DVR_PROBE)
    await seek_bar_click(page, DVR_BACK_S)
    await page.wait_for_function("() => window.__dvr.resumed !== null", timeout=10_000)
    probe = await page.evaluate("() => window.__dvr")
    resume_ms = probe["resumed"] - probe["pressed"]
    await asyncio.sleep(0.5)  # a readout tick (250 ms) samples the date on screen
    behind = await state(page)
    stats = await page.evaluate("() => window.golive.stats")
    print("dvr seek", behind, "resumed after", round(resume_ms), "ms", stats)
    assert stats["source"] == "/live/demo/dvr.m3u8", stats
    assert resume_ms < RESUME_BOUND_MS, probe
    assert not behind["following"], behind
    # 30 s behind by the DVR playlist's own range, and by the date of the frame on screen.
    # (1.5 s: where the click lands on the bar, and the resume time itself.)
    assert DVR_BACK_S - 1.5 < behind["behind"] < DVR_BACK_S + 1.5, behind
    assert DVR_BACK_S - 1.5 < stats["pdtLatency"] < DVR_BACK_S + 2.5, stats
    assert re.fullmatch(r"-0:[23]\d", behind["badge"]), behind
    await asyncio.sleep(4)
    later = await state(page)
    assert later["time"] - behind["time"] > 3, (behind, later)
    assert later["rate"] == 1 and not later["following"], later

    await page.click("#jump-live")
    await wait_state(page, f"s.following && s.latency < {LIVE_LATENCY_BOUND_S}", timeout=10_000)
    final = await page.evaluate("() => window.golive.stats")
    assert final["source"] == "/live/demo/index.m3u8", final
    assert await page.evaluate("() => window.golive.hls.levels.length") == edge_levels
    assert final["fatalErrors"] == 0, final
    await context.close()
    assert not errors, errors
