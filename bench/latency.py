"""Latency benchmark: LL-HLS part/segment availability and hls.js end-to-end latency.

One 720p30 stream with a 1 s GOP is replayed in real time by a Python pacer (each FLV tag is
written into ``ffmpeg -c copy -f flv rtmp://...`` when its timestamp is due; the send time of
every video frame is recorded).

(a) golive availability: a client follows the live edge with blocking playlist reloads and
    preload-hint part requests and records when each part arrives; the part's last video
    frame is read from the part itself (tfdt + sample durations) and mapped to its send time.
    Whole segments: the time the segment URL first answers 200 (polled every 10 ms from the
    part before its last) and the time a playlist first lists it.
(b) golive with its defaults (ABR ladder included), a fresh server and stream per player; the
    player opens its page 3 s after the stream starts and is measured for 60 s in Debian's
    chromium: golive's watch page, and hls.js with its default settings
    (``new Hls({lowLatencyMode: true})``, ABR on, no seek).
(c) nginx-rtmp (HLS, 1 s fragments) with the same input, played by hls.js with its default
    settings; and its fragment availability, polled the same way.

End-to-end latency is measured two ways: ``now - hls.playingDate`` (golive only: nginx-rtmp
writes no EXT-X-PROGRAM-DATE-TIME) and against the pacer's clock: the frame on screen is
``video.currentTime + initPTS / timescale`` in media time, which was sent at ``t0 + media``.

Usage: .venv/bin/python bench/latency.py [--seconds 60] [--no-browser] [--no-availability]
       [--no-nginx] [--seek-variant] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import io
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HLS_JS,
    PLAYER_JS,
    REPO,
    RESULTS,
    FlvTag,
    GoliveServer,
    NginxRtmp,
    Pacer,
    PacerLog,
    bench_parser,
    command_line,
    ensure_input,
    fmt,
    fragment_dts,
    log,
    machine_info,
    md_table,
    parse_init,
    percentile,
    ratio,
    read_flv,
    run_bench,
    update_doc_section,
)

# Audio tags are written this much ahead of their timestamp: ffmpeg's muxer holds each video
# packet until it has an audio packet at least as late (interleaving), which would otherwise add
# up to one AAC frame (21 ms) of relay delay that no real encoder has. Measured: relay delay
# (pacer write -> ffmpeg output) p95 20 ms without the lead, 0.5 ms with it.
AUDIO_LEAD_MS = 25
WARMUP_S = 6.0
# nginx-rtmp's HLS writer adds 63000 ticks of 90 kHz (NGX_RTMP_HLS_DELAY, 700 ms) to every
# RTMP timestamp it writes into MPEG-TS; this maps them back.
NGINX_SHIFT_MS = -700
SEEK_AFTER_S = 3.0
# Each player opens its page this long after its stream started (a fresh server and stream).
VIEWER_ARRIVES_S = 3.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

_PART_URI = re.compile(r"(?:^|/)(\d+)\.(\d+)\.m4s$")
_SEG_URI = re.compile(r"(?:^|/)(\d+)\.m4s$")


# -- media time -> send time ---------------------------------------------------------------------


class SendClock:
    """Maps a frame's media time (ms, as the server labelled it) to the time it was sent.

    The server may rebase timestamps by a constant; the shift that matches the most frames
    exactly (among a few candidates) is used, and frames are matched within 2 ms.
    """

    def __init__(self, sent: PacerLog) -> None:
        self.log = sent
        self.keys = sorted(sent.video_sent)
        self.shift = 0

    def fit(self, media_ms: list[int], candidates: list[int]) -> float:
        best, best_hits = 0, -1
        for shift in candidates:
            hits = sum(1 for m in media_ms if self._nearest(m + shift) is not None)
            if hits > best_hits:
                best, best_hits = shift, hits
        self.shift = best
        return best_hits / max(1, len(media_ms))

    def _nearest(self, ms: int) -> int | None:
        i = bisect.bisect_left(self.keys, ms)
        for j in (i - 1, i):
            if 0 <= j < len(self.keys) and abs(self.keys[j] - ms) <= 2:
                return self.keys[j]
        return None

    def send_time(self, media_ms: int) -> float | None:
        key = self._nearest(media_ms + self.shift)
        return None if key is None else self.log.video_sent[key]


# -- (a) LL-HLS follower -------------------------------------------------------------------------


@dataclass
class PartSeen:
    msn: int
    index: int
    arrival: float | None = None  # preload-hint (or direct) fetch completed
    listed: float | None = None  # first playlist listing it arrived
    data: bytes | None = None
    via_hint: bool = False


@dataclass
class SegmentSeen:
    msn: int
    fetchable: float | None = None
    listed: float | None = None
    data: bytes | None = None


@dataclass
class Playlist:
    init_uri: str | None
    parts: list[tuple[int, int, str]]
    segments: list[tuple[int, str]]
    hint: tuple[int, int, str] | None


def parse_media_playlist(text: str) -> Playlist:
    init_uri = None
    parts: list[tuple[int, int, str]] = []
    segments: list[tuple[int, str]] = []
    hint = None
    after_extinf = False
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            m = re.search(r'URI="([^"]+)"', line)
            init_uri = m.group(1) if m else None
        elif line.startswith("#EXT-X-PART:") or line.startswith("#EXT-X-PRELOAD-HINT:"):
            m = re.search(r'URI="([^"]+)"', line)
            pm = _PART_URI.search(m.group(1)) if m else None
            if m and pm:
                entry = (int(pm.group(1)), int(pm.group(2)), m.group(1))
                if line.startswith("#EXT-X-PART:"):
                    parts.append(entry)
                else:
                    hint = entry
        elif line.startswith("#EXTINF"):
            after_extinf = True
        elif after_extinf and line and not line.startswith("#"):
            sm = _SEG_URI.search(line)
            if sm:
                segments.append((int(sm.group(1)), line))
            after_extinf = False
    return Playlist(init_uri, parts, segments, hint)


class LlHlsFollower:
    """Follows an LL-HLS playlist at the live edge and records when parts and segments appear."""

    def __init__(
        self, client: httpx.AsyncClient, playlist_url: str, *, poll_segments: bool = True
    ) -> None:
        self.client = client
        self.url = playlist_url
        self.poll_segments = poll_segments
        self.base = playlist_url.rsplit("/", 1)[0] + "/"
        self.parts: dict[tuple[int, int], PartSeen] = {}
        self.segments: dict[int, SegmentSeen] = {}
        self.init: bytes | None = None
        self.hint_misses = 0
        self.errors: list[str] = []
        self._outstanding: dict[tuple[int, int], asyncio.Task[None]] = {}
        self._pollers: dict[int, asyncio.Task[None]] = {}
        self._old_parts: set[tuple[int, int]] = set()  # listed before recording started
        self._old_segments: set[int] = set()

    async def _fetch_part(self, msn: int, index: int, uri: str, *, hinted: bool) -> None:
        try:
            r = await self.client.get(self.base + uri, timeout=10)
        except httpx.HTTPError as exc:
            self.errors.append(f"part {msn}.{index}: {exc!r}")
            return
        now = time.time()
        if r.status_code != 200:
            if hinted:
                self.hint_misses += 1
            return
        seen = self.parts.setdefault((msn, index), PartSeen(msn, index))
        if seen.arrival is None:
            seen.arrival = now
            seen.data = r.content
            seen.via_hint = hinted
        if self.poll_segments and index >= 3 and msn not in self._pollers:
            self._pollers[msn] = asyncio.create_task(self._poll_segment(msn, uri))

    async def _poll_segment(self, msn: int, part_uri: str) -> None:
        uri = part_uri.rsplit("/", 1)[0] + f"/{msn}.m4s"
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                r = await self.client.get(self.base + uri, timeout=5)
            except httpx.HTTPError:
                await asyncio.sleep(0.01)
                continue
            if r.status_code == 200:
                seg = self.segments.setdefault(msn, SegmentSeen(msn))
                seg.fetchable = time.time()
                seg.data = r.content
                return
            await asyncio.sleep(0.01)

    def _note_playlist(self, pl: Playlist, arrival: float) -> None:
        for msn, index, uri in pl.parts:
            if (msn, index) in self._old_parts:
                continue
            seen = self.parts.get((msn, index))
            if seen is None:
                seen = self.parts[(msn, index)] = PartSeen(msn, index)
            if seen.listed is None:
                seen.listed = arrival
            if seen.arrival is None and (msn, index) not in self._outstanding:
                # Not fetched through a hint (a wrong guess): fetch it now, late.
                self._outstanding[(msn, index)] = asyncio.create_task(
                    self._fetch_part(msn, index, uri, hinted=False)
                )
        for msn, _uri in pl.segments:
            if msn in self._old_segments:
                continue
            seg = self.segments.setdefault(msn, SegmentSeen(msn))
            if seg.listed is None:
                seg.listed = arrival

    async def run(self, until: float) -> None:
        r = await self.client.get(self.url, timeout=15)
        r.raise_for_status()
        pl = parse_media_playlist(r.text)
        if pl.init_uri is None or pl.hint is None:
            raise RuntimeError("the playlist has no EXT-X-MAP or no preload hint")
        self.init = (await self.client.get(self.base + pl.init_uri, timeout=10)).content
        # Parts and segments listed in the first playlist already existed: not recorded.
        self._old_parts = {(m, i) for m, i, _ in pl.parts}
        self._old_segments = {m for m, _ in pl.segments}
        while time.time() < until:
            hint = pl.hint
            if hint is None:
                break
            msn, index, uri = hint
            if (msn, index) not in self._outstanding:
                self._outstanding[(msn, index)] = asyncio.create_task(
                    self._fetch_part(msn, index, uri, hinted=True)
                )
            try:
                r = await self.client.get(
                    self.url, params={"_HLS_msn": msn, "_HLS_part": index}, timeout=10
                )
            except httpx.HTTPError as exc:
                self.errors.append(f"playlist {msn}.{index}: {exc!r}")
                await asyncio.sleep(0.1)
                continue
            arrival = time.time()
            if r.status_code != 200:
                self.errors.append(f"playlist {msn}.{index}: HTTP {r.status_code}")
                await asyncio.sleep(0.05)
                continue
            pl = parse_media_playlist(r.text)
            self._note_playlist(pl, arrival)
            done = [k for k, t in self._outstanding.items() if t.done()]
            for k in done:
                del self._outstanding[k]
        tasks = [*self._outstanding.values(), *self._pollers.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Availability:
    part_ms: list[float] = field(default_factory=list)
    part_listed_ms: list[float] = field(default_factory=list)
    seg_fetchable_ms: list[float] = field(default_factory=list)
    seg_listed_ms: list[float] = field(default_factory=list)
    parts_total: int = 0
    parts_via_hint: int = 0
    hint_misses: int = 0
    unmatched: int = 0
    match_rate: float = 0.0
    shift_ms: int = 0


def last_video_ms(data: bytes, timescale: int, video_track: int) -> int | None:
    dts = fragment_dts(data).get(video_track)
    if not dts:
        return None
    return round(dts[-1] * 1000 / timescale)


def golive_availability(
    follower: LlHlsFollower, sent: PacerLog, first_video_ms: int
) -> Availability:
    out = Availability(hint_misses=follower.hint_misses)
    assert follower.init is not None
    info = parse_init(follower.init)
    if info.video_track is None:
        raise RuntimeError("no video track in the init segment")
    ts = info.timescales[info.video_track]
    clock = SendClock(sent)
    parts = [p for p in follower.parts.values() if p.data is not None]
    lasts = {(p.msn, p.index): last_video_ms(p.data, ts, info.video_track) for p in parts if p.data}
    known = [v for v in lasts.values() if v is not None]
    out.match_rate = clock.fit(known, [0, first_video_ms, -first_video_ms])
    out.shift_ms = clock.shift
    for p in parts:
        last = lasts.get((p.msn, p.index))
        sent_at = clock.send_time(last) if last is not None else None
        if sent_at is None or p.arrival is None:
            out.unmatched += 1
            continue
        out.parts_total += 1
        out.parts_via_hint += int(p.via_hint)
        # A part fetched late (after a wrong hint) became available when a playlist listed it.
        avail = p.arrival if p.via_hint or p.listed is None else min(p.arrival, p.listed)
        out.part_ms.append((avail - sent_at) * 1000)
        if p.listed is not None:
            out.part_listed_ms.append((p.listed - sent_at) * 1000)
    for seg in follower.segments.values():
        if seg.data is None:
            continue
        last = last_video_ms(seg.data, ts, info.video_track)
        sent_at = clock.send_time(last) if last is not None else None
        if sent_at is None:
            continue
        if seg.fetchable is not None:
            out.seg_fetchable_ms.append((seg.fetchable - sent_at) * 1000)
        if seg.listed is not None:
            out.seg_listed_ms.append((seg.listed - sent_at) * 1000)
    return out


# -- nginx-rtmp fragment availability ------------------------------------------------------------


class NginxFollower:
    """Polls an nginx-rtmp HLS playlist every 10 ms; records when each fragment is listed."""

    def __init__(self, client: httpx.AsyncClient, playlist_url: str) -> None:
        self.client = client
        self.url = playlist_url
        self.base = playlist_url.rsplit("/", 1)[0] + "/"
        self.listed: dict[str, float] = {}
        self.data: dict[str, bytes] = {}
        self._first: set[str] | None = None

    async def run(self, until: float) -> None:
        while time.time() < until:
            try:
                r = await self.client.get(self.url, timeout=5)
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            now = time.time()
            if r.status_code == 200:
                names = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
                if self._first is None:
                    self._first = set(names)  # already there: not recorded
                for name in names:
                    if name not in self._first and name not in self.listed:
                        self.listed[name] = now
                        with contextlib.suppress(httpx.HTTPError):
                            self.data[name] = (await self.client.get(self.base + name)).content
            await asyncio.sleep(0.01)


def ts_last_video_ms(data: bytes) -> int | None:
    last: int | None = None
    with av.open(io.BytesIO(data), mode="r", format="mpegts") as container:
        video = [s for s in container.streams if s.type == "video"]
        if not video:
            return None
        for packet in container.demux(video[0]):
            if packet.dts is not None:
                last = packet.dts if last is None else max(last, packet.dts)
    return None if last is None else round(last / 90)


def nginx_availability(follower: NginxFollower, sent: PacerLog, first_video_ms: int) -> list[float]:
    clock = SendClock(sent)
    lasts = {n: ts_last_video_ms(d) for n, d in follower.data.items()}
    known = [v for v in lasts.values() if v is not None]
    base = NGINX_SHIFT_MS
    clock.fit(known, [base, base + first_video_ms, base - first_video_ms])
    out = []
    for name, at in follower.listed.items():
        last = lasts.get(name)
        sent_at = clock.send_time(last) if last is not None else None
        if sent_at is not None:
            out.append((at - sent_at) * 1000)
    return out


# -- (b), (c) hls.js in chromium -----------------------------------------------------------------

# Injected into every page before its scripts run: finds the hls.js instance and the video,
# records hls.js's initPTS (to map currentTime back to media time) and counts stalls the same
# way on both pages (a `waiting` event after playback started, not caused by a seek).
PROBE_JS = """
(() => {
  const probe = { initPTS: null, timescale: null, waiting: 0, stallMs: 0, stallStart: null,
                  playing: false, errors: [] };
  window.__bench = probe;
  const hook = () => {
    const hls = (window.golive && window.golive.hls) || window.benchHls;
    if (hls && !hls.__benchHooked) {
      hls.__benchHooked = true;
      hls.on('hlsInitPtsFound', (_e, d) => {
        if (d.id === 'main' || d.id === undefined) {
          probe.initPTS = d.initPTS; probe.timescale = d.timescale;
        }
      });
      hls.on('hlsError', (_e, d) => { probe.errors.push(d.details + (d.fatal ? ' (fatal)' : '')); });
    }
    const video = document.querySelector('video');
    if (video && !video.__benchHooked) {
      video.__benchHooked = true;
      video.addEventListener('playing', () => {
        probe.playing = true;
        if (probe.stallStart !== null) {
          probe.stallMs += performance.now() - probe.stallStart; probe.stallStart = null;
        }
      });
      video.addEventListener('waiting', () => {
        if (probe.playing && !video.seeking && probe.stallStart === null) {
          probe.waiting += 1; probe.stallStart = performance.now();
        }
      });
    }
  };
  setInterval(hook, 2);
})();
"""

SAMPLE_JS = """
() => {
  const levelName = (hls) => {
    const l = hls && hls.levels ? hls.levels[hls.currentLevel] : null;
    const m = l ? String(l.uri || l.url).match(/([^/]+)\\/index\\.m3u8/) : null;
    return m ? m[1] : null;
  };
  const p = window.__bench;
  const hls = (window.golive && window.golive.hls) || window.benchHls;
  const v = document.querySelector('video');
  const pd = hls && hls.playingDate ? hls.playingDate.getTime() : null;
  const g = window.golive ? window.golive.stats : null;
  return {
    now: Date.now(), ct: v ? v.currentTime : null, paused: v ? v.paused : null,
    latency: hls ? hls.latency : null, targetLatency: hls ? hls.targetLatency : null,
    playingDate: pd, initPTS: p.initPTS, timescale: p.timescale, playing: p.playing,
    waiting: p.waiting,
    stallMs: p.stallMs + (p.stallStart !== null ? performance.now() - p.stallStart : 0),
    pageStalls: g ? g.stalls : null, pageStallMs: g ? g.stallMs : null,
    errors: p.errors.slice(-5), rate: v ? v.playbackRate : null,
    height: v ? v.videoHeight : null, level: levelName(hls),
  };
}
"""

BENCH_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>bench</title></head>
<body><video id="video" muted autoplay playsinline></video>
<script src="hls.min.js"></script>
<script>
  const video = document.getElementById('video');
  // Same configuration as golive's watch page (lowLatencyMode is moot on a non-LL playlist).
  const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.1 });
  window.benchHls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
  hls.loadSource(new URLSearchParams(location.search).get('src'));
  hls.attachMedia(video);
</script></body></html>
"""


