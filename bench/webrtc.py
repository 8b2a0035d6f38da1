"""WebRTC and SRT benchmark: WHEP latency beside LL-HLS, WHEP viewers per stream, SRT ingest cost.

(a) Latency. One 720p30 3 Mbps stream (1 s GOP, no B-frames) whose every frame carries its
    frame number as a bar code (bench/common.py ``frame_barcode_filter``) is replayed in real
    time by the Python pacer into golive over RTMP (the send time of every video frame is
    recorded). Debian's chromium plays it over WHEP (a minimal page: RTCPeerConnection, two
    recvonly transceivers, the offer POSTed once ICE gathering completes) and, in the same run
    and from the same server, over LL-HLS with hls.js as golive's watch page configures it.
    For every frame the page shows, ``requestVideoFrameCallback`` reads the bar code off the
    frame and its expected display time: the latency of that frame is display time - send time.
    The protocol is the only difference between the two rows; the reading is the same code.
(b) Viewers. N WHEP viewers of that stream (N from ``--viewers``, ramped) in
    ``--client-processes`` client processes (2 by default: each viewer stands for a machine
    of its own, and one saturated client process would measure its own lag). The clients are
    aiortc peers that do ICE and DTLS as any viewer, then read only the clear RTP header of
    each packet straight off the socket (no decryption, depacketization or decoding, and not
    through aiortc's receive path), so N clients do not out-cost the server on the same 2
    cores. Over ``--hold`` seconds: golive's CPU (process tree, psutil) and the clients'; per
    viewer, the video frames received, the packets missing from its sequence numbers, the
    frames the media time between the two snapshots spans, and how late frames arrived (the
    largest arrival time - media time over the hold, against the least over the session). A
    viewer lost frames when packets are missing or it received fewer frames than its span.
    A viewer whose first media came only after the hold began (its ICE, DTLS and the next
    keyframe took that long on the loaded machine) is judged by the packets missing since its
    first one, and counted apart; each viewer's time from its offer to its first media is
    reported.
(c) SRT ingest cost. K passthrough streams published with ``ffmpeg -re -c copy`` over SRT
    (``-f mpegts srt://...?streamid=publish:KEY``) and, in the same run, over RTMP: golive's CPU
    seconds per stream per second, and their ratio.

golive runs with its defaults (ABR ladder included) for (a) and (b); (c) uses the passthrough
ladder as bench/ingest.py does, because it measures ingest, not encoding.

Usage: .venv/bin/python bench/webrtc.py [--seconds 30] [--viewers 50,100,200] [--hold 20]
       [--srt-streams 10] [--runs 3] [--skip latency,viewers,srt] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BARCODE_BITS,
    BARCODE_CELL,
    HLS_JS,
    HOST,
    TAG_VIDEO,
    GoliveServer,
    InputSpec,
    Pacer,
    PacerLog,
    bench_parser,
    command_line,
    ensure_input,
    fmt,
    log,
    machine_info,
    md_table,
    percentile,
    read_flv,
    run_bench,
    spread,
    tree_cpu_seconds,
    update_doc_section,
)
from latency import CHROMIUM, CHROMIUM_ARGS

SOURCE = InputSpec(barcode=True)
# WebRTC on loopback only: golive offers 127.0.0.1 as its one host candidate (chromium is
# started with --allow-loopback-in-peer-connection, the client process patches aioice alike).
WEBRTC_ENV = {"GOLIVE_WEBRTC_HOST_ADDRESSES": '["127.0.0.1"]'}
FRAME_MS = 1000 / SOURCE.fps

# Reads the bar code of every frame the video element presents, in the video's own pixels (so
# a lower rendition, scaled, reads the same), and keeps [frame number, display wall time ms].
BARCODE_JS = f"""
window.__frames = [];
window.__watch = (video) => {{
  const BITS = {BARCODE_BITS}, CELL = {BARCODE_CELL}, WIDTH = {SOURCE.size.split("x")[0]};
  const canvas = document.createElement('canvas');
  canvas.width = BITS * CELL; canvas.height = CELL;
  const ctx = canvas.getContext('2d', {{ willReadFrequently: true }});
  const step = (now, meta) => {{
    const s = video.videoWidth / WIDTH;
    if (s > 0) {{
      ctx.drawImage(video, 0, 0, BITS * CELL * s, CELL * s, 0, 0, BITS * CELL, CELL);
      const px = ctx.getImageData(0, 0, BITS * CELL, CELL).data;
      let n = 0;
      for (let i = 0; i < BITS; i++) {{
        const o = ((CELL >> 1) * BITS * CELL + i * CELL + (CELL >> 1)) * 4;
        if (px[o] + px[o + 1] + px[o + 2] > 384) n |= 1 << i;
      }}
      window.__frames.push([n, performance.timeOrigin + meta.expectedDisplayTime]);
    }}
    video.requestVideoFrameCallback(step);
  }};
  video.requestVideoFrameCallback(step);
}};
"""

WHEP_PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>whep bench</title></head>
<body><video id="video" muted autoplay playsinline></video>
<script>{BARCODE_JS}
(async () => {{
  const video = document.getElementById('video');
  const pc = new RTCPeerConnection();
  const stream = new MediaStream();
  pc.addTransceiver('video', {{ direction: 'recvonly' }});
  pc.addTransceiver('audio', {{ direction: 'recvonly' }});
  pc.ontrack = (e) => {{ stream.addTrack(e.track); video.srcObject = stream; }};
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {{
    if (pc.iceGatheringState === 'complete') done();
    pc.addEventListener('icegatheringstatechange', () => {{
      if (pc.iceGatheringState === 'complete') done();
    }});
    setTimeout(done, 2000);
  }});
  const src = new URLSearchParams(location.search).get('src');
  const res = await fetch(src, {{ method: 'POST', body: pc.localDescription.sdp,
                                  headers: {{ 'Content-Type': 'application/sdp' }} }});
  if (res.status !== 201) {{ window.__error = 'WHEP ' + res.status + ': ' + await res.text(); return; }}
  await pc.setRemoteDescription({{ type: 'answer', sdp: await res.text() }});
  window.__watch(video);
  video.play().catch(() => {{}});
}})();
</script></body></html>
"""

