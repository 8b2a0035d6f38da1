"""The web app in chromium against a running server with a real ffmpeg publisher.

- The watch page plays (time advances, no stall from the first frame, median latency near
  the claim: see LATENCY_BOUND_S), the quality menu
  switches renditions, and a hostile channel title and display name stay text; home and
  dashboard show the live channel. (No chat needed.)
- Sign-up, sign-in and the dashboard's stream key through the browser's own forms.
- Chat between browsers: a message arrives within 500 ms, hostile messages and names stay
  text, anonymous viewers get "sign in to chat", the owner appoints a moderator whose ban
  stops a user sending (also after a reload), and the page shows the broadcast's end.

Screenshots go to the test's tmp dir and to docs/screenshots/ (home, watch, dashboard).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from golive.app import GoliveServer
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

HOSTILE = "<img src=x onerror=window.__xss=1>"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LADDER = [
    {"name": "source", "kind": "source"},
    {"name": "180p", "height": 180, "bitrate": 250_000},
]
VIEWPORT = {"width": 1366, "height": 768}
# docs/benchmarks.md claims hls.latency p50 0.80 s (e2e 0.77 s) on an idle 2-core machine; the
# bound leaves 0.4 s for a shared, noisy 2-core test machine running a transcoder too.
LATENCY_BOUND_S = 1.2

# Every page records Content-Security-Policy violations: a page of ours that needs an
# inline script or style, or loads from elsewhere, is a bug (and a hole if the CSP went).
CSP_WATCH = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"""

# Instrumentation the chat test puts into its pages (the test's, not the product's).
SENT_STAMPS = """() => {
  window.__sent = {};
  document.getElementById('chat-form').addEventListener('submit', () => {
    window.__sent[document.getElementById('chat-input').value.trim()] = Date.now();
  }, true);
}"""
SHOWN_STAMPS = """() => {
  window.__shown = {};
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) for (const n of r.addedNodes) {
      const text = n.querySelector && n.querySelector('.chat-text');
      if (text && window.__shown[text.textContent] === undefined) {
        window.__shown[text.textContent] = now;
      }
    }
  }).observe(document.getElementById('chat-messages'), {childList: true});
}"""


@pytest.fixture
async def abr_server(tmp_path: Path) -> AsyncIterator[tuple[GoliveServer, Any]]:
    """A server with a two-rung ladder and ffmpeg publishing to demo for 90 s."""
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


async def signed_in_context(browser: Any, server: GoliveServer, name: str, display: str) -> Any:
    """A browser context with the session cookie of a new user (signed up through the form)."""
    async with http_client(server) as client:
        session = await sign_up(client, name, display=display)
    context = await new_context(browser)
    await context.add_cookies(
        [{"name": "golive_session", "value": session, "url": base_url(server)}]
    )
    return context


async def new_context(browser: Any) -> Any:
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(CSP_WATCH)
    return context


async def assert_clean(page: Any) -> None:
    """Nothing injected ran, and the CSP had nothing to block."""
    assert await page.evaluate("() => window.__xss") is None
    assert await page.evaluate("() => window.__csp") == [], page.url


def base_url(server: GoliveServer) -> str:
    return f"http://127.0.0.1:{server.http_port}"


async def make_owner(server: GoliveServer, username: str, channel: str = "demo", **kw: Any) -> None:
    assert server.channels is not None and server.users is not None
    user = await server.users.by_name(username)
    assert user is not None
    await server.channels.update(channel, owner_id=user.id, **kw)


def track_errors(page: Any, errors: list[str]) -> None:
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))


def save(shot: Path, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / name)


