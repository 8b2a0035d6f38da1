"""``cluster.py workers``: ``golive serve --workers 2`` against one process, on this machine.

At each level K, on fresh servers, back to back: golive as one process (its defaults, no
Redis) and golive with a real redis-server and two workers (``GOLIVE_REDIS_URL`` and
``GOLIVE_WORKERS=2``: the minimum change; both with bench/ingest.py's two lifted defaults,
the passthrough ladder and the per-address RTMP cap). K passthrough publishers as in
bench/ingest.py (``ffmpeg -re -stream_loop -1 -c copy``, 10 outputs per process, nice 10).
After the warm-up, the streams are held and measured:

- CPU per stream: the golive process tree's CPU seconds (the parent and its worker
  children) over the hold, per stream and second;
- streams kept up: every stream's media playlist is read every 2 s; a stream keeps up when
  the segments that appeared during the hold add up to at least the hold minus 4 s (two
  polls: the granularity of the measure); ingest.py's "live" (a playlist with segments
  after the warm-up) is given beside it;
- with workers, the spread of the streams: the holders of the ``golive:lease:*`` keys.
"""

from __future__ import annotations

import asyncio
import collections
import math
import re
import statistics
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from tests.support.redis_server import running_redis_server

from common import GoliveServer, fmt, log, md_table, tree_cpu_seconds
from ingest import count_live_golive, machine_busy, procs_cpu, start_publishers, stop_publishers

SETUPS = ("1 process", "--workers 2")
POLL_S = 2.0
IDLE_S = 3.0
_EXTINF = re.compile(r"#EXTINF:([\d.]+)")
_MEDIA_SEQUENCE = re.compile(r"#EXT-X-MEDIA-SEQUENCE:(\d+)")


class Progress:
    """Media seconds a playlist gained: the durations of segments not seen before."""

    def __init__(self) -> None:
        self.last_msn: int | None = None
        self.added_s = 0.0
        self.errors = 0

    def update(self, text: str) -> None:
        match = _MEDIA_SEQUENCE.search(text)
        durations = [float(d) for d in _EXTINF.findall(text)]
        if match is None or not durations:
            return
        first = int(match[1])
        if self.last_msn is None:
            self.last_msn = first + len(durations) - 1  # what was there before the hold
            return
        for i, duration in enumerate(durations):
            if first + i > self.last_msn:
                self.added_s += duration
                self.last_msn = first + i


async def follow(server: GoliveServer, k: int, until: float) -> list[Progress]:
    progress = [Progress() for _ in range(k)]
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=10)) as client:

        async def read(i: int) -> None:
            try:
                r = await client.get(server.playlist_url(i), timeout=5)
                if r.status_code == 200:
                    progress[i].update(r.text)
                else:
                    progress[i].errors += 1
            except httpx.HTTPError:
                progress[i].errors += 1

        while True:
            await asyncio.gather(*(read(i) for i in range(k)))
            if time.monotonic() >= until:
                return progress
            await asyncio.sleep(min(POLL_S, max(0.0, until - time.monotonic())))


def lease_holders(url: str) -> dict[str, int]:
    """Streams per worker: the holder field of every publish lease."""
    client = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
    try:
        holders = [client.hget(key, "holder") for key in client.scan_iter("golive:lease:*")]
    finally:
        client.close()
    return dict(collections.Counter(str(h) if h else "?" for h in holders))


@dataclass
class WorkersRun:
    setup: str
    k: int
    live: int = 0
    kept_up: int = 0
    hold_s: float = 0.0
    cpu_s: float = 0.0
    idle_cores: float = math.nan  # golive before any publisher: the fixed cost of the setup
    publisher_cpu_s: float = 0.0
    machine_busy: float = 0.0
    holders: dict[str, int] = field(default_factory=dict)
    slowest_s: float = float("nan")  # media seconds added by the slowest stream

    @property
    def cpu_ms_per_stream_s(self) -> float:
        return 1000 * self.cpu_s / (self.hold_s * self.k) if self.hold_s and self.k else math.nan