# hls.js configured as golive's watch page configures it (bench/latency.py BENCH_PAGE).
HLS_PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>hls bench</title></head>
<body><video id="video" muted autoplay playsinline></video>
<script src="hls.min.js"></script>
<script>{BARCODE_JS}
  const video = document.getElementById('video');
  const hls = new Hls({{ lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.1 }});
  hls.on(Hls.Events.MANIFEST_PARSED, () => {{ video.play().catch(() => {{}}); }});
  hls.loadSource(new URLSearchParams(location.search).get('src'));
  hls.attachMedia(video);
  window.__watch(video);
</script></body></html>
"""


class SendTimes:
    """Maps a frame number read off the screen back to the wall clock it was sent at."""

    def __init__(self, tags: list[Any], sent: PacerLog, loop_ms: int) -> None:
        frames = [t for t in tags if t.kind == TAG_VIDEO and not t.is_header]
        base = min(t.ts for t in tags if t.kind != 18 and not t.is_header)
        self.media_ms = [t.ts - base for t in frames]  # frame n -> media ms in the first loop
        self.sent = sent
        self.loop_ms = loop_ms

    def send_time(self, n: int, shown: float) -> float | None:
        """The latest send of frame ``n`` (over the pacer's loops) not after ``shown``."""
        if n >= len(self.media_ms):
            return None
        first = self.media_ms[n]
        k = int(((shown - self.sent.t0) * 1000 - first) // self.loop_ms) + 1
        for loop in range(k, max(-1, k - 3), -1):
            at = self.sent.video_sent.get(first + loop * self.loop_ms)
            if at is not None and at <= shown:
                return at
        return None


@dataclass
class PlayResult:
    latency: list[float] = field(default_factory=list)  # seconds, one per presented frame
    presented: int = 0
    skipped: int = 0  # frames never presented between two that were
    startup_s: float = float("nan")
    error: str = ""


async def play(
    page_html: str, page_url: str, src: str, seconds: float, times: SendTimes
) -> PlayResult:
    """Opens ``page_html`` at ``page_url`` (same origin as golive) in chromium for ``seconds``."""
    from playwright.async_api import Route, async_playwright

    res = PlayResult()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, "--allow-loopback-in-peer-connection"],
            headless=True,
            timeout=30_000,
        )
        try:
            page = await browser.new_page()

            async def fulfil_page(route: Route) -> None:
                await route.fulfill(body=page_html, content_type="text/html")

            async def fulfil_js(route: Route) -> None:
                await route.fulfill(path=HLS_JS, content_type="application/javascript")

            await page.route(lambda u: u.startswith(page_url), fulfil_page)
            await page.route(page_url.rsplit("/", 1)[0] + "/hls.min.js", fulfil_js)
            opened = time.time()
            await page.goto(f"{page_url}?src={src}", timeout=30_000)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                state = await page.evaluate("() => [window.__frames.length, window.__error || '']")
                if state[1]:
                    res.error = " ".join(str(state[1]).split())
                    return res
                if state[0]:
                    break
                await asyncio.sleep(0.05)
            else:
                res.error = "no frame presented within 30 s"
                return res
            res.startup_s = time.time() - opened
            await asyncio.sleep(2)  # let the player settle before measuring
            await page.evaluate("() => { window.__frames = []; }")
            await asyncio.sleep(seconds)
            frames = await page.evaluate("() => window.__frames")
        finally:
            await browser.close()
    last: int | None = None
    for n, shown_ms in frames:
        shown = shown_ms / 1000
        at = times.send_time(n, shown)
        if at is not None:
            res.latency.append(shown - at)
        if last is not None:
            step = (n - last) % len(times.media_ms)
            res.skipped += max(0, step - 1) if step < 60 else 0
        last = n
    res.presented = len(frames)
    return res


