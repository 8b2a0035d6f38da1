"""Abuse benchmark: hostile clients against a golive carrying 10 live streams.

golive runs as ``golive serve`` with its defaults (see ``--passthrough``) and 10 channels live:
one published by the Python pacer of latency.py (exact send time of every video frame) and
followed at the live edge with blocking playlist reloads, the other nine by
``ffmpeg -re -stream_loop -1 -c copy`` at nice 10. Throughout, a prober asks for ``/healthz``
every 50 ms on a keep-alive connection, and the server's process tree's RSS is sampled every
0.5 s. Then one phase after another, each ``--phase`` seconds long:

- ``baseline``: nothing hostile;
- ``rtmp-big-command``: 10 connections, each completes the handshake and sends a 16 MiB AMF0
  command made of null markers, reconnecting whenever the server closes it (issue item 1);
- ``rtmp-idle-slots``: 1,000 sockets opened from one address that never handshake (item 2);
- ``rtmp-never-read``: 10 connections that handshake, then send pings and unknown commands
  (10 MiB each) and never read a reply (item 3);
- ``sign-in-flood``: waves of 40 concurrent wrong passwords for one user and 25 concurrent
  sign-ups from one address (item 9);
- ``big-requests``: a 60 MB JSON body to ``/api/v1/channels`` without a token, a 1 MiB
  header and 100,000 headers, each by 4 clients in a loop (item 10).

Each attack runs in a child process at nice 10, as the publishers do, so that on a 2-core
machine the attacker's own CPU is not counted as the server's slowness. Reported per phase: ``/healthz`` latency (p50, p99, max, failures), the probe stream's part
availability (delay from the send of a part's last frame to its arrival at the follower:
p50, p95, n) and the growth of the server's RSS over its value at the end of the baseline.
Targets: ``/healthz`` p99 < 100 ms, parts p95 < 100 ms, RSS growth < 50 MB.

Usage: .venv/bin/python bench/abuse.py [--repeat 3] [--phase 15] [--passthrough] [--ref REF]
[--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import json
import re
import secrets
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    GoliveServer,
    Pacer,
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
    tree_rss,
    update_doc_section,
)
from ingest import start_publishers, stop_publishers
from latency import AUDIO_LEAD_MS, LlHlsFollower, first_video_ms, golive_availability

HOST = "127.0.0.1"
STREAMS = 10
MIB = 2**20
PHASES = (
    "baseline",
    "rtmp-big-command",
    "rtmp-idle-slots",
    "rtmp-never-read",
    "sign-in-flood",
    "big-requests",
)
TARGET_HEALTHZ_P99_MS = 100.0
TARGET_PART_P95_MS = 100.0
TARGET_RSS_MB = 50.0


# -- RTMP wire pieces (client side, just enough to attack) ---------------------------------------


def amf0_string(text: str) -> bytes:
    raw = text.encode()
    return b"\x02" + struct.pack(">H", len(raw)) + raw


def amf0_number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


def chunk_header(csid: int, length: int, type_id: int, stream_id: int = 0) -> bytes:
    """A type-0 chunk header (csid < 64) for a message of ``length`` bytes."""
    return (
        bytes([csid & 0x3F])
        + b"\x00\x00\x00"
        + length.to_bytes(3, "big")
        + bytes([type_id])
        + struct.pack("<I", stream_id)
    )


def set_chunk_size(size: int) -> bytes:
    return chunk_header(2, 4, 1) + struct.pack(">I", size)


def message(csid: int, type_id: int, payload: bytes, stream_id: int = 0) -> bytes:
    """One message in a single chunk (the caller has raised the chunk size first)."""
    return chunk_header(csid, len(payload), type_id, stream_id) + payload


async def rtmp_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    c1 = bytes(8) + secrets.token_bytes(1528)
    writer.write(b"\x03" + c1)
    await writer.drain()
    s0s1s2 = await reader.readexactly(1 + 1536 + 1536)
    writer.write(s0s1s2[1 : 1 + 1536])  # C2 echoes S1
    await writer.drain()


@dataclass
class AttackStats:
    connections: int = 0
    refused_or_closed: int = 0
    bytes_sent: int = 0
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def describe(self) -> str:
        parts = []
        if self.connections:
            parts.append(
                f"{self.connections} connections, {self.refused_or_closed} closed by server"
            )
        if self.bytes_sent:
            parts.append(f"{self.bytes_sent / MIB:.0f} MiB sent")
        if self.statuses:
            parts.append(", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())))
        return "; ".join(parts) or "-"


async def big_command_attacker(port: int, end: float, stats: AttackStats) -> None:
    """Handshake, then a 16 MiB AMF0 command of null markers; again whenever closed."""
    size = 16 * MIB - 1
    body_head = amf0_string("connect") + amf0_number(1)
    filler = b"\x05" * MIB
    while time.monotonic() < end:
        stats.connections += 1
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
            await asyncio.wait_for(rtmp_handshake(reader, writer), 5)
            writer.write(set_chunk_size(0x7FFFFFFF) + chunk_header(3, size, 20) + body_head)
            left = size - len(body_head)
            while left > 0 and time.monotonic() < end:
                piece = filler[: min(left, len(filler))]
                writer.write(piece)
                await asyncio.wait_for(writer.drain(), max(0.1, end - time.monotonic()))
                stats.bytes_sent += len(piece)
                left -= len(piece)
            # Wait for the server's verdict (a close) rather than hammering a new connection.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), max(0.1, min(5, end - time.monotonic())))
            stats.refused_or_closed += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            stats.refused_or_closed += 1
            await asyncio.sleep(0.05)
        finally:
            if writer is not None:
                writer.close()


async def idle_slots_attack(port: int, end: float, stats: AttackStats, count: int = 1000) -> None:
    """Open ``count`` sockets that never handshake; keep them (or see them closed) until the end."""
    socks: list[socket.socket] = []
    loop = asyncio.get_running_loop()
    try:
        for _ in range(count):
            if time.monotonic() >= end:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(s, (HOST, port)), 2)
            except (OSError, TimeoutError):
                stats.refused_or_closed += 1
                s.close()
                continue
            stats.connections += 1
            socks.append(s)
            await asyncio.sleep(0.002)
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        for s in socks:
            try:
                if s.recv(1) == b"":
                    stats.refused_or_closed += 1
            except BlockingIOError:
                pass
            except OSError:
                stats.refused_or_closed += 1
    finally:
        for s in socks:
            s.close()


async def never_read_attacker(port: int, end: float, stats: AttackStats) -> None:
    """Handshake, connect, then pings and unknown commands, never reading a reply."""
    stats.connections += 1
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await asyncio.wait_for(rtmp_handshake(reader, writer), 5)
        connect = amf0_string("connect") + amf0_number(1) + b"\x03" + b"\x00\x00\x09"
        unknown = amf0_string("whatIsThis") + amf0_number(2) + b"\x05"
        ping = message(2, 4, struct.pack(">HI", 6, 12345))  # user control: ping request
        batch = b"".join(message(3, 20, unknown) + ping for _ in range(64))
        writer.write(set_chunk_size(65536) + message(3, 20, connect))
        budget = 10 * MIB
        while budget > 0 and time.monotonic() < end:
            writer.write(batch)
            await asyncio.wait_for(writer.drain(), max(0.1, end - time.monotonic()))
            stats.bytes_sent += len(batch)
            budget -= len(batch)
            await asyncio.sleep(0)
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        writer.close()
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        stats.refused_or_closed += 1


async def csrf_for(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    return match[1] if match else ""


async def sign_in_flood(http: str, end: float, stats: AttackStats) -> None:
    """Waves of 40 concurrent wrong passwords for one user and 25 concurrent sign-ups."""
    victim = "abusevictim"
    async with httpx.AsyncClient(base_url=http, timeout=30) as setup:
        token = await csrf_for(setup, "/signup")
        await setup.post(
            "/signup", data={"username": victim, "password": "correct horse battery", "csrf": token}
        )

    async def wrong_password() -> None:
        async with httpx.AsyncClient(base_url=http, timeout=30) as c:
            try:
                token = await csrf_for(c, "/login")
                r = await c.post(
                    "/login", data={"username": victim, "password": "wrong guess", "csrf": token}
                )
                stats.count(f"sign-in {r.status_code}")
            except httpx.HTTPError:
                stats.count("sign-in error")
            stats.requests += 1

    async def sign_up(i: int) -> None:
        async with httpx.AsyncClient(base_url=http, timeout=30) as c:
            try:
                token = await csrf_for(c, "/signup")
                name = f"flood{i}{secrets.token_hex(3)}"
                r = await c.post(
                    "/signup",
                    data={"username": name, "password": "correct horse battery", "csrf": token},
                )
                stats.count(f"sign-up {r.status_code}")
            except httpx.HTTPError:
                stats.count("sign-up error")
            stats.requests += 1

    wave = 0
    while time.monotonic() < end:
        jobs: list[Awaitable[None]] = [wrong_password() for _ in range(40)]
        jobs += [sign_up(wave * 25 + i) for i in range(25)]
        await asyncio.gather(*jobs)
        wave += 1
        await asyncio.sleep(0.5)


async def raw_request(port: int, head: bytes, body_size: int, stats: AttackStats) -> None:
    """Send ``head`` then ``body_size`` bytes of JSON-ish filler; record the status line."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
        writer.write(head)
        filler = b"[" * MIB
        left = body_size
        while left > 0:
            piece = filler[: min(left, len(filler))]
            writer.write(piece)
            await asyncio.wait_for(writer.drain(), 10)
            stats.bytes_sent += len(piece)
            left -= len(piece)
        line = await asyncio.wait_for(reader.readline(), 15)
        parts = line.split()
        stats.count(parts[1].decode() if len(parts) > 1 else "closed")
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        stats.count("closed")
    finally:
        stats.requests += 1
        if writer is not None:
            writer.close()