# hls.js as a third-party page would run it: its defaults, only lowLatencyMode said out loud
# (it is on by default too); ABR on, no seek, playback on MANIFEST_PARSED like BENCH_PAGE.
DEFAULT_PAGE = BENCH_PAGE.replace(
    "  // Same configuration as golive's watch page (lowLatencyMode is moot on a non-LL playlist).\n"
    "  const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.1 });",
    "  const hls = new Hls({ lowLatencyMode: true });",
)
assert DEFAULT_PAGE != BENCH_PAGE


@dataclass
class BrowserResult:
    pdt_latency: list[float] = field(default_factory=list)
    pacer_latency: list[float] = field(default_factory=list)
    hls_latency: list[float] = field(default_factory=list)
    stalls: int = 0
    stall_ms: float = 0.0
    page_stalls: int | None = None
    startup_s: float = float("nan")
    errors: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


async def play_in_chromium(
    url: str,
    seconds: float,
    sent: PacerLog,
    shift_ms: int,
    *,
    started: float,
    serve_page: str | None = None,
    seek_to_live_after: float | None = None,
    open_at: float | None = None,
) -> BrowserResult:
    """Plays ``url`` in chromium and samples latency every second for ``seconds``.

    ``serve_page``: the bench page is answered by Playwright itself at that URL's origin (so it
    is same-origin with the server under test). ``seek_to_live_after``: seconds after playback
    starts at which the page seeks once to ``hls.liveSyncPosition``. ``open_at``: the wall
    clock time at which to open the page (the browser is launched before it); start-up is
    then counted from it.
    """
    from playwright.async_api import Route, async_playwright

    res = BrowserResult()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            page = await browser.new_page()
            await page.add_init_script(PROBE_JS)
            if serve_page is not None:
                page_url = url.split("?", 1)[0]
                js_url = page_url.rsplit("/", 1)[0] + "/hls.min.js"
                html = serve_page

                async def fulfil_page(route: Route) -> None:
                    await route.fulfill(body=html, content_type="text/html")

                async def fulfil_js(route: Route) -> None:
                    await route.fulfill(path=HLS_JS, content_type="application/javascript")

                await page.route(lambda u: u.startswith(page_url), fulfil_page)
                await page.route(js_url, fulfil_js)
            if open_at is not None:
                await asyncio.sleep(max(0.0, open_at - time.time()))
                started = time.time()
            await page.goto(url, timeout=30_000)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if await page.evaluate("() => window.__bench && window.__bench.playing"):
                    break
                await asyncio.sleep(0.1)
            else:
                res.note = "playback did not start within 30 s"
                return res
            res.startup_s = time.time() - started
            if seek_to_live_after is not None:
                await asyncio.sleep(seek_to_live_after)
                await page.evaluate(
                    "() => { const h = window.benchHls; const p = h.liveSyncPosition;"
                    " if (p !== null && isFinite(p)) { h.media.currentTime = p; } }"
                )
                await asyncio.sleep(1.0)
            baseline = await page.evaluate(SAMPLE_JS)
            t_end = time.monotonic() + seconds
            last = baseline
            next_at = time.monotonic()
            while time.monotonic() < t_end:
                next_at += 1.0
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                s = await page.evaluate(SAMPLE_JS)
                res.samples.append(s)
                last = s
                now = s["now"] / 1000
                if s["playingDate"] is not None:
                    res.pdt_latency.append(now - s["playingDate"] / 1000)
                if s["latency"] is not None:
                    res.hls_latency.append(float(s["latency"]))
                if s["initPTS"] is not None and s["timescale"] and s["ct"] is not None:
                    media_ms = (s["ct"] + s["initPTS"] / s["timescale"]) * 1000
                    sent_wall = sent.t0 + (media_ms + shift_ms) / 1000
                    res.pacer_latency.append(now - sent_wall)
            # Stalls within the measured window only.
            res.stalls = int(last["waiting"]) - int(baseline["waiting"])
            res.stall_ms = float(last["stallMs"]) - float(baseline["stallMs"])
            if last["pageStalls"] is not None:
                res.page_stalls = int(last["pageStalls"]) - int(baseline["pageStalls"])
            res.errors = list(last["errors"])
        finally:
            await browser.close()
    return res