async def wait_ready(client: httpx.AsyncClient, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(url)).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout} s")


async def latency_run(args: argparse.Namespace, tags: list[Any]) -> dict[str, PlayResult]:
    """One run of (a): a fresh golive with defaults, the pacer, WHEP then LL-HLS in turn."""
    results: dict[str, PlayResult] = {}
    with GoliveServer(1, passthrough=False, env=WEBRTC_ENV) as server:
        pacer = Pacer(tags, server.rtmp_url(0))
        total = 2 * (args.seconds + 12) + 15
        task = asyncio.create_task(pacer.run(total))
        times = SendTimes(pacer.tags, pacer.log, pacer.loop_ms)
        channel = server.channels[0][0]
        async with httpx.AsyncClient(timeout=10) as client:
            await wait_ready(client, f"{server.http}/live/{channel}/index.m3u8")
        await asyncio.sleep(3)
        page_url = f"{server.http}/bench/page.html"
        results["WHEP"] = await play(
            WHEP_PAGE, page_url, f"/live/{channel}/whep", args.seconds, times
        )
        results["LL-HLS (hls.js)"] = await play(
            HLS_PAGE, page_url, f"/live/{channel}/index.m3u8", args.seconds, times
        )
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if pacer.proc is not None and pacer.proc.returncode is None:
            pacer.proc.kill()
    return results


# -- (b) many viewers ------------------------------------------------------------------------