async def big_requests(port: int, end: float, stats: AttackStats) -> None:
    big_body = 60 * 1000 * 1000
    body_head = (
        f"POST /api/v1/channels HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {big_body}\r\n\r\n"
    ).encode()
    big_header = (f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * MIB}\r\n\r\n").encode()
    many_headers = (
        f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n"
        + "".join(f"X-H{i}: v\r\n" for i in range(100_000))
        + "\r\n"
    ).encode()

    async def loop_one(head: bytes, body: int) -> None:
        while time.monotonic() < end:
            await raw_request(port, head, body, stats)

    await asyncio.gather(
        *[loop_one(body_head, big_body) for _ in range(4)],
        *[loop_one(big_header, 0) for _ in range(4)],
        *[loop_one(many_headers, 0) for _ in range(4)],
    )


# -- measurement ---------------------------------------------------------------------------------


@dataclass
class Probe:
    healthz: list[tuple[float, float | None]] = field(default_factory=list)  # (t, ms or None)
    rss: list[tuple[float, int]] = field(default_factory=list)


async def probe_healthz(http: str, stop: asyncio.Event, probe: Probe) -> None:
    async with httpx.AsyncClient(base_url=http, timeout=5) as client:
        while not stop.is_set():
            t = time.time()
            start = time.perf_counter()
            try:
                r = await client.get("/healthz")
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            probe.healthz.append((t, (time.perf_counter() - start) * 1000 if ok else None))
            await asyncio.sleep(0.05)


