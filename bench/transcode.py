"""Transcoding benchmark: golive's ladder against plain ffmpeg, capacity, added latency.

(a) Efficiency. The default ladder for a 1080p30 source (720p, 480p, 360p; libx264 veryfast,
    zerolatency) is run twice on the same input, both paced in real time:
    - plain ffmpeg: golive's own child command line, its stdin replaced by ``-re -i FILE``
      and every output by /dev/null: decoding, scaling and encoding only;
    - golive: the same file published over RTMP by the benchmarks' Python pacer through
      ``ffmpeg -c copy`` (not counted), and golive's process tree (the server and its ffmpeg
      child) measured: ingest, FLV to and from the child, packaging of five renditions.
    CPU seconds per media second are measured over the same steady-state window of each run;
    their ratio is the price of doing it inside golive (target: at most 1.05). Speed: plain
    ffmpeg once more as fast as it can go (media seconds per wall second), and golive's own
    measure of its encoder (output media time per wall second) while live.
(b) Added latency. During golive's run, one client per rendition follows the live edge with
    LL-HLS blocking requests and records when each part appears. Renditions have the same
    parts (same frames, same times), so the same part's arrival in an encoded rendition minus
    its arrival in the source is the latency transcoding adds (target: at most 300 ms).
(c) Capacity. N copies of the shared 720p30 input published at once to one golive, each
    transcoded with the default ladder (the source, 480p and 360p: three video rungs; 720p is
    skipped at the source's size), for N = 1, 2, ... A stream is sustained when after the
    warm-up no rendition was shed, every encoded rendition stays within 1 s of the source's
    live edge without drifting away (at most 0.3 s more at the end of the window than at its
    start), and golive's encoder speed stays at real time (median >= 0.98x); the figure is
    the largest N where every stream was.

Usage: .venv/bin/python bench/transcode.py [--seconds 36] [--repeat 3] [--trial-seconds 40] [--max-streams 8] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    RESULTS,
    GoliveServer,
    InputSpec,
    Pacer,
    bench_parser,
    command_line,
    ensure_input,
    ffmpeg_exe,
    fmt,
    log,
    machine_info,
    md_table,
    percentile,
    read_flv,
    run_bench,
    tree_cpu_seconds,
    update_doc_section,
)
from golive.media.frame import Track, TrackKind
from golive.transcode.ffmpeg_command import EncoderOptions, ffmpeg_arguments
from golive.transcode.ladder import DEFAULT_LADDER, plan_ladder

SPEC_1080 = InputSpec(seconds=40, size="1920x1080", video_kbps=6000)
SPEC_720 = InputSpec()  # the input every benchmark shares: 720p30, 3 Mbps, GOP 1 s
AUDIO_LEAD_MS = 25  # as bench/latency.py: keeps ffmpeg's interleaving from delaying video
WARMUP_S = 6.0
LADDER_JSON = json.dumps(
    [
        {
            "name": r.name,
            "kind": r.kind.value,
            "height": r.height,
            "fps": r.fps,
            "bitrate": r.bitrate,
        }
        for r in DEFAULT_LADDER
    ]
)
TRANSCODING_ENV = {"GOLIVE_TRANSCODE_LADDER": LADDER_JSON, "GOLIVE_LOG_LEVEL": "warning"}
PART = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="[0-9a-f]+/(\d+)\.(\d+)\.m4s"')
HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+/(\d+)\.(\d+)\.m4s"')
PDT = re.compile(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)")


def source_size(spec: InputSpec) -> tuple[int, int]:
    width, height = spec.size.split("x")
    return int(width), int(height)


def plain_command(path: Path, spec: InputSpec, outputs: list[int], *, realtime: bool) -> list[str]:
    """golive's child command line for ``spec``'s ladder, reading ``path`` instead of stdin."""
    width, height = source_size(spec)
    video = Track(1, TrackKind.VIDEO, "avc1", 90_000, b"", width=width, height=height)
    plan = plan_ladder(DEFAULT_LADDER, video)
    args = ffmpeg_arguments(ffmpeg_exe(), plan.encoded, outputs, EncoderOptions())
    i = args.index("pipe:0")
    args[i] = str(path)
    if realtime:
        args.insert(i - 3, "-re")  # before "-f flv -i"
    return args


@dataclass
class Window:
    """CPU seconds of a process tree between two instants."""

    pid: int
    start_cpu: float = 0.0
    start_wall: float = 0.0
    cpu: float = float("nan")
    wall: float = float("nan")

    def begin(self) -> None:
        self.start_cpu = tree_cpu_seconds(self.pid)
        self.start_wall = time.monotonic()

    def end(self) -> None:
        self.cpu = tree_cpu_seconds(self.pid) - self.start_cpu
        self.wall = time.monotonic() - self.start_wall

    @property
    def cores(self) -> float:
        return self.cpu / self.wall


def plain_ffmpeg(
    path: Path, spec: InputSpec, *, realtime: bool, window: tuple[float, float]
) -> dict[str, float]:
    """Run plain ffmpeg; CPU over ``window`` (seconds after start) and overall speed."""
    sinks = [os.open(os.devnull, os.O_WRONLY) for _ in range(3)]
    try:
        args = plain_command(path, spec, sinks, realtime=realtime)
        started = time.monotonic()
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=sinks
        )
        meter = Window(proc.pid)
        if realtime:
            time.sleep(window[0])
            meter.begin()
            time.sleep(window[1] - window[0])
            meter.end()
        proc.wait(timeout=600)
        elapsed = time.monotonic() - started
    finally:
        for fd in sinks:
            os.close(fd)
    return {"cores": meter.cores if realtime else float("nan"), "speed": spec.seconds / elapsed}


def edge(text: str) -> tuple[int, int] | None:
    match = HINT.search(text)
    return (int(match[1]), int(match[2])) if match else None


@dataclass
class PartFollower:
    """Follows one rendition's live edge part by part and notes when each part appears."""

    url: str
    seen: dict[tuple[int, int], float] = field(default_factory=dict)
    durations: dict[tuple[int, int], float] = field(default_factory=dict)

    async def run(self, client: httpx.AsyncClient, until: float) -> None:
        text = (await client.get(self.url)).text
        nxt = edge(text)
        while nxt is not None and time.monotonic() < until:
            msn, part = nxt
            try:
                r = await client.get(self.url, params={"_HLS_msn": msn, "_HLS_part": part})
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            now = time.monotonic()
            if r.status_code != 200:
                await asyncio.sleep(0.05)
                text = (await client.get(self.url)).text
                nxt = edge(text)
                continue
            for duration, m, p in PART.findall(r.text):
                key = (int(m), int(p))
                self.durations[key] = float(duration)
                self.seen.setdefault(key, now)
            nxt = edge(r.text)