VIEWER_CHILD = r"""
import asyncio, json, socket, struct, sys, time
import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
import httpx
import uvloop

# Loopback only, as the server (aioice offers every address but loopback by default).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

# This client must cost far less than the server, or it measures itself: it does ICE and DTLS
# as any viewer does, but reads only the clear RTP header of each packet (SRTP encrypts the
# payload alone), straight off the socket: no decryption, depacketization or decoding. Per
# socket (one per viewer, BUNDLE) and SSRC: packets, bytes, sequence gaps, last sequence
# number, last timestamp, distinct timestamps (frames), the least and the largest (arrival
# time - media time) seen, the media time so far.
stats = {}
first_media = {}  # socket -> when its first RTP packet arrived
sockets = {}  # peer connection -> (its sockets, when its offer was posted)
FAR = float("inf")

def _count(key, data):
    seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
    per_ssrc = stats.get(key)
    if per_ssrc is None:
        per_ssrc = stats[key] = {}
        first_media[key] = time.monotonic()
    per = per_ssrc.setdefault(ssrc, [0, 0, 0, None, None, 0, FAR, -FAR, 0])
    per[0] += 1
    per[1] += len(data)
    if per[3] is not None:
        step = (seq - per[3]) % 65536
        if 1 < step < 32768:  # forward (a smaller step back is a late or repeated packet)
            per[2] += step - 1
    per[3] = seq
    if ts != per[4]:
        if per[4] is not None:
            per[8] += (ts - per[4]) % 4294967296  # media time, unwrapped
        per[4] = ts
        per[5] += 1
        # How late this frame's first packet is against the earliest seen (clock rate 90 kHz).
        late = time.monotonic() - per[8] / 90000
        per[6] = min(per[6], late)
        per[7] = max(per[7], late)

# RTP is counted as it leaves the socket (RFC 7983: first byte 128-191; RTCP's packet types
# 192-223 in the second byte): STUN, DTLS and RTCP go on through aioice and aiortc as usual.
_received = aioice.ice.StunProtocol.datagram_received
def datagram_received(self, data, addr):
    if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
        _count(id(self), data)
    else:
        _received(self, data, addr)
aioice.ice.StunProtocol.datagram_received = datagram_received

def video_of(per_ssrc):
    return max(per_ssrc.values(), key=lambda p: p[1])  # the SSRC with the most bytes

def snapshot():
    out = {}
    for key, per_ssrc in stats.items():
        if per_ssrc:
            video = video_of(per_ssrc)
            out[key] = (video[5], video[2], video[8])
    return out

async def viewer(url, pcs, failures):
    # No STUN server (aiortc's default is a public one, unreachable here: gathering would wait
    # for it): host candidates on loopback, as the server's.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    posted = time.monotonic()
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.post(url, content=pc.localDescription.sdp,
                              headers={"Content-Type": "application/sdp"})
    if r.status_code != 201:
        failures.append(f"{r.status_code} {r.text[:100]}")
        await pc.close()
        return
    await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
    connection = pc.getTransceivers()[0].receiver.transport.transport._connection
    sockets[pc] = ([id(p) for p in connection._protocols], posted)
    # Each viewer stands for a machine of its own, with its own socket buffer: give this
    # process's sockets room for a keyframe burst while it serves N of them in turn (as root,
    # past rmem_max; otherwise the kernel caps it and drops show as loss).
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        for protocol in getattr(connection, "_protocols", []):
            sock = protocol.transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
                except OSError:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    pcs.append(pc)

async def main():
    url, n, ramp_s, hold_at, hold_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    pcs, failures = [], []
    start = time.monotonic()
    for i in range(n):
        await viewer(url, pcs, failures)
        await asyncio.sleep(max(0.0, start + ramp_s * (i + 1) / n - time.monotonic()))
    await asyncio.sleep(max(0.0, hold_at - time.time()))  # every client process holds at once
    for per_ssrc in stats.values():
        for per in per_ssrc.values():
            per[7] = per[6]  # the lateness reported is the hold's
    before = snapshot()
    began = time.monotonic()
    await asyncio.sleep(hold_s)
    after = snapshot()
    held = time.monotonic() - began  # a busy loop wakes late: frames are counted over this
    keys = [k for k in before if k in after]
    # Viewers with no media when the hold began (their ICE and DTLS, then the next keyframe,
    # came late): judged over what they received from their first packet on.
    joined = [k for k in after if k not in before]
    joins = []  # per viewer: seconds from its offer to its first media (None: never)
    for ids, posted in sockets.values():
        firsts = [first_media[i] for i in ids if i in first_media]
        joins.append(min(firsts) - posted if firsts else None)
    print(json.dumps({
        "connected": len(pcs), "failures": failures[:5], "failed": len(failures),
        "frames": [after[k][0] - before[k][0] for k in keys],
        "gaps": [after[k][1] - before[k][1] for k in keys],
        # Frames the media time between the two snapshots spans (30 fps: 3000 ticks each).
        "spanned": [round((after[k][2] - before[k][2]) / 3000) for k in keys],
        "late": [video_of(stats[k])[7] - video_of(stats[k])[6] for k in keys],
        "joined_gaps": [after[k][1] for k in joined],
        "joins": joins,
        "held": held,
    }), flush=True)
    await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

uvloop.run(main())
"""


@dataclass
class ViewerLevel:
    viewers: int
    connected: int = 0
    failed: int = 0
    server_cpu: float = 0.0  # cores (CPU seconds per second) over the hold
    client_cpu: float = 0.0
    machine_busy: float = 0.0  # percent of both cores
    expected_frames: int = 0
    min_frames: int = 0
    median_frames: float = 0.0
    lossy_viewers: int = 0  # viewers that missed at least one frame
    gap_viewers: int = 0  # of which: packets missing from the sequence
    joined_in_hold: int = 0  # viewers whose first media came after the hold began
    joins: list[float] = field(default_factory=list)  # per viewer: offer -> first media, s
    late_ms: list[float] = field(default_factory=list)  # per viewer: delivery delay growth
    udp_drops: int = 0  # the kernel's UDP receive-buffer overflows over the hold (any socket)
    notes: list[str] = field(default_factory=list)