# -- relay calibration ---------------------------------------------------------------------------


async def relay_delay(tags: list[Any], seconds: float, audio_lead_ms: int) -> list[float]:
    """Delay the ffmpeg relay adds: pacer write -> the same video tag out of ``-f flv pipe:1``."""
    from common import FlvParser

    pacer = Pacer(tags, "pipe:1", audio_lead_ms=audio_lead_ms)
    arrivals: dict[int, float] = {}

    async def read() -> None:
        while pacer.proc is None:
            await asyncio.sleep(0.005)
        stdout = pacer.proc.stdout
        assert stdout is not None
        parser = FlvParser()
        while data := await stdout.read(65536):
            now = time.time()
            for kind, ts in parser.feed(data):
                if kind == 9:
                    arrivals.setdefault(ts, now)

    reader = asyncio.create_task(read())
    await pacer.run(seconds)
    await asyncio.wait_for(reader, 10)
    base = pacer.base
    return [
        (arrivals[m + base] - at) * 1000
        for m, at in pacer.log.video_sent.items()
        if m + base in arrivals and m > 2000
    ]


# -- the run --------------------------------------------------------------------------------------


def first_video_ms(tags: list[FlvTag]) -> int:
    """Media time of the first video frame (media time 0 = the first audio or video frame)."""
    frames = [t for t in tags if t.kind in (8, 9) and not t.is_header]
    base = min(t.ts for t in frames)
    return next(t.ts for t in frames if t.kind == 9) - base


