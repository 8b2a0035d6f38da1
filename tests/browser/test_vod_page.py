"""The VOD page in chromium, under the origin's own CSP: /videos/<id> plays the VOD and
replays its chat in step with playback: a message appears once the playhead reaches its
time and not before, a seek clears the list and shows what lies before the new position;
the channel's past broadcasts page, linked from the watch page, lists the VOD with its
thumbnail; the owner's "Download MP4" makes the MP4 and links it; a signed-in viewer's "Clip"
makes a clip of the 5 s before the playhead, which plays at its own page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_clip_page import ENDED
from tests.e2e.test_chat_replay import source_timeline, wall_at
from tests.e2e.test_recording import wait_until_finished
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

FIRST, SECOND = 8, 6  # seconds published before and after the reconnect

CHOSEN = {"m-one": 1.0, "m-four": 4.0, "m-ten": 10.0, "m-twelve": 12.0}

# Every 100 ms: the playhead and the replayed messages shown, until `until` seconds.
WATCH = """(until) => new Promise((resolve) => {
  const video = document.getElementById('video');
  const snaps = [];
  const timer = setInterval(() => {
    const shown = Array.from(document.querySelectorAll('#replay-messages li'))
      .map((li) => li.dataset.id);
    snaps.push({t: video.currentTime, seeking: video.seeking, shown});
    if (video.currentTime >= until || video.ended) { clearInterval(timer); resolve(snaps); }
  }, 100);
  setTimeout(() => { clearInterval(timer); resolve(snaps); }, 30000);
})"""


def check_in_step(snaps: list[dict[str, Any]], settle: int = 5) -> None:
    """Nothing shown before its time; once the first ``settle`` snapshots are past (the
    chat of a new position is being fetched), everything up to 0.6 s ago shown (the
    replay's clock ticks every 200 ms)."""
    assert len(snaps) > settle
    for n, snap in enumerate(snaps):
        if snap["seeking"]:
            continue
        shown = set(snap["shown"])
        for mid, t in CHOSEN.items():
            if mid in shown:
                assert t <= snap["t"] + 0.05, (mid, snap)
            elif n >= settle and t <= snap["t"] - 0.6:
                raise AssertionError(f"{mid} (at {t}) missing at {snap}")


async def test_the_vod_page_replays_chat_at_media_times(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    async with running_server(
        tmp_path / "data", reconnect_grace=5.0, channel_ladders={"demo": "passthrough"}
    ) as server:
        url = rtmp_url(server, server.demo_key or "")
        assert (await finish(await start_publisher(url, seconds=FIRST, size="320x180")))[0] == 0
        assert (await finish(await start_publisher(url, seconds=SECOND, size="320x180")))[0] == 0
        assert server.registry.stop("demo", "test over", end=True)
        assert server.recordings is not None and server.chat_store is not None
        assert server.users is not None and server.channels is not None
        vod = await wait_until_finished(server.recordings)
        timeline = await source_timeline(server.recordings, vod.id)
        user = await server.users.add("chatter")
        channel = await server.channels.get("demo")
        assert channel is not None
        for mid, vod_time in CHOSEN.items():
            server.chat_store.save_message(
                channel.id,
                user.id,
                {
                    "id": mid,
                    "text": f"<b>{mid}</b>",  # shown as text
                    "time": 0,
                    "stream_id": vod.stream_id,
                    "media_time": wall_at(timeline, vod_time) - vod.started_at,
                },
            )
        await server.chat_store.flush()
        origin = f"http://127.0.0.1:{server.http_port}"

        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        # The watch page's channel info links the past broadcasts.
        await page.goto(f"{origin}/demo")
        link = page.locator("#channel-videos")
        await link.wait_for(state="visible", timeout=10_000)
        assert await link.get_attribute("href") == "/demo/videos"
        await link.click()
        await page.wait_for_url(f"{origin}/demo/videos")
        assert await page.locator(f'li.card.vod[data-vod="{vod.id}"]').count() == 1
        natural = await page.evaluate(
            "() => new Promise((resolve) => { const img = document.querySelector('img.thumb');"
            " const done = () => resolve(img.naturalWidth);"
            " if (img.complete) done(); else { img.onload = done; img.onerror = done; } })"
        )
        assert natural > 0  # the stored thumbnail
        await page.screenshot(path=str(artifacts / "vod-past-broadcasts.png"))

        await page.goto(f"{origin}/videos/{vod.id}")
        await page.evaluate(
            "() => { const v = document.getElementById('video'); v.muted = true;"
            " v.playbackRate = 1.5; return v.play(); }"
        )
        first = await page.evaluate(f"({WATCH})(5.0)")
        check_in_step(first)
        assert "m-one" in first[-1]["shown"] and "m-ten" not in first[-1]["shown"]

        # Seek past the reconnect: the list starts again with what came before 10.5 s.
        await page.evaluate("() => { document.getElementById('video').currentTime = 10.5; }")
        after_seek = await page.evaluate(f"({WATCH})(12.8)")
        check_in_step(after_seek)
        settled = [s for s in after_seek[5:] if not s["seeking"] and s["t"] < 12.0]
        assert settled and all(set(s["shown"]) == {"m-one", "m-four", "m-ten"} for s in settled)
        assert "m-twelve" in after_seek[-1]["shown"]

        # And back: the list is cleared, the later messages are gone until played again.
        await page.evaluate("() => { document.getElementById('video').currentTime = 2.0; }")
        back = await page.evaluate(f"({WATCH})(4.6)")
        check_in_step(back)
        assert all(s["shown"] == ["m-one"] for s in back[5:] if s["t"] < 3.9 and not s["seeking"])
        assert back[-1]["shown"] == ["m-one", "m-four"]
        text = await page.locator('#replay-messages li[data-id="m-one"] .chat-text').text_content()
        assert text == "<b>m-one</b>"
        await page.screenshot(path=str(artifacts / "vod-page.png"))
        fatal = await page.evaluate("() => window.__vodPage.fatal")

        # The owner's session: "Download MP4" makes the export, shows progress, then a link.
        async with http_client(server) as client:
            session = await sign_up(client, "owner")
        owner = await server.users.by_name("owner")
        assert owner is not None
        await server.channels.update("demo", owner_id=owner.id)
        await page.context.add_cookies(
            [{"name": "golive_session", "value": session, "url": origin}]
        )
        await page.goto(f"{origin}/videos/{vod.id}")
        await page.click("#mp4-start")
        link = page.locator("#mp4-link")
        await link.wait_for(state="visible", timeout=60_000)
        href = await link.get_attribute("href")
        assert href == f"/vod/{vod.id}/download.mp4"
        assert "MP4 ready" in (await page.locator("#mp4-status").text_content() or "")
        async with http_client(server) as client:
            r = await client.head(href)
            assert r.status_code == 200 and int(r.headers["content-length"]) > 10_000

        # A clip from the player: the 5 s before the playhead, made on the server, played at
        # its own page.
        await page.evaluate(
            "() => { const v = document.getElementById('video'); v.muted = true;"
            " v.currentTime = 11.0; }"
        )
        await page.click("#clip-button")
        await page.locator("#clip-dialog").wait_for(state="visible")
        await page.evaluate(
            "() => { const l = document.getElementById('clip-length'); l.value = '5';"
            " l.dispatchEvent(new Event('input')); }"
        )
        assert "5 seconds before the playhead" in (
            await page.locator("#clip-summary").text_content() or ""
        )
        await page.fill("#clip-title", "from the VOD page")
        await page.click("#clip-submit")
        clip_link = page.locator("#clip-link")
        await clip_link.wait_for(state="visible", timeout=20_000)
        clip_href = await clip_link.get_attribute("href") or ""
        assert clip_href.startswith("/clips/")
        assert server.clips is not None
        made = await server.clips.clips.get(clip_href.removeprefix("/clips/"))
        assert made is not None and made.title == "from the VOD page"
        # Cut on segment boundaries: it starts at or before 6 s and is about 5 s long.
        assert made.start <= 6.0 + 1e-6 and 3.0 <= made.duration <= 8.0, made
        await page.goto(f"{origin}{clip_href}")
        played = await page.evaluate(ENDED)
        assert played["state"] == "ended", played
        assert abs(played["time"] - played["duration"]) < 0.5, played
        await page.close()
    assert not errors, errors
    assert fatal is None