def udp_receive_drops() -> int:
    """The kernel's count of UDP datagrams dropped for a full receive buffer."""
    lines = [
        ln.split()
        for ln in Path("/proc/net/snmp").read_text().splitlines()
        if ln.startswith("Udp:")
    ]
    return int(dict(zip(lines[0], lines[1], strict=True)).get("RcvbufErrors", 0))


async def viewer_level(server: GoliveServer, n: int, hold: float, processes: int) -> ViewerLevel:
    level = ViewerLevel(viewers=n)
    url = f"{server.http}/live/{server.channels[0][0]}/whep"
    ramp, warm = max(5.0, n / 20), 5.0
    # The viewers in ``processes`` client processes that ramp together (each viewer stands for
    # a machine of its own: one saturated client process would measure its own lag).
    shares = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    shares = [k for k in shares if k] or [0]
    hold_at = time.time() + ramp + warm
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            VIEWER_CHILD,
            url,
            str(k),
            str(ramp),
            str(hold_at),
            str(hold),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for k in shares
    ]
    await asyncio.sleep(max(0.0, hold_at - time.time()))
    if any(c.returncode is not None for c in children):
        level.notes.append("a viewer process ended early")
    cpu0 = tree_cpu_seconds(server.pid)
    client0 = sum(tree_cpu_seconds(c.pid) for c in children)
    drops0 = udp_receive_drops()
    busy0 = psutil.cpu_times()
    t0 = time.monotonic()
    await asyncio.sleep(hold)
    elapsed = time.monotonic() - t0
    level.server_cpu = (tree_cpu_seconds(server.pid) - cpu0) / elapsed
    level.udp_drops = udp_receive_drops() - drops0
    level.client_cpu = (sum(tree_cpu_seconds(c.pid) for c in children) - client0) / elapsed
    busy1 = psutil.cpu_times()
    idle = (busy1.idle - busy0.idle) / (elapsed * (psutil.cpu_count() or 1))
    level.machine_busy = 100 * (1 - idle)
    frames: list[int] = []
    held: list[float] = []
    counted = 0
    for child in children:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 120)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.wait(), 60)
        if child.returncode is None:
            child.kill()
        if not line:
            level.notes.append("a viewer process printed nothing")
            continue
        data = json.loads(line)
        level.connected += data["connected"]
        level.failed += data["failed"]
        level.notes += data["failures"]
        frames += data["frames"]
        held.append(data["held"])
        level.late_ms += [1000 * late for late in data["late"]]
        # A viewer lost frames when packets are missing from its sequence, or when it got
        # fewer frames than the media time between the snapshots spans (one may straddle
        # each snapshot).
        level.lossy_viewers += sum(
            1
            for f, g, s in zip(data["frames"], data["gaps"], data["spanned"], strict=True)
            if g > 0 or f < s - 1
        )
        level.gap_viewers += sum(1 for g in data["gaps"] if g > 0)
        level.joined_in_hold += len(data["joined_gaps"])
        late_joiners_lossy = sum(1 for g in data["joined_gaps"] if g > 0)
        level.lossy_viewers += late_joiners_lossy
        level.gap_viewers += late_joiners_lossy
        level.joins += [j for j in data["joins"] if j is not None]
        counted += len(data["frames"]) + len(data["joined_gaps"])
    level.expected_frames = round(statistics.median(held or [0]) * SOURCE.fps)
    if frames:
        level.min_frames = min(frames)
        level.median_frames = statistics.median(frames)
    level.lossy_viewers += n - counted  # refused, or connected and never given media
    return level