async def sample_rss(pid: int, stop: asyncio.Event, probe: Probe) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            probe.rss.append((time.time(), tree_rss(pid)))
        await asyncio.sleep(0.5)


@dataclass
class PhaseResult:
    name: str
    start: float
    end: float
    stats: AttackStats
    healthz_ms: list[float] = field(default_factory=list)
    healthz_failed: int = 0
    parts_ms: list[float] = field(default_factory=list)
    rss_growth_mb: float = float("nan")


def part_delays(
    follower: LlHlsFollower, pacer: Pacer, fv: int, start: float, end: float
) -> list[float]:
    """Availability of the parts that arrived within [start, end)."""
    window = copy.copy(follower)
    window.parts = {
        k: p
        for k, p in follower.parts.items()
        if p.arrival is not None and start <= p.arrival < end
    }
    window.segments = {}
    return golive_availability(window, pacer.log, fv).part_ms


def attacks(
    rtmp_port: int, http_port: int
) -> dict[str, Callable[[float, AttackStats], Awaitable[object]]]:
    http = f"http://{HOST}:{http_port}"
    return {
        "baseline": lambda end, st: asyncio.sleep(max(0.0, end - time.monotonic())),
        "rtmp-big-command": lambda end, st: asyncio.gather(
            *[big_command_attacker(rtmp_port, end, st) for _ in range(10)]
        ),
        "rtmp-idle-slots": lambda end, st: idle_slots_attack(rtmp_port, end, st),
        "rtmp-never-read": lambda end, st: asyncio.gather(
            *[never_read_attacker(rtmp_port, end, st) for _ in range(10)]
        ),
        "sign-in-flood": lambda end, st: sign_in_flood(http, end, st),
        "big-requests": lambda end, st: big_requests(http_port, end, st),
    }