async def workers_level(
    setup: str, k: int, source: Path, warmup: float, hold: float, fanout: int
) -> WorkersRun:
    out = WorkersRun(setup, k)
    publishers = []
    with ExitStack() as stack:
        env: dict[str, str] = {}
        url = ""
        if setup != SETUPS[0]:
            url = stack.enter_context(running_redis_server()).url
            env = {"GOLIVE_REDIS_URL": url, "GOLIVE_WORKERS": "2"}
        server = stack.enter_context(GoliveServer(k, env=env))
        try:
            await asyncio.sleep(2)  # past the start-up work
            idle0, t_idle = tree_cpu_seconds(server.pid), time.monotonic()
            await asyncio.sleep(IDLE_S)
            out.idle_cores = (tree_cpu_seconds(server.pid) - idle0) / (time.monotonic() - t_idle)
            publishers = start_publishers([server.rtmp_url(i) for i in range(k)], source, fanout)
            await asyncio.sleep(warmup)
            out.live = await count_live_golive(server, k)
            if url:
                out.holders = await asyncio.to_thread(lease_holders, url)
            log(f"{setup} K={k}: {out.live} live {out.holders or ''}; holding {hold:.0f} s")
            cpu0 = tree_cpu_seconds(server.pid)
            pub0 = procs_cpu(publishers)
            busy0, all0 = machine_busy()
            t0 = time.monotonic()
            progress = await follow(server, k, t0 + hold)
            out.hold_s = time.monotonic() - t0
            out.cpu_s = tree_cpu_seconds(server.pid) - cpu0
            out.publisher_cpu_s = procs_cpu(publishers) - pub0
            busy1, all1 = machine_busy()
            out.machine_busy = (busy1 - busy0) / max(1e-9, all1 - all0)
            # The first poll is the baseline: measured media time covers the polls after it.
            added = [p.added_s for p in progress]
            out.kept_up = sum(1 for a in added if a >= out.hold_s - 2 * POLL_S)
            out.slowest_s = min(added, default=float("nan"))
        finally:
            stop_publishers(publishers)
    return out


def workers_report(runs: Sequence[WorkersRun]) -> str:
    rows = [
        [
            r.setup,
            str(r.k),
            f"{r.live}/{r.k}",
            f"{r.kept_up}/{r.k}",
            fmt(r.slowest_s, 1),
            fmt(100 * r.idle_cores, 1),
            fmt(100 * r.cpu_s / r.hold_s if r.hold_s else math.nan, 0),
            fmt(r.cpu_ms_per_stream_s, 2),
            ", ".join(f"{h}: {n}" for h, n in sorted(r.holders.items())) or "-",
            fmt(100 * r.publisher_cpu_s / r.hold_s if r.hold_s else math.nan, 0),
            f"{r.machine_busy:.0%}",
        ]
        for r in runs
    ]
    table = md_table(
        [
            "golive",
            "K",
            "live after warm-up",
            "kept up",
            "slowest stream: media s added over the hold",
            "golive idle CPU (% of a core)",
            "golive CPU (% of a core, all processes)",
            "CPU ms per stream-second",
            "streams per worker (lease holders)",
            "publishers CPU (% of a core)",
            "machine busy",
        ],
        rows,
    )
    repeated = collections.Counter((r.setup, r.k) for r in runs)
    summary_rows = []
    order = sorted(repeated, key=lambda key: (key[1], SETUPS.index(key[0])))
    for setup, k in order:
        count = repeated[(setup, k)]
        if count < 2:
            continue
        same = [r for r in runs if (r.setup, r.k) == (setup, k)]
        cpu = [r.cpu_ms_per_stream_s for r in same]
        kept = [float(r.kept_up) for r in same]
        # Each workers run against the one-process run just before it (same machine state).
        alone = [r.cpu_ms_per_stream_s for r in runs if (r.setup, r.k) == (SETUPS[0], k)]
        ratios = [a / b for a, b in zip(cpu, alone, strict=False)] if setup != SETUPS[0] else []
        summary_rows.append(
            [
                setup,
                str(k),
                str(count),
                f"{statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f})",
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
                if ratios
                else "-",
                f"{statistics.median(kept):.0f} ({min(kept):.0f}-{max(kept):.0f}) of {k}",
            ]
        )
    if not summary_rows:
        return table
    summary = md_table(
        [
            "golive",
            "K",
            "runs",
            "CPU ms per stream-second: median (min-max)",
            "against one process: median of the runs' ratios (min-max)",
            "kept up: median (min-max)",
        ],
        summary_rows,
    )
    return table + "\n\n" + summary


async def workers_main(
    levels: Sequence[int],
    headline: int,
    repeat: int,
    source: Path,
    warmup: float,
    hold: float,
    fanout: int,
) -> list[WorkersRun]:
    plan = [(k, 1 if k != headline else repeat) for k in levels]
    if headline not in levels:
        plan.append((headline, repeat))
    runs: list[WorkersRun] = []
    for k, times in plan:
        for i in range(times):
            for setup in SETUPS:  # back to back, so both see the same machine
                log(f"{setup} K={k}: starting (run {i + 1} of {times})")
                run = await workers_level(setup, k, source, warmup, hold, fanout)
                runs.append(run)
                log(workers_report([run]).splitlines()[-1])
                await asyncio.sleep(2)
    return runs