async def viewers_run(args: argparse.Namespace, tags: list[Any]) -> list[ViewerLevel]:
    levels = [int(v) for v in args.viewers.split(",") if v]
    out: list[ViewerLevel] = []
    for n in levels:
        with GoliveServer(1, passthrough=args.passthrough, env=WEBRTC_ENV) as server:
            pacer = Pacer(tags, server.rtmp_url(0))
            task = asyncio.create_task(pacer.run(args.hold + n / 20 + 120))
            async with httpx.AsyncClient(timeout=10) as client:
                await wait_ready(client, f"{server.http}/live/{server.channels[0][0]}/index.m3u8")
            log(f"{n} WHEP viewers")
            level = await viewer_level(server, n, args.hold, args.client_processes)
            log(
                f"  {level.connected} connected, golive {level.server_cpu:.2f} cores, "
                f"lossy {level.lossy_viewers} ({level.gap_viewers} with sequence gaps), "
                f"late p50 {statistics.median(level.late_ms or [0]):.0f} ms, "
                f"first frame max {max(level.joins or [0]):.1f} s "
                f"({level.joined_in_hold} joined in the hold), machine {level.machine_busy:.0f}%"
            )
            out.append(level)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if pacer.proc is not None and pacer.proc.returncode is None:
                pacer.proc.kill()
    return out


# -- (c) SRT ingest against RTMP --------------------------------------------------------------


