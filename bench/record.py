"""Recording benchmark: what recording every live session costs the live path.

For each K (default 10, 30) and each run (``--repeat``), golive is started twice on a fresh
data dir, back to back and in alternating order: once with its defaults (every session
recorded, on local disk under the data dir) and once with ``GOLIVE_RECORD=false``. K
passthrough publishers of the bench input (``ffmpeg -re -stream_loop -1 -c copy``, the load
generator of bench/ingest.py, ``--fanout`` outputs per ffmpeg, at nice 10) publish; after
``--warmup`` s, ``--hold`` s are measured:

- server CPU per stream-second: the server's process tree (user + system, psutil) over the
  hold, / (K x hold). Recording's cost is on - off, as a share of off (the stream's ingest
  and packaging cost); target: under 10 %;
- part availability delay p50 / p95 / max: golive's own histogram
  ``golive_part_availability_delay_seconds`` (last frame of a part in -> part published), the
  difference of /metrics over the hold, every channel together, interpolated within buckets;
  target: no change in p95 beyond the run-to-run spread;
- recording upload lag (``golive_recording_upload_lag_seconds``: segment complete -> stored
  and indexed) p95, and bytes written per stream-second (recording on only).

Then the publishers stop; after ``reconnect_grace`` (default 10 s) each stream ends. A webhook
receiver in this script notes when ``stream.ended`` and ``recording.ready`` arrive for each
channel: the time from the one to the other is the time from stream end to a playable
recording (target: under 5 s). Both come from the same server over the same queue, so the
webhook delivery's own latency cancels out.

The baseline, in the same run: nginx-rtmp (HLS on tmpfs, as bench/ingest.py runs it) with
and without ``record all`` (FLV on the same disk), the same K publishers: recording's CPU in
ms per stream-second, golive's against nginx-rtmp's (``--no-baseline`` skips it).

Usage: .venv/bin/python bench/record.py [--levels 10,30] [--hold 30] [--repeat 3] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    RESULTS,
    GoliveServer,
    NginxRtmp,
    bench_parser,
    command_line,
    ensure_input,
    fmt,
    log,
    machine_info,
    md_table,
    run_bench,
    tree_cpu_seconds,
    update_doc_section,
)
from ingest import count_live_golive, start_publishers, stop_publishers

WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
PART_DELAY = "golive_part_availability_delay_seconds"
UPLOAD_LAG = "golive_recording_upload_lag_seconds"


# -- a webhook receiver (the bench's own: a few lines of HTTP/1.1 on loopback) ----------------


@dataclass
class Webhooks:
    """Notes the arrival time (monotonic) of each (event type, channel)."""

    arrived: dict[tuple[str, str], float] = field(default_factory=dict)
    server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, HOST, 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://{HOST}:{port}/events"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                now = time.monotonic()
                event = json.loads(body)
                self.arrived.setdefault((event["type"], event.get("channel") or ""), now)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        writer.close()

    async def wait(self, kind: str, channels: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all((kind, c) in self.arrived for c in channels):
                return
            await asyncio.sleep(0.1)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


# -- /metrics ------------------------------------------------------------------------------------


def histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts by upper bound, every label set summed."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{name}_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + float(s.value)
    return buckets


def counter(text: str, name: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in (name, f"{name}_total"):
                total += float(s.value)
    return total


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The q-quantile of the observations between two scrapes, linear within a bucket."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, cumulative
    return lower


# -- one measured run ----------------------------------------------------------------------------


@dataclass
class Run:
    record: bool
    k: int
    server: str = "golive"  # or "nginx-rtmp", the baseline
    live: int = 0
    hold_s: float = 0.0
    cpu_s: float = 0.0
    delay_p50: float = float("nan")
    delay_p95: float = float("nan")
    delay_max_bucket: float = float("nan")
    lag_p95: float = float("nan")
    bytes_written: float = 0.0
    ready_s: list[float] = field(default_factory=list)  # stream.ended -> recording.ready
    missing_ready: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_ms_per_stream_s(self) -> float:
        return 1000 * self.cpu_s / max(1e-9, self.k * self.hold_s)


async def measure(record: bool, k: int, args: argparse.Namespace, source: Path) -> Run:
    run = Run(record, k)
    hooks = Webhooks()
    url = await hooks.start()
    env = {"GOLIVE_WEBHOOK_URL": url, "GOLIVE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    if not record:
        env["GOLIVE_RECORD"] = "false"
    server = GoliveServer(k, env=env)
    publishers: list[subprocess.Popen[bytes]] = []
    server.start()
    try:
        publishers = start_publishers([server.rtmp_url(i) for i in range(k)], source, args.fanout)
        await asyncio.sleep(args.warmup)
        run.live = await count_live_golive(server, k)
        if run.live < k:
            run.notes.append(f"only {run.live} of {k} live after the warm-up")
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
            before = (await client.get("/metrics")).text
            cpu0 = tree_cpu_seconds(server.pid)
            t0 = time.monotonic()
            await asyncio.sleep(args.hold)
            run.cpu_s = tree_cpu_seconds(server.pid) - cpu0
            run.hold_s = time.monotonic() - t0
            after = (await client.get("/metrics")).text
        b, a = histogram(before, PART_DELAY), histogram(after, PART_DELAY)
        run.delay_p50, run.delay_p95 = quantile(b, a, 0.5), quantile(b, a, 0.95)
        run.delay_max_bucket = quantile(b, a, 1.0)
        if record:
            run.lag_p95 = quantile(
                histogram(before, UPLOAD_LAG), histogram(after, UPLOAD_LAG), 0.95
            )
            run.bytes_written = counter(after, "golive_recording_bytes_written") - counter(
                before, "golive_recording_bytes_written"
            )
        stop_publishers(publishers)
        publishers = []
        if record:
            names = [name for name, _ in server.channels]
            await hooks.wait("recording.ready", names, args.grace + args.ready_timeout)
            for name in names:
                ended = hooks.arrived.get(("stream.ended", name))
                ready = hooks.arrived.get(("recording.ready", name))
                if ended is None or ready is None:
                    run.missing_ready += 1
                else:
                    run.ready_s.append(ready - ended)
            if run.missing_ready:
                run.notes.append(f"{run.missing_ready} streams had no recording.ready in time")
    finally:
        stop_publishers(publishers)
        server.stop()
        hooks.close()
    return run


async def measure_nginx(record: bool, k: int, args: argparse.Namespace, source: Path) -> Run:
    """The baseline: nginx-rtmp (HLS on tmpfs, as in bench/ingest.py), with ``record all``
    to FLV files on the same disk as golive's data dir, or without it."""
    run = Run(record, k, server="nginx-rtmp")
    with tempfile.TemporaryDirectory(prefix="nginx-record-") as folder:
        nginx = NginxRtmp(record_path=Path(folder) if record else None)
        publishers: list[subprocess.Popen[bytes]] = []
        nginx.start()
        try:
            urls = [nginx.rtmp_url(i) for i in range(k)]
            publishers = start_publishers(urls, source, args.fanout)
            await asyncio.sleep(args.warmup)
            cpu0 = tree_cpu_seconds(nginx.pid)
            t0 = time.monotonic()
            await asyncio.sleep(args.hold)
            run.cpu_s = tree_cpu_seconds(nginx.pid) - cpu0
            run.hold_s = time.monotonic() - t0
            if record:
                run.bytes_written = float(sum(f.stat().st_size for f in Path(folder).iterdir()))
                run.live = len(list(Path(folder).iterdir()))
        finally:
            stop_publishers(publishers)
            nginx.stop()
    return run