async def pace(tags: list[Any], url: str, seconds: float) -> tuple[Pacer, asyncio.Task[None]]:
    pacer = Pacer(tags, url, audio_lead_ms=AUDIO_LEAD_MS)
    return pacer, asyncio.create_task(pacer.run(seconds))


async def stop_pacing(pacer: Pacer, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    if pacer.proc is not None and pacer.proc.returncode is None:
        pacer.proc.kill()
        await pacer.proc.wait()


async def wait_for_variants(client: httpx.AsyncClient, base: str, names: list[str]) -> str:
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        r = await client.get(f"{base}/index.m3u8")
        text = r.text
        if r.status_code == 200 and all(f"{n}/index.m3u8" in text for n in names):
            return text
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{base}: not every rendition appeared:\n{text}")


async def transcode_speed(client: httpx.AsyncClient, http: str, channel: str) -> float:
    """golive's own measure of its encoder, from /metrics (NaN if not exported)."""
    with contextlib.suppress(httpx.HTTPError):
        text = (await client.get(f"{http}/metrics")).text
        match = re.search(rf'golive_transcode_speed\{{channel="{channel}"\}} ([\d.]+)', text)
        if match:
            return float(match[1])
    return float("nan")


async def golive_run(tags: list[Any], seconds: float) -> dict[str, Any]:
    """One 1080p stream through golive: CPU, encoder speed and the latency it adds."""
    out: dict[str, Any] = {}
    with GoliveServer(1, env=TRANSCODING_ENV) as server:
        pacer, task = await pace(tags, server.rtmp_url(0), seconds + 5)
        try:
            async with httpx.AsyncClient(timeout=20) as client:
                base = f"{server.http}/live/{server.channels[0][0]}"
                await wait_for_variants(client, base, ["source", "720p", "480p", "360p"])
                await asyncio.sleep(max(0.0, pacer.log.t0 + WARMUP_S - time.time()))
                meter = Window(server.pid)
                meter.begin()
                main = psutil.Process(server.pid)
                main_before = sum(main.cpu_times()[:2])
                followers = {
                    name: PartFollower(f"{base}/{name}/index.m3u8")
                    for name in ("source", "720p", "480p", "360p")
                }
                until = time.monotonic() + seconds - WARMUP_S - 2
                speeds: list[float] = []

                async def sample_speed() -> None:
                    while time.monotonic() < until:
                        await asyncio.sleep(2)
                        speeds.append(
                            await transcode_speed(client, server.http, server.channels[0][0])
                        )

                await asyncio.gather(
                    sample_speed(), *(f.run(client, until) for f in followers.values())
                )
                meter.end()
                main_cpu = sum(main.cpu_times()[:2]) - main_before
                multivariant = (await client.get(f"{base}/index.m3u8")).text
        finally:
            await stop_pacing(pacer, task)
    out["cores"] = meter.cores
    out["server_cores"] = main_cpu / meter.wall
    out["window"] = meter.wall
    out["speeds"] = [s for s in speeds if s == s]
    out["shed"] = not all(f"{n}/index.m3u8" in multivariant for n in ("720p", "480p", "360p"))
    source = followers["source"]
    added: dict[str, list[float]] = {}
    for name in ("720p", "480p", "360p"):
        follower = followers[name]
        deltas = []
        for key, t in follower.seen.items():
            if key in source.seen and abs(follower.durations[key] - source.durations[key]) < 0.002:
                deltas.append((t - source.seen[key]) * 1000)
        added[name] = deltas
    out["added_ms"] = added
    out["parts"] = len(source.seen)
    return out


async def live_edge(client: httpx.AsyncClient, url: str) -> float | None:
    """Media end of a rendition's newest part, as a wall-clock date (PDT + part durations)."""
    r = await client.get(url)
    if r.status_code != 200:
        return None
    text = r.text
    dates = list(PDT.finditer(text))
    if not dates:
        return None
    last = dates[-1]
    start = datetime.fromisoformat(last[1].replace("Z", "+00:00")).timestamp()
    tail = text[last.end() :]
    parts = [float(d) for d, _, _ in PART.findall(tail)]
    if parts:
        return start + sum(parts)
    extinf = re.search(r"#EXTINF:([\d.]+)", tail)
    return start + float(extinf[1]) if extinf else start


async def speeds(client: httpx.AsyncClient, http: str) -> dict[str, float]:
    """Every channel's encoder speed from /metrics (empty if not exported)."""
    with contextlib.suppress(httpx.HTTPError):
        text = (await client.get(f"{http}/metrics")).text
        return {
            m[1]: float(m[2])
            for m in re.finditer(r'golive_transcode_speed\{channel="([^"]+)"\} ([\d.e+-]+)', text)
        }
    return {}


async def capacity_trial(tags: list[Any], n: int, seconds: float) -> dict[str, Any]:
    """N 720p streams at once: how many are sustained in real time.

    A stream is sustained when no rendition was shed, both encoded renditions stayed within
    1 s of the source's live edge, that distance did not grow by more than 0.3 s from the
    first to the last seconds of the window, and golive's own encoder speed (from /metrics)
    had a median of at least 0.98x.
    """
    with GoliveServer(n, env=TRANSCODING_ENV) as server:
        pacers = [await pace(tags, server.rtmp_url(i), seconds + 5) for i in range(n)]
        try:
            async with httpx.AsyncClient(timeout=20) as client:
                names = [name for name, _ in server.channels]
                bases = [f"{server.http}/live/{name}" for name in names]
                for base in bases:
                    await wait_for_variants(client, base, ["source", "480p", "360p"])
                await asyncio.sleep(max(0.0, pacers[0][0].log.t0 + WARMUP_S - time.time()))
                meter = Window(server.pid)
                meter.begin()
                cpu_before = psutil.cpu_times()
                lags: list[list[float]] = [[] for _ in range(n)]
                speed: list[list[float]] = [[] for _ in range(n)]
                until = time.monotonic() + seconds - WARMUP_S - 2
                while time.monotonic() < until:
                    for i, base in enumerate(bases):
                        src = await live_edge(client, f"{base}/source/index.m3u8")
                        worst = 0.0
                        for name in ("480p", "360p"):
                            other = await live_edge(client, f"{base}/{name}/index.m3u8")
                            if other is None:
                                worst = float("inf")
                            elif src is not None:
                                worst = max(worst, src - other)
                        lags[i].append(worst)
                    measured = await speeds(client, server.http)
                    for i, name in enumerate(names):
                        if name in measured:
                            speed[i].append(measured[name])
                    await asyncio.sleep(1.0)
                meter.end()
                cpu_after = psutil.cpu_times()
                shed = []
                for base in bases:
                    text = (await client.get(f"{base}/index.m3u8")).text
                    shed.append(not all(f"{r}/index.m3u8" in text for r in ("480p", "360p")))
        finally:
            for pacer, task in pacers:
                await stop_pacing(pacer, task)
    busy = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("user", "system", "nice"))
    total = busy + (cpu_after.idle - cpu_before.idle) + (cpu_after.iowait - cpu_before.iowait)
    sustained = 0
    growth = []
    for i in range(n):
        samples = lags[i]
        grew = sum(samples[-3:]) / 3 - sum(samples[:3]) / 3 if len(samples) >= 6 else 0.0
        growth.append(grew)
        fast_enough = not speed[i] or percentile(speed[i], 50) >= 0.98
        if not shed[i] and max(samples, default=0.0) <= 1.0 and grew <= 0.3 and fast_enough:
            sustained += 1
    all_speeds = [v for per in speed for v in per]
    return {
        "n": n,
        "sustained": sustained,
        "shed": sum(shed),
        "worst_lag": max((max(s, default=0.0) for s in lags), default=0.0),
        "worst_growth": max(growth, default=0.0),
        "min_speed": percentile(all_speeds, 0) if all_speeds else float("nan"),
        "golive_cores": meter.cores,
        "machine_busy": busy / total if total else float("nan"),
    }