async def attack_main(args: argparse.Namespace) -> int:
    """The attacker process: one phase's attack, its counters as JSON on stdout."""
    stats = AttackStats()
    end = time.monotonic() + args.seconds
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            attacks(args.rtmp_port, args.http_port)[args.attack](end, stats), args.seconds + 20
        )
    print(json.dumps(dataclasses.asdict(stats)))
    return 0


async def run_attacker(name: str, server: GoliveServer, seconds: float) -> AttackStats:
    """Runs one attack in a child process at nice 10, as the publishers run: on a 2-core
    machine the attacker's own CPU (a 60 MB upload loop) would otherwise be measured as the
    server's slowness."""
    proc = await asyncio.create_subprocess_exec(
        "nice",
        "-n",
        "10",
        sys.executable,
        str(Path(__file__).resolve()),
        "--attack",
        name,
        "--rtmp-port",
        str(server.rtmp_port),
        "--http-port",
        str(server.http_port),
        "--seconds",
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    try:
        return AttackStats(**json.loads(out.decode().strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError):
        log(f"attacker {name} exited with {proc.returncode} and no counters")
        return AttackStats()


async def main_async(args: argparse.Namespace) -> int:
    runs: list[list[PhaseResult]] = []
    for i in range(args.repeat):
        log(f"run {i + 1} of {args.repeat}")
        runs.append(await one_run(args))
    body = report(runs, args)
    print(body)
    if args.doc:
        update_doc_section("abuse", body)
    return 0 if all(passes(r) for run in runs for r in run) else 1


async def one_run(args: argparse.Namespace) -> list[PhaseResult]:
    source = ensure_input()
    tags = read_flv(source)
    fv = first_video_ms(tags)
    env = {"GOLIVE_LOG_LEVEL": "warning"}
    server = GoliveServer(STREAMS, env=env, passthrough=args.passthrough)
    results: list[PhaseResult] = []
    publishers = []
    try:
        server.start()
        pacer = Pacer(tags, server.rtmp_url(0), audio_lead_ms=AUDIO_LEAD_MS)
        total = args.warmup + args.phase * len(PHASES) + 20
        pacer_task = asyncio.create_task(pacer.run(total))
        publishers = start_publishers([server.rtmp_url(i) for i in range(1, STREAMS)], source, 3)
        stop = asyncio.Event()
        probe = Probe()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(server.playlist_url(0))).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            log(f"warming up {args.warmup} s with {STREAMS} live streams")
            await asyncio.sleep(args.warmup)
            follower = LlHlsFollower(client, server.playlist_url(0), poll_segments=False)
            run_end = time.time() + args.phase * len(PHASES) + 2
            follow = asyncio.create_task(follower.run(run_end))
            probes = [
                asyncio.create_task(probe_healthz(server.http, stop, probe)),
                asyncio.create_task(sample_rss(server.pid, stop, probe)),
            ]
            for name in PHASES:
                start = time.time()
                end_mono = time.monotonic() + args.phase
                log(f"phase {name} for {args.phase} s")
                stats = await run_attacker(name, server, args.phase)
                await asyncio.sleep(max(0.0, end_mono - time.monotonic()))
                results.append(PhaseResult(name, start, time.time(), stats))
            stop.set()
            await asyncio.gather(*probes)
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follow
        baseline_rss = next(
            (r for t, r in reversed(probe.rss) if t < results[0].end), probe.rss[0][1]
        )
        for res in results:
            window = [ms for t, ms in probe.healthz if res.start <= t < res.end]
            res.healthz_ms = [ms for ms in window if ms is not None]
            res.healthz_failed = sum(1 for ms in window if ms is None)
            res.parts_ms = part_delays(follower, pacer, fv, res.start, res.end)
            rss = [r for t, r in probe.rss if res.start <= t < res.end]
            res.rss_growth_mb = (max(rss) - baseline_rss) / 1e6 if rss else float("nan")
        pacer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pacer_task
    finally:
        stop_publishers(publishers)
        server.stop()
    return results


def passes(r: PhaseResult) -> bool:
    return (
        bool(r.healthz_ms)
        and r.healthz_failed == 0
        and percentile(r.healthz_ms, 99) < TARGET_HEALTHZ_P99_MS
        and bool(r.parts_ms)
        and percentile(r.parts_ms, 95) < TARGET_PART_P95_MS
        and r.rss_growth_mb < TARGET_RSS_MB
    )


def median_spread(values: list[float], digits: int = 0) -> str:
    """Median and range of one figure over the runs: ``12 (9-15)``."""
    known = sorted(v for v in values if v == v)
    if not known:
        return "n/a"
    med = percentile(known, 50)
    if len(known) == 1:
        return fmt(med, digits)
    return f"{fmt(med, digits)} ({fmt(known[0], digits)}-{fmt(known[-1], digits)})"


def report(runs: list[list[PhaseResult]], args: argparse.Namespace) -> str:
    rows = []
    for i, name in enumerate(PHASES):
        phase = [run[i] for run in runs]
        met = sum(passes(r) for r in phase)
        rows.append(
            [
                name,
                median_spread([percentile(r.healthz_ms, 50) for r in phase], 1),
                median_spread([percentile(r.healthz_ms, 99) for r in phase], 1),
                median_spread([max(r.healthz_ms, default=float("nan")) for r in phase], 1),
                str(sum(r.healthz_failed for r in phase)),
                median_spread([percentile(r.parts_ms, 95) for r in phase]),
                str(sum(len(r.parts_ms) for r in phase)),
                median_spread([r.rss_growth_mb for r in phase], 1),
                phase[-1].stats.describe(),
                f"{met} of {len(phase)}" if met == len(phase) else f"**{met} of {len(phase)}**",
            ]
        )
    ladder = (
        "a passthrough ladder (`--passthrough`: source + audio, no transcoding)"
        if args.passthrough
        else "its defaults"
    )
    return "\n\n".join(
        [
            "## Abuse: hostile clients against 10 live streams",
            f"Command: `{command_line()}`; golive with {ladder}; {args.phase} s per phase after a "
            f"{args.warmup} s warm-up; {args.repeat} runs, each figure the median (and range) "
            "over the runs, the attack counters those of the last run. "
            f"Targets: `/healthz` p99 < {TARGET_HEALTHZ_P99_MS:.0f} ms, "
            f"parts p95 < {TARGET_PART_P95_MS:.0f} ms, RSS growth < {TARGET_RSS_MB:.0f} MB "
            "(over the RSS at the end of the baseline).",
            machine_info(),
            md_table(
                [
                    "phase",
                    "/healthz p50 ms",
                    "p99",
                    "max",
                    "failed",
                    "parts p95 ms",
                    "parts",
                    "RSS growth MB",
                    "attack (last run)",
                    "targets met",
                ],
                rows,
            ),
        ]
    )


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--phase", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--repeat", type=int, default=3, help="runs (median and range reported)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument(
        "--passthrough", action="store_true", help="no transcoding (say so beside the table)"
    )
    parser.add_argument("--attack", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--rtmp-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        return asyncio.run(attack_main(args))
    return run_bench(main_async, args)


if __name__ == "__main__":
    sys.exit(main())