async def run_pacer(pacer: Pacer, seconds: float) -> asyncio.Task[None]:
    task = asyncio.create_task(pacer.run(seconds))
    await asyncio.sleep(0)
    return task


async def wait_playlist(client: httpx.AsyncClient, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            r = await client.get(url, timeout=5)
            if r.status_code == 200 and "#EXTINF" in r.text:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not come up within {timeout} s")


async def finish(task: asyncio.Task[None], pacer: Pacer) -> None:
    if pacer.proc is not None and pacer.proc.returncode is None:
        pacer.proc.kill()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def golive_availability_phase(args: argparse.Namespace, tags: list[Any]) -> dict[str, Any]:
    """(a): one golive with its defaults, followed at the live edge after the warm-up."""
    seconds = args.seconds
    fv = first_video_ms(tags)
    out: dict[str, Any] = {}
    with GoliveServer(1, passthrough=False) as server:
        pacer = Pacer(tags, server.rtmp_url(0), audio_lead_ms=AUDIO_LEAD_MS)
        task = await run_pacer(pacer, WARMUP_S + seconds + 5)
        try:
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client:
                await wait_playlist(client, server.playlist_url(0), 20)
                await asyncio.sleep(max(0.0, pacer.log.t0 + WARMUP_S - time.time()))
                log(f"golive: following the live edge for {seconds} s")
                follower = LlHlsFollower(client, server.playlist_url(0))
                await asyncio.wait_for(follower.run(time.time() + seconds), seconds + 30)
            out["availability"] = golive_availability(follower, pacer.log, fv)
            out["follower_errors"] = follower.errors[:5]
            out["pacer_late_p95"] = percentile(pacer.log.late_ms, 95)
        finally:
            await finish(task, pacer)
    return out


async def golive_viewer_phase(
    args: argparse.Namespace, tags: list[Any], page: str | None, shift_ms: int
) -> BrowserResult:
    """A fresh golive (its defaults, ABR ladder included) and a fresh stream; the viewer opens
    the watch page (``page`` None) or a bench page ``VIEWER_ARRIVES_S`` after the stream starts.
    """
    seconds = args.seconds
    with GoliveServer(1, passthrough=False) as server:
        pacer = Pacer(tags, server.rtmp_url(0), audio_lead_ms=AUDIO_LEAD_MS)
        task = await run_pacer(pacer, VIEWER_ARRIVES_S + seconds + 45)
        try:
            while pacer.log.t0 == 0.0:
                await asyncio.sleep(0.01)
            if page is None:
                url = server.watch_url(0)
            else:
                src = f"/live/{server.channels[0][0]}/index.m3u8"
                url = f"{server.http}/__bench/play.html?src={src}"
            return await asyncio.wait_for(
                play_in_chromium(
                    url,
                    seconds,
                    pacer.log,
                    shift_ms,
                    started=time.time(),
                    serve_page=page,
                    seek_to_live_after=SEEK_AFTER_S if page == BENCH_PAGE else None,
                    open_at=pacer.log.t0 + VIEWER_ARRIVES_S,
                ),
                seconds + 90,
            )
        finally:
            await finish(task, pacer)


async def golive_phase(args: argparse.Namespace, tags: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    shift_ms = first_video_ms(tags)
    if args.availability:
        out = await golive_availability_phase(args, tags)
        shift_ms = out["availability"].shift_ms
    if args.browser:
        log(
            f"golive: watch page in chromium, arriving at +{VIEWER_ARRIVES_S:.0f} s, {args.seconds} s"
        )
        out["browser"] = await golive_viewer_phase(args, tags, None, shift_ms)
        log(f"golive: hls.js default settings, arriving at +{VIEWER_ARRIVES_S:.0f} s")
        out["browser_default"] = await golive_viewer_phase(args, tags, DEFAULT_PAGE, shift_ms)
        if args.seek_variant:
            log("golive: bench page, one seek to the live edge")
            out["browser_seek"] = await golive_viewer_phase(args, tags, BENCH_PAGE, shift_ms)
    return out


async def nginx_phase(args: argparse.Namespace, tags: list[Any]) -> dict[str, Any]:
    seconds = args.seconds
    fv = first_video_ms(tags)
    out: dict[str, Any] = {}
    with NginxRtmp() as nginx:
        html = nginx.prefix / "html"
        shutil.copy(HLS_JS, html / "hls.min.js")
        (html / "play.html").write_text(DEFAULT_PAGE)
        pacer = Pacer(tags, nginx.rtmp_url(0), audio_lead_ms=AUDIO_LEAD_MS)
        task = await run_pacer(pacer, WARMUP_S + seconds + 50)
        try:
            async with httpx.AsyncClient() as client:
                await wait_playlist(client, nginx.playlist_url(0), 30)
                await asyncio.sleep(max(0.0, pacer.log.t0 + WARMUP_S - time.time()))
                log(f"nginx-rtmp: fragment availability and hls.js for {seconds} s")
                follower = NginxFollower(client, nginx.playlist_url(0))
                poll = asyncio.create_task(follower.run(time.time() + seconds + 20))
                if args.browser:
                    url = (
                        f"{nginx.http}/play.html?src=/hls/{nginx.playlist_url(0).rsplit('/', 1)[1]}"
                    )
                    out["browser"] = await asyncio.wait_for(
                        play_in_chromium(
                            url, seconds, pacer.log, NGINX_SHIFT_MS, started=time.time()
                        ),
                        seconds + 90,
                    )
                await asyncio.wait_for(poll, seconds + 40)
            out["segments_ms"] = nginx_availability(follower, pacer.log, fv)
        finally:
            await finish(task, pacer)
    return out


def pcts(values: list[float], scale: float = 1.0, digits: int = 0) -> list[str]:
    return [fmt(percentile(values, q) * scale, digits) for q in (50, 95)] + [
        fmt(max(values) * scale if values else float("nan"), digits)
    ]


def availability_report(g: dict[str, Any], n: dict[str, Any]) -> list[str]:
    a: Availability = g["availability"]
    rows = [
        ["golive part (hint/blocking fetch)", str(len(a.part_ms)), *pcts(a.part_ms)],
        [
            "golive part (first listed in a playlist)",
            str(len(a.part_listed_ms)),
            *pcts(a.part_listed_ms),
        ],
        [
            "golive segment (URL answers 200, 10 ms polling)",
            str(len(a.seg_fetchable_ms)),
            *pcts(a.seg_fetchable_ms),
        ],
        [
            "golive segment (first listed in a playlist)",
            str(len(a.seg_listed_ms)),
            *pcts(a.seg_listed_ms),
        ],
        [
            "nginx-rtmp fragment (listed, 10 ms polling)",
            str(len(n.get("segments_ms", []))),
            *pcts(n.get("segments_ms", [])),
        ],
    ]
    within = sum(1 for v in a.part_ms if v <= 100) / max(1, len(a.part_ms))
    table_a = md_table(
        ["availability delay after the last frame was sent (ms)", "n", "p50", "p95", "max"], rows
    )
    p95 = percentile(a.part_ms, 95)
    verdict_a = "met" if p95 < 100 else "MISSED"
    return [
        "### (a) Availability delay",
        "",
        table_a,
        "",
        f"Parts within 100 ms: {within:.1%}; parts fetched through the preload hint: "
        f"{a.parts_via_hint}/{a.parts_total}; hint requests answered 404: {a.hint_misses}; "
        f"frames matched to the pacer's log: {a.match_rate:.1%} (media-time shift {a.shift_ms} ms). "
        f"Pacer lateness p95 {fmt(g['pacer_late_p95'], 2)} ms. "
        f"**Target: part availability p95 < 100 ms — {verdict_a} ({fmt(p95)} ms).**",
    ]


def brow(name: str, b: BrowserResult) -> list[str]:
    return [
        name,
        *[fmt(percentile(b.pacer_latency, q), 2) for q in (50, 95)],
        *[fmt(percentile(b.pdt_latency, q), 2) for q in (50, 95)],
        *[fmt(percentile(b.hls_latency, q), 2) for q in (50, 95)],
        f"{b.stalls} ({b.stall_ms / 1000:.1f} s)",
        fmt(b.startup_s, 1),
        level_text(b),
    ]


def level_text(b: BrowserResult) -> str:
    """The variants hls.js was on during the measurement (share of the samples)."""
    names = [str(s["level"]) for s in b.samples if s.get("level")]
    if not names:
        return "n/a"
    shares = {n: names.count(n) / len(names) for n in dict.fromkeys(names)}
    return ", ".join(f"{n} {v:.0%}" for n, v in shares.items())


def verdict(b: BrowserResult, limit: float) -> str:
    p50 = percentile(b.pacer_latency, 50)
    ok = p50 < limit and b.stalls == 0 and not b.note
    return f"{'met' if ok else 'MISSED'} (p50 {fmt(p50, 2)} s, {b.stalls} stalls)"


def report(args: argparse.Namespace, g: dict[str, Any], n: dict[str, Any]) -> str:
    lines = availability_report(g, n) if "availability" in g else []
    gb: BrowserResult | None = g.get("browser")
    gd: BrowserResult | None = g.get("browser_default")
    gs: BrowserResult | None = g.get("browser_seek")
    nb: BrowserResult | None = n.get("browser")
    if gb is None or gd is None:
        return "\n".join(lines)
    rows = [
        brow("golive watch page (LL-HLS, ABR), as shipped", gb),
        brow("golive, hls.js default settings (lowLatencyMode, ABR)", gd),
    ]
    if gs is not None:
        rows.append(
            brow(f"golive, watch page's hls.js settings, one seek at +{SEEK_AFTER_S:.0f} s", gs)
        )
    if nb is not None:
        rows.append(brow("nginx-rtmp, 1 s fragments, hls.js default settings", nb))
    table_b = md_table(
        [
            f"hls.js in chromium, {args.seconds:.0f} s",
            "e2e p50 (s)",
            "e2e p95 (s)",
            "now - playingDate p50",
            "p95",
            "hls.latency p50",
            "p95",
            "stalls (time)",
            "startup (s)",
            "variant played",
        ],
        rows,
    )
    n50 = percentile(nb.pacer_latency, 50) if nb is not None else float("nan")
    lines += [
        "",
        "### (b), (c) hls.js end-to-end latency",
        "",
        table_b,
        "",
        f"Each golive row is a fresh server with its defaults (ABR ladder: source, 720p, 480p, "
        f"360p, audio) and a fresh stream; the player opens its page {VIEWER_ARRIVES_S:.0f} s "
        f"after the stream starts and is measured for {args.seconds:.0f} s from the moment it "
        "starts playing. "
        "e2e = `Date.now()` - the time the pacer sent the frame on screen "
        "(`video.currentTime + initPTS/timescale` mapped to the pacer's log); "
        "`now - playingDate` uses golive's EXT-X-PROGRAM-DATE-TIME (nginx-rtmp writes none); "
        "stalls = `waiting` events after playback started, not caused by a seek "
        f"(the watch page's own counter said {gb.page_stalls}); startup = page opened to "
        "first `playing`. The default-settings page is `new Hls({ lowLatencyMode: true })` "
        "and `video.play()` on MANIFEST_PARSED, nothing else. "
        f"golive watch page / nginx-rtmp e2e p50: {ratio(percentile(gb.pacer_latency, 50), n50)}; "
        f"hls.js default / nginx-rtmp: {ratio(percentile(gd.pacer_latency, 50), n50)}.",
        "",
        f"**Target: watch page p50 < 0.8 s with no stall — {verdict(gb, 0.8)}. "
        f"hls.js default settings p50 < 1.0 s — {verdict(gd, 1.0)}.**",
    ]
    for name, b in (("watch page", gb), ("hls.js default", gd), ("seek", gs), ("nginx-rtmp", nb)):
        if b is None:
            continue
        if b.errors or b.note:
            lines.append(f"\n{name} hls.js errors/notes: {b.note} {', '.join(b.errors)}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    if args.browser and not PLAYER_JS.exists():
        log("building the watch page (make web)")
        import subprocess

        subprocess.run(["make", "web"], cwd=REPO, check=True, timeout=600)
    tags = read_flv(ensure_input())
    t_start = time.time()
    log("calibrating the ffmpeg relay (2 x 10 s)")
    relay = {lead: await relay_delay(tags, 10, lead) for lead in (0, AUDIO_LEAD_MS)}
    g = await golive_phase(args, tags)
    n = await nginx_phase(args, tags) if args.nginx else {}
    body = report(args, g, n)
    r0, r1 = relay[0], relay[AUDIO_LEAD_MS]
    relay_text = (
        f"the relay then adds {fmt(percentile(r1, 50), 1)} ms p50, "
        f"{fmt(percentile(r1, 95), 1)} ms p95, max {fmt(max(r1, default=float('nan')), 1)} ms, "
        f"against {fmt(percentile(r0, 50), 1)} / {fmt(percentile(r0, 95), 1)} ms with audio "
        "on time; measured in the same run through `-f flv pipe:1`"
    )
    print(body)
    print(f"ffmpeg relay: {relay_text}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    dump = {
        "golive_parts_ms": g["availability"].part_ms if "availability" in g else [],
        "golive_segments_ms": g["availability"].seg_fetchable_ms if "availability" in g else [],
        "nginx_segments_ms": n.get("segments_ms", []),
        "golive_browser": g["browser"].samples if "browser" in g else [],
        "golive_browser_default": g["browser_default"].samples if "browser_default" in g else [],
        "golive_browser_seek": g["browser_seek"].samples if "browser_seek" in g else [],
        "nginx_browser": n["browser"].samples if "browser" in n else [],
        # What bench/check.py compares with the recorded figures.
        "summary": {
            name: {
                "e2e_p50_s": percentile(b.pacer_latency, 50),
                "e2e_p95_s": percentile(b.pacer_latency, 95),
                "stalls": b.stalls,
            }
            for name, b in [
                ("watch_page", g.get("browser")),
                ("hlsjs_default", g.get("browser_default")),
                ("nginx_rtmp", n.get("browser")),
            ]
            if b is not None
        },
    }
    (RESULTS / "latency.json").write_text(json.dumps(dump))
    if args.doc:
        doc = "\n".join(
            [
                "## Latency (`bench/latency.py`)",
                "",
                f"Command: `{command_line()}` (took {(time.time() - t_start) / 60:.1f} min)",
                "",
                machine_info(),
                "",
                "One stream, published in real time by a Python pacer that writes each FLV tag "
                "of the input into `ffmpeg -f flv -i pipe:0 -c copy -f flv rtmp://…` when it is "
                f"due and logs each video frame's send time (audio tags {AUDIO_LEAD_MS} ms "
                f"early, so that ffmpeg's interleaving does not hold video back: {relay_text}). "
                f"{args.seconds:.0f} s per measurement ((a): after {WARMUP_S:.0f} s of warm-up). "
                "golive runs with its defaults, the ABR ladder included (source, 720p, 480p, "
                "360p and audio: every stream is transcoded by ffmpeg as it arrives), 0.2 s "
                "parts, 1 s segments; nginx-rtmp with "
                "`hls_fragment 1s; hls_playlist_length 6s;`, HLS on tmpfs, one worker.",
                "",
                body,
            ]
        )
        update_doc_section("latency", doc)
    return 0


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measurement")
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument(
        "--no-availability", dest="availability", action="store_false", help="skip (a)"
    )
    parser.add_argument(
        "--seek-variant",
        action="store_true",
        help="also the bench page with the watch page's hls.js settings and one seek",
    )
    parser.add_argument("--no-nginx", dest="nginx", action="store_false")
    return run_bench(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
