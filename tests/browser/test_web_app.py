"""The web app in chromium while ffmpeg publishes: the watch page plays, chat travels between
two browsers within 500 ms, a moderator's ban silences a user, hostile names, titles and
messages stay text, the quality menu switches renditions; screenshots of the main pages."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from golive.app import GoliveServer
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

HOSTILE = "<img src=x onerror=window.__xss=1>"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LADDER = [
    {"name": "source", "kind": "source"},
    {"name": "180p", "height": 180, "bitrate": 250_000},
]


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[tuple[GoliveServer, Any]]:
    async with running_server(
        tmp_path / "data",
        transcode_ladder=LADDER,
        transcode_preset="ultrafast",
        transcode_max_lag=30.0,
    ) as server:
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""),
            seconds=90,
            gop=30,
            bframes=0,
            extra=["-tune", "zerolatency"],
        )
        try:
            yield server, proc
        finally:
            proc.kill()
            await finish(proc, timeout=10)


async def signed_in_context(browser: Any, server: GoliveServer, name: str) -> Any:
    """A browser context with the session cookie of a new user (signed up through the form)."""
    async with http_client(server) as client:
        session = await sign_up(client, name, display=HOSTILE)
    context = await browser.new_context()
    await context.add_cookies(
        [
            {
                "name": "golive_session",
                "value": session,
                "url": f"http://127.0.0.1:{server.http_port}",
            }
        ]
    )
    return context


async def test_watch_page_chat_moderation_and_safety(
    live_server: tuple[GoliveServer, Any], browser: Any, artifacts: Path
) -> None:
    server, _ = live_server
    base = f"http://127.0.0.1:{server.http_port}"
    assert server.channels is not None and server.users is not None
    owner_ctx = await signed_in_context(browser, server, "streamer")
    viewer_ctx = await signed_in_context(browser, server, "viewer")
    owner = await server.users.by_name("streamer")
    assert owner is not None
    await server.channels.update("demo", owner_id=owner.id, title=HOSTILE, category="Testing")
    errors: list[str] = []
    pages = []
    for ctx in (owner_ctx, viewer_ctx):
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/demo")
        pages.append(page)
    owner_page, viewer_page = pages
    for page in pages:
        await page.wait_for_function(
            "() => window.golive && window.golive.video.currentTime > 0.5", timeout=30_000
        )
        await page.wait_for_function(
            "() => window.golive.chat && window.golive.chat.stats.canSend", timeout=10_000
        )

    # Plays: currentTime advances, no stall longer than 1 s over 20 s.
    start = await viewer_page.evaluate("() => window.golive.video.currentTime")
    stall_ms = await viewer_page.evaluate("() => window.golive.stats.stallMs")
    # Meanwhile chat: one browser sends, the other sees it within 500 ms.
    delays = []
    for i in range(5):
        text = f"hello {i} {HOSTILE}"
        await owner_page.fill("#chat-input", text)
        sent = time.monotonic()
        await owner_page.press("#chat-input", "Enter")
        await viewer_page.wait_for_function(
            "(t) => Array.from(document.querySelectorAll('.chat-text')).some(e => e.textContent === t)",
            arg=text,
            timeout=5000,
        )
        delays.append(time.monotonic() - sent)
        await asyncio.sleep(1.5)
    await asyncio.sleep(20 - 7.5)
    end = await viewer_page.evaluate("() => window.golive.video.currentTime")
    stats = await viewer_page.evaluate("() => window.golive.stats")
    assert end - start > 18, (start, end)
    assert stats["stallMs"] - stall_ms < 1000, stats
    assert max(delays) < 0.5, delays

    # Text stays text: the name, the title and the messages executed nothing.
    assert await viewer_page.evaluate("() => window.__xss") is None
    assert await owner_page.evaluate("() => window.__xss") is None
    assert await viewer_page.text_content("#channel-title") == HOSTILE
    names = await viewer_page.eval_on_selector_all(
        ".chat-name", "els => els.map(e => e.textContent)"
    )
    assert HOSTILE in names
    await viewer_page.screenshot(path=str(artifacts / "watch.png"))

    # The quality menu lists Auto and both renditions, and switches.
    options = await viewer_page.eval_on_selector_all(
        "#quality option", "els => els.map(e => e.value)"
    )
    assert options[0] == "-1" and len(options) == 3, options
    heights = await viewer_page.evaluate("() => window.golive.hls.levels.map(l => l.height)")
    small = heights.index(180)
    await viewer_page.select_option("#quality", str(small))
    await viewer_page.wait_for_function(
        "(i) => window.golive.hls.currentLevel === i", arg=small, timeout=10_000
    )
    await viewer_page.wait_for_function(
        "() => window.golive.video.videoHeight === 180", timeout=15_000
    )

    # The owner bans the viewer: the viewer can no longer send, even after reloading.
    await viewer_page.fill("#chat-input", "before the ban")
    await viewer_page.press("#chat-input", "Enter")
    await owner_page.wait_for_selector("li.chat-message[data-user='viewer'] button.chat-tool")
    await owner_page.click("li.chat-message[data-user='viewer'] button.chat-tool >> text='Ban'")
    await viewer_page.wait_for_function(
        "() => !window.golive.chat.stats.canSend && document.getElementById('chat-input').disabled",
        timeout=5000,
    )
    await viewer_page.reload()
    await viewer_page.wait_for_function("() => window.golive && window.golive.chat", timeout=10_000)
    await viewer_page.wait_for_function(
        "() => document.getElementById('chat-input').disabled", timeout=10_000
    )
    assert await viewer_page.evaluate("() => window.golive.chat.stats.canSend") is False
    assert not errors, errors

    # Screenshots of the other pages, while live.
    home = await owner_ctx.new_page()
    await home.goto(base + "/")
    assert await home.text_content("#live-channels .title") == HOSTILE
    await home.screenshot(path=str(artifacts / "home.png"), full_page=True)
    dash = await owner_ctx.new_page()
    await dash.goto(base + "/dashboard")
    await dash.wait_for_function(
        "() => document.querySelectorAll('dl.health dd').length >= 4", timeout=10_000
    )
    await dash.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert await dash.evaluate("() => window.__xss") is None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("home.png", "watch.png", "dashboard.png"):
        shutil.copy(artifacts / name, SCREENSHOTS / name)