async def ingest_cpu(protocol: str, k: int, hold: float, source: Path) -> float:
    """golive's CPU cores per stream with ``k`` passthrough publishers over ``protocol``."""
    srt_port = 0
    env: dict[str, str] = {}
    if protocol == "srt":
        from common import free_port

        srt_port = free_port()
        env["GOLIVE_SRT_PORT"] = str(srt_port)
    with GoliveServer(k, env=env) as server:
        procs = []
        for i, (_name, key) in enumerate(server.channels):
            if protocol == "srt":
                out = [
                    "-f",
                    "mpegts",
                    f"srt://{HOST}:{srt_port}?streamid=publish:{key}&pkt_size=1316",
                ]
            else:
                out = ["-f", "flv", server.rtmp_url(i)]
            cmd = [
                "nice", "-n", "10", sys.executable, "-c", "import imageio_ffmpeg,os,sys;"
                "os.execv(imageio_ffmpeg.get_ffmpeg_exe(), ['ffmpeg', *sys.argv[1:]])",
                "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
                "-i", str(source), "-c", "copy", *out,
            ]  # fmt: skip
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                for name, _key in server.channels:
                    await wait_ready(client, f"{server.http}/live/{name}/index.m3u8", 60)
            await asyncio.sleep(5)
            cpu0, t0 = tree_cpu_seconds(server.pid), time.monotonic()
            await asyncio.sleep(hold)
            cpu = (tree_cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(10)
    return cpu / k


# -- report ------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> str:
    return fmt(percentile(values, q) * 1000) if values else "-"


def report(
    args: argparse.Namespace,
    latency: list[dict[str, PlayResult]],
    viewers: list[ViewerLevel],
    srt: list[tuple[float, float]],
) -> str:
    lines = [
        f"Command: `{command_line()}`",
        "",
        machine_info(),
        "",
    ]
    if latency:
        lines += [
            f"**End-to-end latency, WHEP beside LL-HLS** (golive with its defaults; 720p30 "
            f"3 Mbps, 1 s GOP, no B-frames; {len(latency)} runs of {args.seconds:.0f} s each "
            "per protocol; every presented frame, latency = expected display time - pacer send "
            "time, read off the frame's bar code). Target: WHEP p50 < 300 ms.",
            "",
        ]
        rows = []
        for proto in latency[0]:
            runs = [r[proto] for r in latency]
            p50s = [statistics.median(r.latency) * 1000 for r in runs if r.latency]
            every = [x for r in runs for x in r.latency]
            rows.append(
                [
                    proto,
                    spread(p50s) if p50s else "-",
                    pct(every, 95),
                    pct(every, 99),
                    str(sum(r.presented for r in runs)),
                    str(sum(r.skipped for r in runs)),
                    "; ".join(sorted({r.error for r in runs if r.error})) or "-",
                ]
            )
        lines.append(
            md_table(
                [
                    "protocol",
                    "p50 ms (median, min-max of runs)",
                    "p95 ms",
                    "p99 ms",
                    "frames",
                    "frames skipped",
                    "errors",
                ],
                rows,
            )
        )
        lines.append("")
    if viewers:
        base = next((v.server_cpu for v in viewers if v.viewers == 0), None)

        def per_viewer(v: ViewerLevel) -> str:
            if not v.connected or base is None:
                return "-"
            return fmt(1000 * (v.server_cpu - base) / v.connected, 2)

        lines += [
            f"**WHEP viewers of one 720p30 stream** (golive with "
            f"{'the passthrough ladder, no transcoding' if args.passthrough else 'its defaults'}; held "
            f"{args.hold:.0f} s per level after the ramp; clients: aiortc peers in "
            f"{args.client_processes} processes on the same machine, reading RTP headers "
            "only; a frame is late by how much later it arrived than the earliest frame "
            "did against the media clock). Target: >= 200 viewers with no frame loss.",
            "",
            md_table(
                [
                    "viewers",
                    "connected",
                    "golive cores",
                    "golive ms CPU / viewer / s (above 0 viewers)",
                    "client cores",
                    "machine busy",
                    "frames expected",
                    "min / median received",
                    "viewers with loss",
                    "offer to first frame, s (median / max)",
                    "of which joined during the hold",
                    "frames late by, ms (median / max of viewers)",
                    "UDP receive-buffer drops",
                ],
                [
                    [
                        str(v.viewers),
                        str(v.connected),
                        fmt(v.server_cpu, 2),
                        per_viewer(v),
                        fmt(v.client_cpu, 2),
                        f"{v.machine_busy:.0f}%",
                        str(v.expected_frames),
                        f"{v.min_frames} / {v.median_frames:.0f}" if v.viewers else "-",
                        str(v.lossy_viewers) if v.viewers else "-",
                        (
                            f"{statistics.median(v.joins):.1f} / {max(v.joins):.1f}"
                            if v.joins
                            else "-"
                        ),
                        str(v.joined_in_hold) if v.viewers else "-",
                        (
                            f"{statistics.median(v.late_ms):.0f} / {max(v.late_ms):.0f}"
                            if v.late_ms
                            else "-"
                        ),
                        str(v.udp_drops),
                    ]
                    for v in viewers
                ],
            ),
            "",
        ]
    if srt:
        srt_ms = [s * 1000 for s, _ in srt]
        rtmp_ms = [r * 1000 for _, r in srt]
        ratios = [s / r for s, r in srt if r]
        lines += [
            f"**SRT ingest CPU per stream against RTMP's** ({args.srt_streams} passthrough "
            f"streams of the 720p30 input per protocol, `ffmpeg -re -c copy`, held "
            f"{args.hold:.0f} s; {len(srt)} runs; median, min-max):",
            "",
            md_table(
                ["protocol", "golive ms CPU per stream per s"],
                [["SRT", spread(srt_ms, 1)], ["RTMP", spread(rtmp_ms, 1)]],
            ),
            "",
            f"SRT / RTMP: {spread(ratios, 2)}.",
            "",
        ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    skip = set(args.skip.split(",")) if args.skip else set()
    source = ensure_input(SOURCE)
    tags = read_flv(source)
    latency: list[dict[str, PlayResult]] = []
    viewers: list[ViewerLevel] = []
    srt: list[tuple[float, float]] = []
    if "latency" not in skip:
        for run in range(args.runs):
            log(f"latency run {run + 1}/{args.runs}")
            result = await latency_run(args, tags)
            for proto, r in result.items():
                p50 = statistics.median(r.latency) * 1000 if r.latency else float("nan")
                log(f"  {proto}: p50 {p50:.0f} ms over {r.presented} frames {r.error}")
            latency.append(result)
    if "viewers" not in skip:
        viewers = await viewers_run(args, tags)
    if "srt" not in skip:
        for run in range(args.runs):
            s = await ingest_cpu("srt", args.srt_streams, args.hold, source)
            r = await ingest_cpu("rtmp", args.srt_streams, args.hold, source)
            log(f"srt run {run + 1}: SRT {s * 1000:.1f} ms/s, RTMP {r * 1000:.1f} ms/s per stream")
            srt.append((s, r))
    text = report(args, latency, viewers, srt)
    print(text)
    if args.doc:
        update_doc_section("webrtc", text)
    return 0


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per player")
    parser.add_argument(
        "--viewers", default="0,50,100,200", help="WHEP viewer levels (0: the baseline)"
    )
    parser.add_argument("--hold", type=float, default=20.0, help="measured seconds per level")
    parser.add_argument("--srt-streams", type=int, default=10)
    parser.add_argument(
        "--passthrough",
        action="store_true",
        help="(b) with the passthrough ladder instead of the defaults (no transcoder child)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes the WHEP viewers are spread over"
    )
    parser.add_argument("--skip", default="", help="comma-separated: latency,viewers,srt")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return run_bench(main_async, args)


if __name__ == "__main__":
    raise SystemExit(main())