def report(
    plain_rt: dict[str, Any],
    plain_fast: dict[str, float],
    g: dict[str, Any],
    trials: list[dict[str, Any]],
) -> str:
    ratio = g["cores"] / plain_rt["cores"]
    capacity = 0
    for trial in trials:
        if trial["sustained"] == trial["n"]:
            capacity = trial["n"]
        else:
            break
    rows = [
        ["plain ffmpeg (same command line, `-re -i FILE`)", fmt(plain_rt["cores"], 3), "1"],
        [
            "golive (server + its ffmpeg child), RTMP in, 5 renditions packaged",
            fmt(g["cores"], 3),
            f"{ratio:.3f}",
        ],
    ]
    lines = [
        "### (a) CPU: golive against plain ffmpeg, 1080p30 → 720p + 480p + 360p",
        "",
        md_table(["real time, same input", "CPU cores (CPU s per s)", "ratio"], rows),
        "",
        f"Medians of {len(g['runs'])} runs of each, alternated (plain: "
        f"{', '.join(f'{c:.3f}' for c in plain_rt['runs'])}; golive: "
        f"{', '.join(f'{c:.3f}' for c in g['runs'])}), each measured over the same "
        f"{g['window']:.0f} s steady-state window. Of golive's, the server process itself "
        f"(Python: RTMP ingest, FLV to and from the child, packaging, HTTP) used "
        f"{g['server_cores']:.3f} cores; the rest is its ffmpeg child. plain ffmpeg also "
        "demuxes the file's audio and paces itself (`-re`); golive's child reads a video-only "
        "pipe. "
        f"**Target: ratio ≤ 1.05 — {'met' if ratio <= 1.05 else 'MISSED'} ({ratio:.3f}).**",
        "",
        f"Speed: plain ffmpeg as fast as it goes: {plain_fast['speed']:.2f}x real time "
        f"({SPEC_1080.seconds} s of input). golive's encoder while live (its own measure, "
        f"`golive_transcode_speed`): median {fmt(percentile(g['speeds'], 50), 2)}x, "
        f"min {fmt(min(g['speeds'], default=float('nan')), 2)}x; renditions shed: "
        f"{'yes' if g['shed'] else 'none'}.",
        "",
        "### (b) Latency added by transcoding",
        "",
        md_table(
            ["rendition", "parts", "p50 (ms)", "p95 (ms)", "max (ms)"],
            [
                [
                    name,
                    str(len(d)),
                    fmt(percentile(d, 50)),
                    fmt(percentile(d, 95)),
                    fmt(max(d, default=float("nan"))),
                ]
                for name, d in g["added_ms"].items()
            ],
        ),
        "",
        "Each value: the time a part appeared in the encoded rendition minus the time the same "
        "part (same media sequence number, index and duration) appeared in the source rendition, "
        "both seen through LL-HLS blocking requests. ",
    ]
    worst = max((percentile(d, 95) for d in g["added_ms"].values()), default=float("nan"))
    over = sum(1 for d in g["added_ms"].values() for v in d if v > 300)
    count = sum(len(d) for d in g["added_ms"].values())
    lines[-1] += f"Parts more than 300 ms late: {over} of {count}. "
    lines[-1] += (
        f"**Target: ≤ 300 ms behind the source — "
        f"{'met' if worst <= 300 else 'MISSED'} (p95 {worst:.0f} ms).**"
    )
    lines += [
        "",
        "### (c) Concurrent 720p30 sources, each with the default ladder (source, 480p, 360p)",
        "",
        md_table(
            [
                "streams",
                "sustained",
                "shed",
                "worst rendition lag (s)",
                "its growth (s)",
                "slowest encoder speed",
                "golive CPU cores",
                "machine busy",
            ],
            [
                [
                    str(t["n"]),
                    str(t["sustained"]),
                    str(t["shed"]),
                    fmt(t["worst_lag"], 2),
                    fmt(t["worst_growth"], 2),
                    f"{fmt(t['min_speed'], 2)}x",
                    fmt(t["golive_cores"], 2),
                    f"{t['machine_busy'] * 100:.0f}%",
                ]
                for t in trials
            ],
        ),
        "",
        f"**This machine sustains {capacity} concurrent 720p30 source(s) with a three-rung "
        "ladder in real time.** A stream counts as sustained when, after the warm-up, no "
        "rendition was shed, both encoded renditions stayed within 1 s of the source's live "
        "edge (program date time plus part durations of the newest part, polled every second) "
        "and that distance grew by at most 0.3 s over the window, and golive's own encoder "
        "speed (`golive_transcode_speed`) had a median of at least 0.98x. The publishers (one "
        "`ffmpeg -c copy` relay per stream and the Python pacer) run on the same two cores.",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    t_start = time.time()
    path_1080 = ensure_input(SPEC_1080)
    path_720 = ensure_input(SPEC_720)
    seconds = min(args.seconds, SPEC_1080.seconds - 4)
    window = (WARMUP_S, seconds - 2)
    tags_1080 = read_flv(path_1080)
    plain_runs: list[dict[str, float]] = []
    golive_runs: list[dict[str, Any]] = []
    for i in range(args.repeat):
        # Alternated, so that a change in the machine's background load hits both alike.
        log(f"[{i + 1}/{args.repeat}] plain ffmpeg, real time, {seconds:.0f} s")
        plain_runs.append(plain_ffmpeg(path_1080, SPEC_1080, realtime=True, window=window))
        log(f"[{i + 1}/{args.repeat}] golive, one 1080p stream, {seconds:.0f} s")
        golive_runs.append(await golive_run(tags_1080, seconds))
        log(f"  plain {plain_runs[-1]['cores']:.3f} cores, golive {golive_runs[-1]['cores']:.3f}")
    log("plain ffmpeg, as fast as it goes")
    plain_fast = plain_ffmpeg(path_1080, SPEC_1080, realtime=False, window=window)
    plain_rt = {
        "cores": percentile([r["cores"] for r in plain_runs], 50),
        "runs": [r["cores"] for r in plain_runs],
    }
    g = {
        "cores": percentile([r["cores"] for r in golive_runs], 50),
        "runs": [r["cores"] for r in golive_runs],
        "server_cores": percentile([r["server_cores"] for r in golive_runs], 50),
        "window": golive_runs[0]["window"],
        "speeds": [s for r in golive_runs for s in r["speeds"]],
        "shed": any(r["shed"] for r in golive_runs),
        "added_ms": {
            name: [d for r in golive_runs for d in r["added_ms"][name]]
            for name in ("720p", "480p", "360p")
        },
    }
    tags_720 = read_flv(path_720)
    trials = []
    for n in range(1, args.max_streams + 1):
        log(f"capacity: {n} stream(s) of 720p30")
        trial = await capacity_trial(tags_720, n, args.trial_seconds)
        log(f"  {trial}")
        trials.append(trial)
        if trial["sustained"] < n:
            break
    body = report(plain_rt, plain_fast, g, trials)
    print(body)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "transcode.json").write_text(
        json.dumps({"plain_rt": plain_rt, "plain_fast": plain_fast, "golive": g, "trials": trials})
    )
    if args.doc:
        doc = "\n".join(
            [
                "## Transcoding (`bench/transcode.py`)",
                "",
                f"Command: `{command_line()}` (took {(time.time() - t_start) / 60:.1f} min)",
                "",
                machine_info(),
                "",
                f"Inputs: {SPEC_1080.seconds} s of the same test pattern at 1920x1080 30 fps "
                f"({SPEC_1080.video_kbps} kbps, GOP 1 s) for (a) and (b); the shared 720p30 "
                "input for (c). The ladder is golive's default (720p 3 Mbps, 480p 1.2 Mbps, "
                "360p 0.7 Mbps, 30 fps caps; libx264 veryfast, zerolatency, maxrate = bitrate, "
                "one-second VBV), encoded in one ffmpeg child per stream; the source and its "
                "audio are passed through. Publishing is the Python pacer of bench/common.py "
                "(real time, through `ffmpeg -c copy`, not counted).",
                "",
                body,
            ]
        )
        update_doc_section("transcode", doc)
    return 0


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=36.0, help="length of the (a)/(b) runs")
    parser.add_argument(
        "--trial-seconds", type=float, default=40.0, help="length of each (c) trial"
    )
    parser.add_argument("--max-streams", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each of (a)'s two sides")
    return run_bench(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