async def test_watch_page_plays_switches_quality_and_escapes(
    abr_server: tuple[GoliveServer, Any], browser: Any, tmp_path: Path
) -> None:
    server, _ = abr_server
    base = base_url(server)
    owner = await signed_in_context(browser, server, "streamer", "Streamer")
    await make_owner(server, "streamer", title=HOSTILE, category="Science & Technology")
    errors: list[str] = []
    page = await owner.new_page()
    track_errors(page, errors)
    await page.goto(f"{base}/demo")
    await page.wait_for_function(
        "() => window.golive && window.golive.video.currentTime > 0.5", timeout=30_000
    )
    await asyncio.sleep(4)  # start-up: the player catches up from its start-up margin

    # Plays: currentTime advances over 20 s, no stall since the first frame, median latency
    # within LATENCY_BOUND_S.
    start = await page.evaluate("() => window.golive.video.currentTime")
    latencies: list[float] = []
    for _ in range(20):
        await asyncio.sleep(1)
        latencies.append(await page.evaluate("() => window.golive.stats.latency"))
    end = await page.evaluate("() => window.golive.video.currentTime")
    stats = await page.evaluate("() => window.golive.stats")
    print("watch page stats", stats, "latencies", [round(x, 2) for x in latencies])
    assert end - start > 18, (start, end, stats)
    assert stats["stalls"] == 0 and stats["stallMs"] == 0, stats
    assert sorted(latencies)[len(latencies) // 2] <= LATENCY_BOUND_S, latencies
    assert stats["mode"] == "hls.js" and stats["offline"] is False

    # The title is shown as text and ran nothing (display names: the chat test).
    assert await page.text_content("#channel-title") == HOSTILE
    assert await page.text_content("#channel-owner") == "by Streamer"
    assert await page.text_content("#channel-category") == "Science & Technology"
    assert await page.is_visible("#live-badge")
    assert "behind live" in (await page.text_content("#latency") or "")
    assert await page.text_content("#account-nav .me-name") == "Streamer"

    # The quality menu lists Auto and both renditions, and switches.
    options = await page.eval_on_selector_all("#quality option", "els => els.map(e => e.value)")
    assert options[0] == "-1" and len(options) == 3, options
    heights = await page.evaluate("() => window.golive.hls.levels.map(l => l.height)")
    small = heights.index(180)
    await page.select_option("#quality", str(small))
    await page.wait_for_function(
        "(i) => window.golive.hls.currentLevel === i", arg=small, timeout=10_000
    )
    await page.wait_for_function("() => window.golive.video.videoHeight === 180", timeout=15_000)
    await page.select_option("#quality", "-1")
    await page.wait_for_function("() => window.golive.hls.autoLevelEnabled", timeout=5000)
    # Jump to live lands near the edge.
    await page.click("#jump-live")
    await page.wait_for_function(
        f"() => window.golive.stats.latency < {LATENCY_BOUND_S}", timeout=10_000
    )

    # Home: the live card, title as text.
    home = await owner.new_page()
    track_errors(home, errors)
    await home.goto(base + "/")
    assert await home.text_content("#live-channels .title") == HOSTILE
    assert "viewer" in (await home.text_content("#live-channels .viewers") or "")
    assert await home.evaluate("() => window.__xss") is None

    # A friendlier title for the screenshots; then the thumbnail (once made).
    await make_owner(server, "streamer", title="Building a live video platform in Python")
    await home.reload()
    await home.wait_for_function(
        "() => { const i = document.querySelector('#live-channels img.thumb');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=15_000,
    )
    await home.screenshot(path=str(tmp_path / "home.png"))

    # Dashboard: live status and health tiles, the display name as text.
    dash = await owner.new_page()
    track_errors(dash, errors)
    await dash.goto(base + "/dashboard")
    await dash.wait_for_function(
        "() => document.querySelectorAll('.health-tile').length >= 6", timeout=10_000
    )
    tiles = await dash.eval_on_selector_all(".health-tile dt", "els => els.map(e => e.textContent)")
    for label in ("Ingest bitrate", "Frame rate", "Keyframe interval", "Resolution", "Transcoder"):
        assert label in tiles, tiles
    assert (await dash.text_content(".status-pill") or "").startswith("Live")
    # While live, the panel offers "Stop stream" (hidden when offline).
    assert await dash.is_visible("form.stop-form button")
    await dash.wait_for_selector(".preview.loaded", timeout=15_000)
    await dash.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    for p in (page, home, dash):
        await assert_clean(p)
    assert not errors, errors
    save(tmp_path / "home.png", "home.png")
    save(tmp_path / "dashboard.png", "dashboard.png")


async def test_sign_up_sign_in_and_stream_key_in_the_browser(tmp_path: Path, browser: Any) -> None:
    async with running_server(tmp_path / "data") as server:
        base = base_url(server)
        context = await new_context(browser)
        page = await context.new_page()
        errors: list[str] = []
        track_errors(page, errors)
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto(base + "/")
        await page.click("text=Sign up")
        await page.fill("input[name=username]", "newbie")
        await page.fill("input[name=display_name]", "New Bie")
        await page.fill("input[name=password]", "correct horse battery")
        await page.click("#signup-form button[type=submit]")
        await page.wait_for_url(base + "/dashboard")
        assert await page.text_content(".me-name") == "New Bie"

        await page.fill("#create-form input[name=name]", "newbie-tv")
        await page.click("#create-form button[type=submit]")
        key_input = page.locator("section[data-channel='newbie-tv'] input.stream-key")
        assert await key_input.get_attribute("type") == "password"
        first_key = await key_input.input_value()
        assert first_key.startswith("live_")
        await page.click("section[data-channel='newbie-tv'] button.reveal-key")
        assert await key_input.get_attribute("type") == "text"

        # Rotate in place (JSON with the session's CSRF token), after confirming.
        await page.goto(base + "/dashboard")
        assert first_key not in await page.content()  # shown once
        await page.click("section[data-channel='newbie-tv'] .rotate-form button")
        await page.wait_for_selector("section[data-channel='newbie-tv'] input.stream-key")
        second_key = await key_input.input_value()
        assert second_key.startswith("live_") and second_key != first_key
        assert server.channels is not None
        assert await server.channels.authenticate(first_key) is None
        assert await server.channels.authenticate(second_key) is not None

        # Title, category, visibility, recording and who may clip save in place.
        await page.fill("section[data-channel='newbie-tv'] input[name=title]", "Hello <b>world</b>")
        await page.fill("section[data-channel='newbie-tv'] input[name=category]", "Music")
        await page.select_option(
            "section[data-channel='newbie-tv'] select[name=visibility]", "unlisted"
        )
        await page.select_option("section[data-channel='newbie-tv'] select[name=record]", "off")
        await page.select_option(
            "section[data-channel='newbie-tv'] select[name=clip_permission]", "moderators"
        )
        await page.click("section[data-channel='newbie-tv'] .info-form button[type=submit]")
        await page.wait_for_selector("section[data-channel='newbie-tv'] .form-status.ok")
        channel = await server.channels.get("newbie-tv")
        assert channel is not None and channel.title == "Hello <b>world</b>"
        assert channel.visibility == "unlisted"
        assert not channel.record and channel.clip_permission == "moderators"

        # Sign out, then sign in again through the form, coming back to the channel.
        await page.click("#account-nav button:has-text('Log out')")
        await page.wait_for_url(base + "/")
        await page.goto(base + "/newbie-tv")
        await page.wait_for_selector("#chat-signin:visible", timeout=10_000)
        await page.click("#account-nav >> text=Log in")
        await page.fill("input[name=username]", "newbie")
        await page.fill("input[name=password]", "correct horse battery")
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(base + "/newbie-tv")
        await page.wait_for_function("() => document.querySelector('#account-nav .me-name')")
        assert await page.text_content("#channel-title") == "Hello <b>world</b>"
        await assert_clean(page)
        assert not errors, errors
        await context.close()


async def test_chat_between_browsers_moderation_and_stream_end(
    tmp_path: Path, browser: Any
) -> None:
    async with running_server(tmp_path / "data", reconnect_grace=0.0) as server:
        base = base_url(server)
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""),
            seconds=90,
            gop=30,
            bframes=0,
            extra=["-tune", "zerolatency"],
        )
        try:
            owner_ctx = await signed_in_context(browser, server, "streamer", "Streamer")
            viewer_ctx = await signed_in_context(browser, server, "viewer", "Viewer")
            mallory_ctx = await signed_in_context(browser, server, "mallory", HOSTILE)
            anon_ctx = await new_context(browser)
            await make_owner(
                server, "streamer", title="Chatting about chat", category="Just Chatting"
            )
            errors: list[str] = []
            pages = []
            for ctx in (owner_ctx, viewer_ctx, mallory_ctx, anon_ctx):
                page = await ctx.new_page()
                track_errors(page, errors)
                await page.goto(f"{base}/demo")
                pages.append(page)
            owner, viewer, mallory, anon = pages
            for page in (owner, viewer, mallory):
                await page.wait_for_function(
                    "() => window.golive && window.golive.chat && window.golive.chat.stats.canSend",
                    timeout=15_000,
                )
            # Anonymous: can read, cannot send, is offered to sign in (and come back).
            await anon.wait_for_function(
                "() => window.golive.chat && window.golive.chat.stats.connected", timeout=10_000
            )
            assert await anon.is_disabled("#chat-input")
            assert await anon.is_visible("#chat-signin")
            assert await anon.get_attribute("#chat-signin", "href") == "/login?next=%2Fdemo"

            # Start-up is over (players running) before chat delays are measured.
            for page in (owner, viewer):
                await page.wait_for_function(
                    "() => window.golive.video.currentTime > 1", timeout=30_000
                )
            # One browser sends, the other shows it within 500 ms. Both pages stamp the
            # moment with the same clock (one machine): the sender when the form is
            # submitted, the receiver when the message is in its list.
            await owner.evaluate(SENT_STAMPS)
            await viewer.evaluate(SHOWN_STAMPS)
            delays = []
            for i in range(5):
                text = f"hello {i}, welcome to the stream"
                await owner.fill("#chat-input", text)
                await owner.press("#chat-input", "Enter")
                await viewer.wait_for_function(
                    "(t) => window.__shown[t] !== undefined", arg=text, timeout=5000
                )
                sent = await owner.evaluate("(t) => window.__sent[t]", text)
                shown = await viewer.evaluate("(t) => window.__shown[t]", text)
                delays.append((shown - sent) / 1000)
                await asyncio.sleep(1.2)  # under the default token bucket
            print(f"chat delays (s): {', '.join(f'{d:.3f}' for d in delays)}")
            assert max(delays) < 0.5, delays
            # A hostile message from a hostile display name stays text everywhere.
            await mallory.fill("#chat-input", HOSTILE)
            await mallory.press("#chat-input", "Enter")
            for page in (owner, viewer, anon):
                await page.wait_for_function(
                    "(t) => Array.from(document.querySelectorAll('li.chat-message'))"
                    ".some(li => li.querySelector('.chat-text').textContent === t"
                    " && li.querySelector('.chat-name').textContent === t)",
                    arg=HOSTILE,
                    timeout=5000,
                )
            assert await viewer.locator(".chat-badge.owner").count() == 5
            # Moderation buttons: the owner has them on others' messages, viewers never.
            await viewer.fill("#chat-input", "before the ban")
            await viewer.press("#chat-input", "Enter")
            target = "li.chat-message[data-user='viewer']"
            await owner.wait_for_selector(target, state="attached")
            assert await viewer.locator("button.chat-tool").count() == 0
            assert (
                await owner.locator("li.chat-message[data-user='streamer'] .chat-tools").count()
                == 0
            )
            await owner.hover(target)
            await owner.screenshot(path=str(tmp_path / "watch.png"))

            # The owner makes a helper moderator (the helper's page gets the tools at once,
            # but none on the owner's messages); the helper bans the viewer: the viewer's
            # messages go, sending stops, also after a reload, and the reason is shown inline.
            helper = await (await signed_in_context(browser, server, "helper", "Helper")).new_page()
            track_errors(helper, errors)
            await helper.goto(f"{base}/demo")
            await helper.wait_for_function(
                "() => window.golive.chat && window.golive.chat.stats.canSend", timeout=10_000
            )
            await helper.fill("#chat-input", "happy to help moderate")
            await helper.press("#chat-input", "Enter")
            helper_line = "li.chat-message[data-user='helper']"
            await owner.wait_for_selector(helper_line, state="attached")
            await owner.hover(helper_line)
            await owner.click(f"{helper_line} button.chat-tool:has-text('Mod')")
            await helper.wait_for_function(
                "() => window.golive.chat.stats.role === 'moderator'", timeout=5000
            )
            await helper.wait_for_selector(f"{target} .chat-tools", state="attached")
            assert (
                await helper.locator("li.chat-message[data-user='streamer'] .chat-tools").count()
                == 0
            )
            await helper.hover(target)
            await helper.click(f"{target} button.chat-tool:has-text('Ban')")
            await viewer.wait_for_function(
                "() => !window.golive.chat.stats.canSend"
                " && document.getElementById('chat-input').disabled",
                timeout=5000,
            )
            await owner.wait_for_function(
                "() => !document.querySelector(\"li.chat-message[data-user='viewer']\")",
                timeout=5000,
            )
            assert await viewer.is_visible("#chat-error")
            await viewer.reload()
            await viewer.wait_for_function(
                "() => window.golive && window.golive.chat && window.golive.chat.stats.connected",
                timeout=10_000,
            )
            await viewer.wait_for_timeout(500)
            assert await viewer.is_disabled("#chat-input")
            assert await viewer.evaluate("() => window.golive.chat.stats.canSend") is False

            for page in [*pages, helper]:
                await assert_clean(page)

            # The broadcast ends: the page says so and does not replay the old stream.
            proc.kill()
            await finish(proc, timeout=10)
            await anon.wait_for_function("() => window.golive.stats.ended", timeout=30_000)
            assert await anon.text_content("#offline-title") == "The broadcast has ended"
            assert await anon.is_visible("#offline")
            await asyncio.sleep(3)
            assert await anon.evaluate("() => window.golive.stats.playing") is False
            assert not errors, errors
        finally:
            if proc.returncode is None:
                proc.kill()
                await finish(proc, timeout=10)
    save(tmp_path / "watch.png", "watch.png")