# -- report --------------------------------------------------------------------------------------


def median_range(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    values = [v * scale for v in values if v == v]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return (
        f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-"
        f"{max(values):.{digits}f})"
    )


def ratio_text(ours: list[float], theirs: list[float]) -> str:
    if not ours or not theirs or statistics.median(theirs) <= 0:
        return "n/a"
    return f"{statistics.median(ours) / statistics.median(theirs):.2f}"


def report(runs: list[Run]) -> str:
    rows = []
    for k in sorted({r.k for r in runs}):
        on = [r for r in runs if r.k == k and r.record and r.server == "golive"]
        off = [r for r in runs if r.k == k and not r.record and r.server == "golive"]
        nginx_on = [r for r in runs if r.k == k and r.record and r.server == "nginx-rtmp"]
        nginx_off = [r for r in runs if r.k == k and not r.record and r.server == "nginx-rtmp"]
        # Recording's own cost in ms per stream-second, golive's and nginx-rtmp's (paired).
        added = [
            a.cpu_ms_per_stream_s - b.cpu_ms_per_stream_s for a, b in zip(on, off, strict=False)
        ]
        nginx_added = [
            a.cpu_ms_per_stream_s - b.cpu_ms_per_stream_s
            for a, b in zip(nginx_on, nginx_off, strict=False)
        ]
        # Paired: the i-th run on and off were measured back to back.
        extra = [
            (a.cpu_ms_per_stream_s - b.cpu_ms_per_stream_s) / b.cpu_ms_per_stream_s
            for a, b in zip(on, off, strict=False)
        ]
        ready = [s for r in on for s in r.ready_s]
        rows.append(
            [
                str(k),
                str(len(on)),
                median_range([r.cpu_ms_per_stream_s for r in off]),
                median_range([r.cpu_ms_per_stream_s for r in on]),
                median_range(extra, 100, 1) + " %",
                median_range([r.delay_p95 for r in off], 1000, 3),
                median_range([r.delay_p95 for r in on], 1000, 3),
                median_range([r.lag_p95 for r in on], 1000, 0),
                f"{fmt(statistics.median(ready), 2)} / {fmt(max(ready), 2)}" if ready else "n/a",
                str(sum(r.missing_ready for r in on)),
                median_range(added),
                median_range([r.cpu_ms_per_stream_s for r in nginx_off]),
                median_range([r.cpu_ms_per_stream_s for r in nginx_on]),
                median_range(nginx_added),
                ratio_text(added, nginx_added),
            ]
        )
    return md_table(
        [
            "K",
            "runs",
            "CPU ms per stream-s, record off",
            "record on",
            "recording's extra CPU (on - off) / off",
            "part delay p95 ms, off",
            "on",
            "upload lag p95 ms",
            "stream end -> recording.ready s, median / max",
            "no recording.ready",
            "recording's CPU, golive: on - off, ms per stream-s",
            "nginx-rtmp CPU ms per stream-s, record off",
            "nginx-rtmp, record all",
            "recording's CPU, nginx-rtmp: on - off",
            "golive's recording CPU / nginx-rtmp's",
        ],
        rows,
    )


async def main_async(args: argparse.Namespace) -> int:
    source = ensure_input()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    runs: list[Run] = []
    started = time.time()
    for k in levels:
        for n in range(args.repeat):
            # Alternate which goes first, so a drift of the machine's load over a run does not
            # always favour the same side.
            order = (True, False) if n % 2 == 0 else (False, True)
            if args.baseline:
                for record in order:
                    log(f"K={k} run {n + 1}/{args.repeat}: nginx-rtmp record={record}")
                    run = await measure_nginx(record, k, args, source)
                    runs.append(run)
                    log(f"  nginx-rtmp CPU {run.cpu_ms_per_stream_s:.2f} ms/stream-s")
                    await asyncio.sleep(2)
            for record in order:
                log(f"K={k} run {n + 1}/{args.repeat}: record={'on' if record else 'off'}")
                run = await measure(record, k, args, source)
                runs.append(run)
                log(
                    f"  CPU {run.cpu_ms_per_stream_s:.2f} ms/stream-s, part delay p95 "
                    f"{1000 * run.delay_p95:.3f} ms"
                    + (
                        f", ready {median_range(run.ready_s)} s, upload lag p95 "
                        f"{1000 * run.lag_p95:.0f} ms"
                        if record
                        else ""
                    )
                    + ("; " + "; ".join(run.notes) if run.notes else "")
                )
                await asyncio.sleep(2)
    body = report(runs)
    print(body)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "record.json").write_text(
        json.dumps([{**r.__dict__, "cpu_ms_per_stream_s": r.cpu_ms_per_stream_s} for r in runs])
    )
    if args.doc:
        doc = [
            "## Recording (`bench/record.py`)",
            "",
            f"Command: `{command_line()}` (took {(time.time() - started) / 60:.1f} min)",
            "",
            machine_info(),
            "",
            "golive with its defaults (recording on, local disk under the data dir) against "
            "the same golive with `GOLIVE_RECORD=false`, back to back on fresh data dirs, "
            "except for the settings bench/ingest.py also changes: the passthrough ladder and "
            "the per-address RTMP connection cap. A webhook URL is set to time "
            "`recording.ready`. The baseline, in the same run and the same alternating order: "
            "nginx-rtmp (HLS on tmpfs, as in bench/ingest.py) with and without `record all` "
            "(FLV files on the same disk as golive's data dir), fed the same publishers.",
            "",
            body,
        ]
        update_doc_section("record", "\n".join(doc))
    return 0


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--levels", default="10,30", help="comma-separated K values")
    parser.add_argument("--hold", type=float, default=30.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--fanout", type=int, default=10, help="RTMP outputs per ffmpeg")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each level (median)")
    parser.add_argument(
        "--grace", type=float, default=10.0, help="golive's reconnect_grace (its default)"
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=30.0, help="seconds to wait for recording.ready"
    )
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip nginx-rtmp with and without record all",
    )
    return run_bench(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
