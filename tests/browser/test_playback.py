"""hls.js in low-latency mode plays a live stream in chromium without stalling, near the
latency docs/benchmarks.md claims, for a viewer who opens the page as the channel goes live."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from golive.app import GoliveServer
from tests.browser.conftest import ABR_SETTINGS
from tests.support.publisher import finish, start_publisher
from tests.support.server import rtmp_url, running_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

PLAY_SECONDS = 30
# The player starts with 1 s buffered and catches up to its target latency over the first
# seconds (web/src/live-pace.ts); latency is sampled from after that. Stalls are counted from
# the first frame, start-up included.
SETTLE_SECONDS = 4
# docs/benchmarks.md claims an e2e p50 under 0.8 s (hls.latency about 0.7 s) on an idle 2-core
# machine. The bound leaves 0.5 s for a shared, noisy 2-core test machine: above it the player
# is no longer near its target (PART-HOLD-BACK, about 0.41 s) but two parts or more behind.
LATENCY_CLAIM_S = 0.70
LATENCY_BOUND_S = 1.2

# Test instrumentation (not the product's): every video event with the playhead and the
# buffer's end, to explain a stall when one happens.
EVENT_LOG = """window.__events = [];
document.addEventListener('DOMContentLoaded', () => {
  const v = document.getElementById('video');
  const t0 = performance.now();
  for (const name of ['playing', 'waiting', 'seeking', 'seeked', 'stalled']) {
    v.addEventListener(name, () => {
      const r = (b) => Array.from({length: b.length}, (_, i) => [+b.start(i).toFixed(3), +b.end(i).toFixed(3)]);
      const g = window.golive; const ms = g && g.hls && g.hls.bufferController && g.hls.bufferController.mediaSource;
      const sbs = ms ? Array.from(ms.sourceBuffers).map((sb) => r(sb.buffered)) : null;
      window.__events.push([name, Math.round(performance.now() - t0), +v.currentTime.toFixed(3),
        r(v.buffered), sbs, v.readyState]);
    });
  }
});"""


@pytest.fixture(params=["default", "abr"])
async def watched(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, GoliveServer]]:
    """ "default": the 640x360 source is below every rung of the default ladder (source and
    audio only); "abr": the same source transcoded to 270p and 180p, hls.js's ABR choosing,
    with the transcoder starting as the viewer arrives."""
    settings = ABR_SETTINGS if request.param == "abr" else {}
    async with running_server(tmp_path / "data", reconnect_grace=2.0, **settings) as server:
        yield request.param, server


async def test_hlsjs_plays_from_go_live_without_stall_near_claimed_latency(
    watched: tuple[str, GoliveServer], browser: Any, artifacts: Path
) -> None:
    ladder, server = watched
    page = await browser.new_page()
    await page.add_init_script(EVENT_LOG)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The viewer is on the page as the channel goes live: the page waits for the stream, and
    # the publisher, the server's packager and chromium all start on the same cores.
    await page.goto(f"http://127.0.0.1:{server.http_port}/demo")
    await page.wait_for_function(
        "() => window.golive && window.golive.stats.offline", timeout=10_000
    )
    proc = await start_publisher(
        rtmp_url(server, server.demo_key or ""),
        seconds=PLAY_SECONDS + SETTLE_SECONDS + 20,
        gop=30,
        bframes=0,
        extra=["-tune", "zerolatency"],
    )
    await page.wait_for_function("() => window.golive.stats.playing", timeout=20_000)
    await asyncio.sleep(SETTLE_SECONDS)
    start_time = await page.evaluate("() => window.golive.video.currentTime")
    started = time.monotonic()
    latencies: list[float] = []
    trace: list[tuple[Any, ...]] = []
    while time.monotonic() - started < PLAY_SECONDS:
        await asyncio.sleep(1)
        latency, rate, ahead = await page.evaluate(
            "() => { const v = window.golive.video; const b = v.buffered;"
            " return [window.golive.stats.latency, v.playbackRate,"
            " b.length ? b.end(b.length - 1) - v.currentTime : null]; }"
        )
        trace.append((latency, rate, ahead))
        if isinstance(latency, int | float) and latency > 0:
            latencies.append(float(latency))
    stats = await page.evaluate("() => window.golive.stats")
    events = await page.evaluate("() => window.__events")
    end_time = await page.evaluate("() => window.golive.video.currentTime")
    await page.screenshot(path=str(artifacts / f"watch-playing-{ladder}.png"))
    await page.close()
    proc.kill()
    await finish(proc, timeout=10)

    latencies.sort()
    median = latencies[len(latencies) // 2] if latencies else None
    print("stats", json.dumps(stats), "median latency", median, "events", events)
    print("trace", [tuple(round(x, 2) if x else x for x in t) for t in trace])
    assert not errors, errors
    played = end_time - start_time
    assert played >= PLAY_SECONDS - 1.5, f"played only {played:.1f} s in {PLAY_SECONDS} s"
    assert stats["stalls"] == 0 and stats["stallMs"] == 0, (stats, events)
    assert median is not None, stats
    # Claim LATENCY_CLAIM_S; bound LATENCY_BOUND_S for a shared 2-core machine (see above).
    assert median <= LATENCY_BOUND_S, latencies
