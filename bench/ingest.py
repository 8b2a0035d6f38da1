"""Ingest benchmark: K concurrent passthrough publishers into golive and into nginx-rtmp.

For each K (default 1, 10, 50, 100) and each server, a fresh server is started, its idle RSS
read, and K streams of the 720p30 3 Mbps input are published:

- ``--probes`` of them (default 3) by the Python pacer of latency.py (exact send time of every
  video frame), each followed by a light client: golive with blocking playlist reloads and
  preload-hint part requests; nginx-rtmp by reading its playlist file on tmpfs every 10 ms;
- the others by ``ffmpeg -re -stream_loop -1 -i input.flv -c copy``, each ffmpeg process
  pushing to ``--fanout`` URLs through the tee muxer, at nice 10 so that load generation yields
  the CPU to the server under test and to the probes.

After ``--warmup`` seconds the level is held ``--hold`` seconds, over which the server's
process tree's CPU seconds (user + system, psutil) and RSS are read. Publisher and whole-
machine CPU are reported beside them, to show when the 2 cores were saturated.

With ``--profile-at K`` (default 50), golive is additionally sampled with py-spy for 20 s at
that level, after its measurement, and the hottest functions are reported.

Usage: .venv/bin/python bench/ingest.py [--levels 1,10,50,100] [--hold 30] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import shutil
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
    RESULTS,
    GoliveServer,
    NginxRtmp,
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
    ratio,
    read_flv,
    run_bench,
    stream_key,
    tree_cpu_seconds,
    tree_rss,
    update_doc_section,
)
from latency import (
    AUDIO_LEAD_MS,
    NGINX_SHIFT_MS,
    LlHlsFollower,
    SendClock,
    first_video_ms,
    golive_availability,
    ts_last_video_ms,
)

MIB = 2**20


# -- load generation ------------------------------------------------------------------------------


def start_publishers(urls: list[str], source: Path, fanout: int) -> list[subprocess.Popen[bytes]]:
    """ffmpeg -re -stream_loop -1 ... -c copy, ``fanout`` outputs per process (tee muxer)."""
    procs = []
    for i in range(0, len(urls), fanout):
        group = urls[i : i + fanout]
        cmd = [
            "nice",
            "-n",
            "10",
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(source),
            "-c",
            "copy",
            "-map",
            "0",
        ]
        if len(group) == 1:
            cmd += ["-f", "flv", group[0]]
        else:
            cmd += ["-f", "tee", "|".join(f"[f=flv:onfail=ignore]{u}" for u in group)]
        procs.append(
            subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
    return procs


def stop_publishers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def procs_cpu(procs: list[subprocess.Popen[bytes]]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += tree_cpu_seconds(p.pid)
    return total


def machine_busy() -> tuple[float, float]:
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    return sum(t) - idle, sum(t)


# -- nginx probe: the playlist file on tmpfs -------------------------------------------------------


class NginxFileFollower:
    """Reads an nginx-rtmp playlist file every 10 ms; records when each fragment is listed."""

    def __init__(self, hls_path: Path, key: str) -> None:
        self.dir = hls_path
        self.playlist = hls_path / f"{key}.m3u8"
        self.listed: dict[str, float] = {}
        self.data: dict[str, bytes] = {}
        self._first: set[str] | None = None

    async def run(self, until: float) -> None:
        while time.time() < until:
            try:
                text = self.playlist.read_text()
            except OSError:
                text = ""
            now = time.time()
            names = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
            if names:
                if self._first is None:
                    self._first = set(names)
                for name in names:
                    if name not in self._first and name not in self.listed:
                        self.listed[name] = now
                        with contextlib.suppress(OSError):
                            self.data[name] = (self.dir / name).read_bytes()
            await asyncio.sleep(0.01)


def nginx_file_availability(f: NginxFileFollower, clock: SendClock, fv: int) -> list[float]:
    lasts = {n: ts_last_video_ms(d) for n, d in f.data.items()}
    known = [v for v in lasts.values() if v is not None]
    base = NGINX_SHIFT_MS
    clock.fit(known, [base, base + fv, base - fv])
    out = []
    for name, at in f.listed.items():
        last = lasts.get(name)
        sent = clock.send_time(last) if last is not None else None
        if sent is not None:
            out.append((at - sent) * 1000)
    return out


# -- one level -------------------------------------------------------------------------------------


@dataclass
class LevelResult:
    server: str
    k: int
    live: int = 0
    hold_s: float = 0.0
    cpu_s: float = 0.0
    rss_idle: int = 0
    rss: int = 0
    rss_max: int = 0
    publisher_cpu_s: float = 0.0
    publisher_procs: int = 0
    machine_busy: float = 0.0  # fraction of all cores
    bench_cpu_s: float = 0.0
    tmpfs: int = 0  # nginx-rtmp: bytes of HLS files on tmpfs at the end of the hold
    delays_ms: list[float] = field(default_factory=list)  # parts (golive) / fragments (nginx)
    seg_delays_ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_per_stream_s(self) -> float:
        return self.cpu_s / (self.hold_s * self.k) if self.hold_s and self.k else math.nan

    @property
    def rss_per_stream(self) -> float:
        return (self.rss - self.rss_idle) / self.k if self.k else math.nan

    @property
    def within_100(self) -> float:
        if not self.delays_ms:
            return math.nan
        return sum(1 for d in self.delays_ms if d <= 100) / len(self.delays_ms)


async def count_live_golive(server: GoliveServer, k: int) -> int:
    live = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=10)) as client:
        for i in range(k):
            with contextlib.suppress(httpx.HTTPError):
                r = await client.get(server.playlist_url(i), timeout=5)
                live += int(r.status_code == 200 and "#EXTINF" in r.text)
    return live


def count_live_nginx(nginx: NginxRtmp, k: int) -> int:
    return sum(1 for i in range(k) if (nginx.hls_path / f"{stream_key(i)}.m3u8").exists())


async def run_level(
    kind: str,
    k: int,
    args: argparse.Namespace,
    tags: list[Any],
    source: Path,
    *,
    profile: bool = True,
) -> tuple[LevelResult, Path | None]:
    res = LevelResult(kind, k)
    fv = first_video_ms(tags)
    n_probe = min(k, args.probes)
    server: GoliveServer | NginxRtmp = GoliveServer(k) if kind == "golive" else NginxRtmp()
    profile_path: Path | None = None
    profile = profile and profile_here(kind, k, args)
    publishers: list[subprocess.Popen[bytes]] = []
    pacers: list[Pacer] = []
    tasks: list[asyncio.Task[None]] = []
    server.start()
    try:
        await asyncio.sleep(2)
        res.rss_idle = tree_rss(server.pid)
        # The probes run until the level is over (killed below): getting K publishers live can
        # take half a minute at K = 100, and a probe that ended early broke the measurement.
        total_s = 3600.0
        for i in range(n_probe):
            pacer = Pacer(tags, server.rtmp_url(i), audio_lead_ms=AUDIO_LEAD_MS)
            pacers.append(pacer)
            tasks.append(asyncio.create_task(pacer.run(total_s)))
        others = [server.rtmp_url(i) for i in range(n_probe, k)]
        publishers = start_publishers(others, source, args.fanout)
        res.publisher_procs = len(publishers) + n_probe
        await asyncio.sleep(args.warmup)
        if kind == "golive":
            assert isinstance(server, GoliveServer)
            res.live = await count_live_golive(server, k)
        else:
            assert isinstance(server, NginxRtmp)
            res.live = count_live_nginx(server, k)
        if res.live < k:
            res.notes.append(f"only {res.live} of {k} streams were live after the warm-up")
        log(f"{kind} K={k}: {res.live} live; measuring {args.hold:.0f} s")

        # The measured hold, with the probes following their streams.
        until = time.time() + args.hold
        followers: list[Any] = []
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=4 * n_probe + 4))
        follow_tasks = []
        for i in range(n_probe):
            if isinstance(server, GoliveServer):
                f: Any = LlHlsFollower(client, server.playlist_url(i), poll_segments=False)
            else:
                f = NginxFileFollower(server.hls_path, stream_key(i))
            followers.append(f)
            follow_tasks.append(asyncio.create_task(f.run(until)))
        me = psutil.Process()
        cpu0 = tree_cpu_seconds(server.pid)
        pub0 = procs_cpu(publishers) + sum(
            tree_cpu_seconds(p.proc.pid) for p in pacers if p.proc is not None
        )
        busy0, all0 = machine_busy()
        me0 = sum(me.cpu_times()[:2])
        t0 = time.monotonic()
        rss_samples = []
        while time.monotonic() - t0 < args.hold:
            await asyncio.sleep(1.0)
            with contextlib.suppress(psutil.Error):
                rss_samples.append(tree_rss(server.pid))
        res.hold_s = time.monotonic() - t0
        res.cpu_s = tree_cpu_seconds(server.pid) - cpu0
        res.publisher_cpu_s = (
            procs_cpu(publishers)
            + sum(tree_cpu_seconds(p.proc.pid) for p in pacers if p.proc is not None)
            - pub0
        )
        busy1, all1 = machine_busy()
        res.machine_busy = (busy1 - busy0) / max(1e-9, all1 - all0)
        res.bench_cpu_s = sum(me.cpu_times()[:2]) - me0
        res.rss = int(percentile(rss_samples, 50)) if rss_samples else tree_rss(server.pid)
        res.rss_max = max(rss_samples, default=res.rss)
        if isinstance(server, NginxRtmp):
            res.tmpfs = sum(p.stat().st_size for p in server.hls_path.iterdir() if p.is_file())
        done = await asyncio.wait_for(
            asyncio.gather(*follow_tasks, return_exceptions=True), args.hold + 30
        )
        for err in done:
            if isinstance(err, BaseException):
                res.notes.append(f"probe failed: {err!r}")
        await client.aclose()
        for f, pacer in zip(followers, pacers, strict=True):
            if isinstance(f, LlHlsFollower):
                if f.init is None:
                    continue
                avail = golive_availability(f, pacer.log, fv)
                res.delays_ms += avail.part_ms
            else:
                res.delays_ms += nginx_file_availability(f, SendClock(pacer.log), fv)

        if profile:
            profile_path = await run_py_spy(server.pid, k)
    finally:
        stop_publishers(publishers)
        for pacer in pacers:
            if pacer.proc is not None and pacer.proc.returncode is None:
                pacer.proc.kill()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()
    return res, profile_path


def profile_here(kind: str, k: int, args: argparse.Namespace) -> bool:
    return kind == "golive" and k == args.profile_at and shutil.which(py_spy()) is not None


def py_spy() -> str:
    exe = Path(sys.executable).parent / "py-spy"
    return str(exe) if exe.exists() else "py-spy"


def thread_cpu(pid: int) -> dict[int, float]:
    with contextlib.suppress(psutil.Error):
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    return {}


def thread_name(pid: int, tid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


THREAD_CPU_NOTE: list[str] = []


async def run_py_spy(pid: int, k: int, seconds: int = 20) -> Path | None:
    """py-spy record of golive; also reads each thread's CPU time over the same interval."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    before = thread_cpu(pid)
    t0 = time.monotonic()
    out = RESULTS / f"ingest_golive_k{k}.pyspy.txt"
    log(f"golive K={k}: py-spy record for {seconds} s")
    proc = await asyncio.create_subprocess_exec(
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "100",
        "--format",
        "raw",
        "--threads",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    after = thread_cpu(pid)
    span = time.monotonic() - t0
    shares = sorted(
        ((after[t] - before.get(t, 0.0)) / span, t) for t in after if t in before or t == pid
    )[::-1]
    THREAD_CPU_NOTE[:] = [
        ", ".join(f"{thread_name(pid, t)} ({t}) {100 * share:.1f}%" for share, t in shares[:4])
    ]
    if proc.returncode != 0 or not out.exists():
        log(f"py-spy failed: {err.decode(errors='replace')[-300:]}")
        return None
    return out


# -- profile summary -------------------------------------------------------------------------------


def _short(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)".
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    marker = "/golive/"
    if marker in path:
        path = "golive/" + path.split(marker, 1)[1]
    else:
        path = path.rsplit("site-packages/", 1)[-1]
        path = (
            path.rsplit("/lib/python3", 1)[-1].split("/", 1)[-1] if "/lib/python3" in path else path
        )
    return f"{name} ({path})"


def summarize_profile(path: Path, top: int = 15) -> str:
    """Shares of the event-loop thread's busy samples, by golive package and by function.

    A sample whose leaf is ``Runner.run`` is time inside uvloop's C code (socket reads and
    writes, callback scheduling), which py-spy cannot see into without --native.
    """
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    area_counts: collections.Counter[str] = collections.Counter()
    other_threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        short = [_short(f) for f in frames]
        if not any(f.startswith("Runner.run ") for f in short):
            other_threads[short[-1]] += count
            continue
        total += count
        self_counts[short[-1]] += count
        for f in set(short):
            incl_counts[f] += count
        golive = [f for f in short if "(golive/" in f and "(golive/cli" not in f]
        golive = [f for f in golive if "(golive/app/" not in f or f is short[-1]]
        if golive:
            area = golive[-1].split("(golive/", 1)[1].split("/")[0].rstrip(")")
            area_counts["golive/" + area.removesuffix(".py")] += count
        elif short[-1].startswith("Runner.run "):
            area_counts["uvloop C code (socket I/O, scheduling)"] += count
        else:
            area_counts["other Python (stdlib, starlette, uvicorn)"] += count
    if total == 0:
        return "(no samples)"

    def table(counter: collections.Counter[str], title: str) -> str:
        rows = [[f"`{name}`", f"{100 * n / total:.1f}%"] for name, n in counter.most_common(top)]
        return md_table([title, "share of event-loop samples"], rows)

    golive_incl = collections.Counter(
        {
            k: v
            for k, v in incl_counts.items()
            if "(golive/" in k and "(golive/cli" not in k and not k.startswith("run (golive/app")
        }
    )
    others = ", ".join(f"`{k}` {v}" for k, v in other_threads.most_common(3))
    return "\n\n".join(
        [
            f"{total} busy samples of the event-loop thread at 100 Hz "
            f"(other threads: {sum(other_threads.values())} samples: {others or 'none'}).",
            table(area_counts, "where (innermost golive package on the stack)"),
            table(self_counts, "self time (leaf function)"),
            table(golive_incl, "inclusive time (golive functions)"),
        ]
    )


# -- report ----------------------------------------------------------------------------------------


def report(results: list[LevelResult], args: argparse.Namespace) -> str:
    header = [
        "server",
        "K",
        "live",
        "server CPU (% of a core)",
        "CPU ms per stream-second",
        "RSS idle → loaded (MiB)",
        "RSS per stream (MiB)",
        "+ tmpfs per stream (MiB)",
        "within 100 ms",
        "delay p50 / p95 (ms)",
        "publishers CPU (% of a core)",
        "machine busy",
    ]
    rows = []
    for r in results:
        unit = "parts" if r.server == "golive" else "fragments"
        rows.append(
            [
                r.server,
                str(r.k),
                f"{r.live}/{r.k}",
                fmt(100 * r.cpu_s / r.hold_s if r.hold_s else math.nan, 1),
                fmt(1000 * r.cpu_per_stream_s, 2),
                f"{r.rss_idle / MIB:.0f} → {r.rss / MIB:.0f}",
                fmt(r.rss_per_stream / MIB, 2),
                fmt(r.tmpfs / r.k / MIB, 2) if r.server != "golive" else "-",
                f"{r.within_100:.1%} of {len(r.delays_ms)} {unit}" if r.delays_ms else "n/a",
                f"{fmt(percentile(r.delays_ms, 50))} / {fmt(percentile(r.delays_ms, 95))}",
                fmt(100 * r.publisher_cpu_s / r.hold_s if r.hold_s else math.nan, 0),
                f"{r.machine_busy:.0%}",
            ]
        )
    by = {(r.server, r.k): r for r in results}
    ratio_rows = []
    for k in sorted({r.k for r in results}):
        g, n = by.get(("golive", k)), by.get(("nginx-rtmp", k))
        if g is None or n is None:
            continue
        ratio_rows.append(
            [
                str(k),
                ratio(g.cpu_per_stream_s, n.cpu_per_stream_s),
                ratio(g.rss_per_stream, n.rss_per_stream),
                ratio(g.rss_per_stream, n.rss_per_stream + n.tmpfs / n.k),
            ]
        )
    parts = [md_table(header, rows)]
    if ratio_rows:
        parts.append(
            md_table(
                [
                    "K",
                    "golive / nginx-rtmp CPU per stream",
                    "golive / nginx-rtmp RSS per stream",
                    "golive RSS / nginx-rtmp (RSS + tmpfs) per stream",
                ],
                ratio_rows,
            )
        )
    if getattr(args, "repeat", 1) > 1:
        parts.append(repeat_summary(results))
    notes = [f"{r.server} K={r.k}: {'; '.join(r.notes)}" for r in results if r.notes]
    if notes:
        parts.append("Notes: " + " ".join(notes))
    return "\n\n".join(parts)


def repeat_summary(results: list[LevelResult]) -> str:
    """Median and spread over the repeated runs of each level, and the ratio of the medians
    (each run's golive and nginx-rtmp were measured back to back)."""
    rows = []
    for k in sorted({r.k for r in results}):
        per: dict[str, list[float]] = {}
        for r in results:
            if r.k == k and r.live == r.k:
                per.setdefault(r.server, []).append(1000 * r.cpu_per_stream_s)
        g, n = per.get("golive", []), per.get("nginx-rtmp", [])
        if not g or not n:
            continue
        pair_ratios = [a / b for a, b in zip(g, n, strict=False)]
        rows.append(
            [
                str(k),
                f"{len(g)}",
                f"{statistics.median(g):.2f} ({min(g):.2f}-{max(g):.2f})",
                f"{statistics.median(n):.2f} ({min(n):.2f}-{max(n):.2f})",
                f"{statistics.median(pair_ratios):.2f}x ({min(pair_ratios):.2f}-"
                f"{max(pair_ratios):.2f})",
            ]
        )
    return md_table(
        [
            "K",
            "runs",
            "golive CPU ms per stream-s, median (min-max)",
            "nginx-rtmp, median (min-max)",
            "golive / nginx-rtmp, median of the runs' ratios (min-max)",
        ],
        rows,
    )


async def main_async(args: argparse.Namespace) -> int:
    source = ensure_input()
    tags = read_flv(source)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    results: list[LevelResult] = []
    profile: Path | None = None
    t_start = time.time()
    for k, run in [(k, run) for k in levels for run in range(args.repeat)]:
        for kind in servers:
            log(f"{kind} K={k}: starting (run {run + 1} of {args.repeat})")
            res, prof = await run_level(kind, k, args, tags, source, profile=run == 0)
            results.append(res)
            profile = prof or profile
            log(
                f"{kind} K={k}: CPU {1000 * res.cpu_per_stream_s:.2f} ms/stream-s, "
                f"RSS/stream {res.rss_per_stream / MIB:.2f} MiB, "
                f"within 100 ms {res.within_100:.1%}, machine busy {res.machine_busy:.0%}"
            )
            await asyncio.sleep(2)
    body = report(results, args)
    print(body)
    profile_md = summarize_profile(profile) if profile is not None else ""
    if profile_md:
        print(profile_md)
        print("per-thread CPU:", THREAD_CPU_NOTE[0] if THREAD_CPU_NOTE else "n/a")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(
        json.dumps(
            [
                {
                    "server": r.server,
                    "k": r.k,
                    "live": r.live,
                    "hold_s": r.hold_s,
                    "cpu_s": r.cpu_s,
                    "rss_idle": r.rss_idle,
                    "rss": r.rss,
                    "rss_max": r.rss_max,
                    "tmpfs": r.tmpfs,
                    "publisher_cpu_s": r.publisher_cpu_s,
                    "machine_busy": r.machine_busy,
                    "bench_cpu_s": r.bench_cpu_s,
                    "delays_ms": r.delays_ms,
                }
                for r in results
            ]
        )
    )
    if args.doc:
        doc = [
            "## Ingest (`bench/ingest.py`)",
            "",
            f"Command: `{command_line()}` (took {(time.time() - t_start) / 60:.1f} min)",
            "",
            machine_info(),
            "",
            "golive runs with its defaults but for two settings: every channel's ladder is "
            "the passthrough one (the source and the audio-only rendition: what golive offers "
            "by default for every stream beyond `max_transcoders`, 2; with the default ladder "
            "the first two streams would be transcoded and the encoders would take the two "
            "cores), and the per-address RTMP connection cap (10) is lifted, as every "
            "publisher connects from 127.0.0.1. golive also answers its probes' LL-HLS "
            "requests over HTTP (about 10 a second each), which nginx-rtmp's probes do not "
            "cost it (they read its files).",
            "",
            f"K passthrough publishers of the input, per server, each level on a fresh server: "
            f"{min(args.probes, max(levels))} probe streams are published by the Python pacer "
            f"(exact send times) and followed (golive: blocking reload + preload-hint part "
            f"requests; nginx-rtmp: its playlist file on tmpfs read every 10 ms); the other "
            f"streams by `ffmpeg -re -stream_loop -1 -c copy`, {args.fanout} RTMP outputs per "
            f"ffmpeg process through the tee muxer, at nice 10. {args.warmup:.0f} s warm-up, "
            f"then {args.hold:.0f} s measured. Server CPU is the server's process tree only "
            "(user + system); RSS is the median over the hold; RSS per stream is "
            "(RSS - idle RSS) / K; nginx-rtmp's HLS files live on tmpfs, outside its RSS, so "
            "their size per stream is given beside it (golive holds its window in its heap). 'within 100 ms' is the share of golive parts (nginx-rtmp: "
            "fragments) available within 100 ms of their last frame leaving the publisher. "
            "'machine busy' is the whole machine's CPU use over the hold (2 cores = 100%).",
            "",
            body,
        ]
        if profile_md:
            doc += [
                "",
                f"### Where golive's time goes at K={args.profile_at} (py-spy)",
                "",
                f"`py-spy record --pid <golive> --rate 100 --duration 20 --format raw`, taken "
                f"right after the K={args.profile_at} measurement (raw stacks in "
                f"`bench/results/`).",
                "",
                "Per-thread CPU over the same 20 s (psutil, % of a core, busiest first): "
                + (THREAD_CPU_NOTE[0] if THREAD_CPU_NOTE else "n/a")
                + ". py-spy's idle detection is not reliable on this VM for threads blocked in "
                "a lock (it reports samples for threads that used no CPU), so only the "
                "event-loop thread's samples are analysed; a leaf `Runner.run` is time in "
                "uvloop's C code (with `--native`: mostly `read` and `epoll_pwait`).",
                "",
                profile_md,
            ]
        update_doc_section("ingest", "\n".join(doc))
    return 0


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--levels", default="10,30,100", help="comma-separated K values")
    parser.add_argument("--servers", default="golive,nginx-rtmp")
    parser.add_argument("--hold", type=float, default=30.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--probes", type=int, default=3, help="paced and followed streams")
    parser.add_argument("--fanout", type=int, default=10, help="RTMP outputs per ffmpeg")
    parser.add_argument("--profile-at", type=int, default=30, help="K at which to py-spy golive")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each level (median)")
    return run_bench(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
