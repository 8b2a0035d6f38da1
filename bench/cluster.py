"""Cluster benchmarks: edge cache (parts 1, 2), chat over two nodes (3), --workers 2 (4).

One subcommand per part: ``edge`` (below), ``chat`` (bench/cluster_chat.py) and ``workers``
(bench/cluster_workers.py).

``edge``: golive's LL-HLS behind the Varnish edge (deploy/edge/varnish/golive.vcl).
One ``golive serve`` origin (passthrough ladder, defaults otherwise, loopback ports), one
real-time ffmpeg publisher (360p30, 1 s GOP), a fresh varnishd per audience size, and N
simulated LL-HLS players on the edge doing what hls.js does at the live edge: a blocking
playlist reload for the preload-hinted part (``_HLS_msn``/``_HLS_part``) and, alongside it,
a GET of that part; then again with the new playlist's hint. The players run in a few
separate processes (raw HTTP/1.1 on keep-alive connections, two per player as in a browser:
httpx costs too much CPU per request to drive 1,000 players on two cores).

(1) Origin requests per part: the edge's backend requests for the measured parts' URLs, read
    from Varnish's shared-memory log (``BereqURL``), divided by the number of parts.
(2) Part delay added by the edge: a probe asks each part of the origin directly and through
    the edge at the same moment (both before the part exists); delay = arrival through the
    edge - arrival direct. Also over every player's arrival of every part (which includes the
    players' own scheduling on a saturated machine). All clocks are CLOCK_MONOTONIC, shared by
    the processes.

(3) ``chat``: one chat room over two golive nodes joined through Redis (clients and senders
    spread over both), against the same clients on one node without Redis.
(4) ``workers``: ``golive serve --workers 2`` (with Redis) against one process: CPU per
    stream and streams that keep up, at K passthrough publishers.

Usage: .venv/bin/python bench/cluster.py edge [--players 1,100,1000] [--seconds 20]
       .venv/bin/python bench/cluster.py chat [--clients 10000] [--rate 100] [--runs 3]
       .venv/bin/python bench/cluster.py workers [--levels 10,30,60] [--headline 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from tests.support.varnish_server import VarnishEdge, running_varnish, varnish_binaries

from cluster_chat import chat_report, chat_run
from cluster_workers import workers_main, workers_report
from common import (
    HOST,
    REPO,
    GoliveServer,
    command_line,
    ensure_input,
    ffmpeg_exe,
    fmt,
    free_port,
    log,
    machine_info,
    md_table,
    percentile,
    spread,
    stop_process,
    update_doc_section,
    use_tree,
    wait_port,
)

NGINX_EDGE_CONF = REPO / "deploy" / "edge" / "nginx" / "golive-edge.conf"
PLAYERS_PER_PROCESS = 250
BURST_ROUNDS = 5
WARMUP_S = 3.0
_HINT = re.compile(rb'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]*?(\d+)\.(\d+)\.m4s)"')
_PART_URL = re.compile(r"/(\d+)\.(\d+)\.m4s$")
_BLOCKING_URL = re.compile(r"\?_HLS_msn=(\d+)&_HLS_part=(\d+)(?:&_HLS_skip=YES)?$")

PartId = tuple[int, int]


# -- a lean HTTP/1.1 client ----------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time (as a browser's)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                return await self._get(path)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                HOST, self.port, limit=1 << 20
            )
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(f"GET {path} HTTP/1.1\r\nHost: edge\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(data[:-2])
            return status, b"".join(chunks)
        return status, await reader.readexactly(length or 0)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass(frozen=True, slots=True)
class Hint:
    part_path: str
    blocking_path: str
    part: PartId


def preload_hint(playlist_path: str, body: bytes) -> Hint:
    match = _HINT.search(body)
    if match is None:
        raise ValueError("no preload hint")
    base = playlist_path.rsplit("/", 1)[0]
    msn, part = int(match[2]), int(match[3])
    # hls.js asks for a delta update whenever the playlist offers one.
    skip = "&_HLS_skip=YES" if b"CAN-SKIP-UNTIL=" in body else ""
    return Hint(
        f"{base}/{match[1].decode()}",
        f"{playlist_path}?_HLS_msn={msn}&_HLS_part={part}{skip}",
        (msn, part),
    )


# -- players (run in child processes) ------------------------------------------------------------


@dataclass
class PlayerLog:
    arrivals: dict[PartId, list[float]] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0


async def timed_get(conn: Connection, path: str) -> tuple[float, int]:
    """When the answer to ``path`` was complete (monotonic), and its status."""
    status, _ = await conn.get(path)
    return time.monotonic(), status


async def play(port: int, playlist: str, start: float, until: float, record: PlayerLog) -> None:
    """One LL-HLS player at the live edge until ``until`` (monotonic); what it gets from
    ``start`` on is recorded."""
    playlists, parts = Connection(port), Connection(port)
    try:
        await asyncio.sleep(random.random())  # players do not all start in the same instant
        status, body = await playlists.get(playlist)
        while status != 200 and time.monotonic() < until:
            await asyncio.sleep(0.2)
            status, body = await playlists.get(playlist)
        hint = preload_hint(playlist, body)
        while time.monotonic() < until:
            part = asyncio.create_task(timed_get(parts, hint.part_path))
            status, body = await playlists.get(hint.blocking_path)
            arrived, part_status = await part
            if arrived >= start:
                record.requests += 2
                if part_status == 200:
                    record.arrivals.setdefault(hint.part, []).append(arrived)
                else:
                    record.errors += 1
            if status != 200:
                record.errors += 1
                await asyncio.sleep(0.1)
                status, body = await playlists.get(playlist)
            hint = preload_hint(playlist, body)
    except (OSError, ValueError, asyncio.IncompleteReadError):
        record.errors += 1
    finally:
        playlists.close()
        parts.close()


async def players_main(args: argparse.Namespace) -> int:
    record = PlayerLog()
    await asyncio.gather(
        *(play(args.port, args.playlist, args.start, args.until, record) for _ in range(args.count))
    )
    json.dump(
        {
            "arrivals": [[m, p, times] for (m, p), times in record.arrivals.items()],
            "requests": record.requests,
            "errors": record.errors,
        },
        sys.stdout,
    )
    return 0


# -- the edge benchmark --------------------------------------------------------------------------


@dataclass
class EdgeRun:
    players: int
    processes: int
    parts: int
    edge_requests_per_part: float
    origin_playlists_per_part: float
    origin_parts_per_part: float
    probe_part_ms: list[float]
    probe_playlist_ms: list[float]
    player_part_ms: list[float]
    burst_ms: list[float]
    delivery_ms: list[float]  # Varnish only
    errors: int


async def probe(
    origin_port: int, edge_port: int, playlist: str, start: float, until: float
) -> tuple[dict[PartId, float], list[float], list[float]]:
    """Each part asked directly and through the edge at once: direct arrival per part, and the
    edge's added delay (ms) for the part and for the blocking playlist."""
    direct_pl, direct_part = Connection(origin_port), Connection(origin_port)
    edge_pl, edge_part = Connection(edge_port), Connection(edge_port)
    direct_at: dict[PartId, float] = {}
    part_ms: list[float] = []
    playlist_ms: list[float] = []

    async def timed(conn: Connection, path: str) -> tuple[float, int, bytes]:
        status, body = await conn.get(path)
        return time.monotonic(), status, body

    try:
        _, body = await direct_pl.get(playlist)
        hint = preload_hint(playlist, body)
        while time.monotonic() < until:
            answers = await asyncio.gather(
                timed(direct_part, hint.part_path),
                timed(direct_pl, hint.blocking_path),
                timed(edge_part, hint.part_path),
                timed(edge_pl, hint.blocking_path),
            )
            (d_part, s1, _), (d_pl, s2, body), (e_part, s3, _), (e_pl, s4, _) = answers
            if (s1, s2, s3, s4) != (200, 200, 200, 200):
                log(f"probe: {hint.part} answered {(s1, s2, s3, s4)}")
                _, body = await direct_pl.get(playlist)
            elif d_part >= start:
                direct_at[hint.part] = d_part
                part_ms.append((e_part - d_part) * 1000)
                playlist_ms.append((e_pl - d_pl) * 1000)
            hint = preload_hint(playlist, body)
    finally:
        for conn in (direct_pl, direct_part, edge_pl, edge_part):
            conn.close()
    return direct_at, part_ms, playlist_ms


async def burst(
    n: int, origin_port: int, edge_port: int, playlist: str, rounds: int
) -> tuple[list[float], list[str]]:
    """``n`` requests parked at the edge on the next part, ``rounds`` times: each one's arrival
    minus the direct request's (ms). Isolates the waking of a crowd of coalesced requests from
    the players' own pace (one process; its reading of ``n`` answers is included)."""
    direct = Connection(origin_port)
    crowd = [Connection(edge_port) for _ in range(n)]
    delays: list[float] = []
    paths: list[str] = []

    async def timed(conn: Connection, path: str) -> float:
        await conn.get(path)
        return time.monotonic()

    try:
        await asyncio.gather(*(conn.get(playlist) for conn in crowd))  # connected, warm
        for _ in range(rounds):
            _, body = await direct.get(playlist)
            hint = preload_hint(playlist, body)
            paths.append(hint.part_path)
            edge = [asyncio.create_task(timed(conn, hint.part_path)) for conn in crowd]
            direct_at = await timed(direct, hint.part_path)
            delays += [(at - direct_at) * 1000 for at in await asyncio.gather(*edge)]
    finally:
        for conn in (direct, *crowd):
            conn.close()
    return delays, paths


async def varnish_delivery_ms(edge: Any, paths: Sequence[str]) -> list[float]:
    """From Varnish's own log: for each client request of ``paths``, when Varnish had written
    its answer minus when the origin's answer reached it (ms). The edge's side of the
    coalescing alone, without the clients' pace."""
    proc = await asyncio.create_subprocess_exec(
        edge.varnishlog,
        "-n",
        str(edge.workdir),
        "-d",
        "-g",
        "raw",
        "-i",
        "ReqURL,BereqURL,Timestamp",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    wanted = set(paths)
    url_of: dict[str, str] = {}
    resp_at: dict[str, float] = {}
    beresp_at: dict[str, float] = {}
    for line in out.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        vxid, tag = fields[0], fields[1]
        if tag in ("ReqURL", "BereqURL"):
            url_of[vxid] = fields[3]
        elif tag == "Timestamp" and url_of.get(vxid) in wanted:
            if fields[3] == "Resp:" and fields[2] == "c":
                resp_at[vxid] = float(fields[4])
            elif fields[3] == "Beresp:" and fields[2] == "b":
                beresp_at[url_of[vxid]] = float(fields[4])
    return [
        (at - beresp_at[url_of[vxid]]) * 1000
        for vxid, at in resp_at.items()
        if url_of[vxid] in beresp_at
    ]


NGINX_MAIN = """\
{user}
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
    log_format to_origin '$upstream_cache_status $request_uri';
    map $upstream_addr $went_to_origin {{ "" 0; default 1; }}
    access_log {prefix}/origin.log to_origin if=$went_to_origin;
    include {prefix}/golive-edge.conf;
}}
"""


@dataclass
class NginxEdge:
    port: int
    prefix: Path

    async def backend_urls(self) -> list[str]:
        await asyncio.sleep(0.2)
        log_path = self.prefix / "origin.log"
        lines = log_path.read_text().splitlines() if log_path.exists() else []
        return [line.split(" ", 1)[1] for line in lines if " " in line]


@contextlib.asynccontextmanager
async def running_nginx(
    origin_port: int, folder: Path, *, lock: bool = True
) -> AsyncIterator[NginxEdge]:
    """nginx with deploy/edge/nginx/golive-edge.conf in front of the origin (``lock=False``:
    with proxy_cache_lock off, for comparison); the requests that went to the origin are
    logged (to count them)."""
    prefix = folder.resolve()
    prefix.mkdir(parents=True)
    port = free_port()
    conf = NGINX_EDGE_CONF.read_text()
    conf = conf.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{origin_port};")
    conf = conf.replace("listen 8081;", f"listen {HOST}:{port};")
    conf = conf.replace("/var/cache/nginx/golive", str(prefix / "cache"))
    if not lock:
        conf = conf.replace("proxy_cache_lock on;", "proxy_cache_lock off;")
    (prefix / "golive-edge.conf").write_text(conf)
    main_conf = prefix / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    main_conf.write_text(NGINX_MAIN.format(user=user, prefix=prefix))
    proc = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(main_conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_port(port, 10, proc)
        yield NginxEdge(port, prefix)
    finally:
        stop_process(proc)


def running_edge(kind: str, origin_port: int, folder: Path) -> Any:
    if kind.startswith("nginx"):
        return running_nginx(origin_port, folder, lock=kind == "nginx")
    return running_varnish(origin_port, folder)


async def run_players(
    n: int, origin_port: int, playlist: str, seconds: float, tmp: Path, kind: str
) -> EdgeRun:
    processes = max(1, math.ceil(n / PLAYERS_PER_PROCESS))
    start = time.monotonic() + WARMUP_S
    until = start + seconds
    counts = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    async with running_edge(kind, origin_port, tmp / f"{kind}-{n}") as edge:
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "players",
                "--port",
                str(edge.port),
                "--playlist",
                playlist,
                "--count",
                str(count),
                "--start",
                repr(start),
                "--until",
                repr(until),
                stdout=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            for count in counts
        ]
        direct_at, probe_part_ms, probe_playlist_ms = await probe(
            origin_port, edge.port, playlist, start, until
        )
        outputs = [await child.communicate() for child in children]
        backend = await edge.backend_urls()
        burst_ms, burst_paths = await burst(n, origin_port, edge.port, playlist, BURST_ROUNDS)
        delivery_ms = (
            await varnish_delivery_ms(edge, burst_paths) if isinstance(edge, VarnishEdge) else []
        )

    measured = set(direct_at)
    player_part_ms: list[float] = []
    requests = errors = 0
    for out, _ in outputs:
        result = json.loads(out)
        requests += result["requests"]
        errors += result["errors"]
        for msn, part, times in result["arrivals"]:
            at = direct_at.get((msn, part))
            if at is not None:
                player_part_ms += [(t - at) * 1000 for t in times]
    origin_playlists = origin_parts = 0
    for url in backend:
        if (m := _BLOCKING_URL.search(url)) and (int(m[1]), int(m[2])) in measured:
            origin_playlists += 1
        elif (m := _PART_URL.search(url)) and (int(m[1]), int(m[2])) in measured:
            origin_parts += 1
    parts = max(1, len(measured))
    return EdgeRun(
        players=n,
        processes=processes,
        parts=len(measured),
        edge_requests_per_part=requests / parts,
        origin_playlists_per_part=origin_playlists / parts,
        origin_parts_per_part=origin_parts / parts,
        probe_part_ms=probe_part_ms,
        probe_playlist_ms=probe_playlist_ms,
        player_part_ms=player_part_ms,
        burst_ms=burst_ms,
        delivery_ms=delivery_ms,
        errors=errors,
    )


def publisher_command(url: str, seconds: float) -> list[str]:
    """A real-time 360p30 test pattern with a 1 s GOP, no B-frames, and a tone."""
    return [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "30",
        "-keyint_min",
        "30",
        "-sc_threshold",
        "0",
        "-bf",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-f",
        "flv",
        url,
    ]


def ms_cell(values: Sequence[float], q: float) -> str:
    return fmt(percentile(values, q), 1)


def edge_table(runs: Sequence[EdgeRun], repeat: Sequence[int] | None = None) -> str:
    """One row per run; ``repeat``: each row's repetition number (a first column)."""
    header = [
        "players",
        "player processes",
        "parts measured",
        "edge requests / part",
        "origin requests / part (playlist + part)",
        "probe: part delay p50 / p95 (ms)",
        "probe: playlist delay p50 / p95 (ms)",
        "all players: part delay p50 / p95 (ms)",
        "N parked at once: part delay p50 / p95 / max (ms)",
        "N parked, Varnish's log: answer written after origin's p50 / p95 / max (ms)",
        "player errors",
    ]
    rows = [
        [
            str(r.players),
            str(r.processes),
            str(r.parts),
            fmt(r.edge_requests_per_part, 0),
            f"{r.origin_playlists_per_part + r.origin_parts_per_part:.2f} "
            f"({r.origin_playlists_per_part:.2f} + {r.origin_parts_per_part:.2f})",
            f"{ms_cell(r.probe_part_ms, 50)} / {ms_cell(r.probe_part_ms, 95)}",
            f"{ms_cell(r.probe_playlist_ms, 50)} / {ms_cell(r.probe_playlist_ms, 95)}",
            f"{ms_cell(r.player_part_ms, 50)} / {ms_cell(r.player_part_ms, 95)}",
            f"{ms_cell(r.burst_ms, 50)} / {ms_cell(r.burst_ms, 95)} / {ms_cell(r.burst_ms, 100)}",
            f"{ms_cell(r.delivery_ms, 50)} / {ms_cell(r.delivery_ms, 95)} / "
            f"{ms_cell(r.delivery_ms, 100)} (n={len(r.delivery_ms)})",
            str(r.errors),
        ]
        for r in runs
    ]
    if repeat is not None:
        header = ["run", *header]
        rows = [[str(k), *row] for k, row in zip(repeat, rows, strict=True)]
    return md_table(header, rows)


def edge_summary(runs: Sequence[EdgeRun]) -> str:
    """Per audience size over the repetitions: the headline figures' median and spread."""
    header = [
        "players",
        "runs",
        "origin requests / part",
        "probe: part delay p50 (ms)",
        "probe: part delay p95 (ms)",
        "N parked at once: part delay p95 (ms)",
        "N parked, Varnish's log: p95 (ms)",
        "player errors (sum)",
    ]
    rows = []
    for n in dict.fromkeys(r.players for r in runs):
        of = [r for r in runs if r.players == n]
        rows.append(
            [
                str(n),
                str(len(of)),
                spread([r.origin_playlists_per_part + r.origin_parts_per_part for r in of], 2),
                spread([percentile(r.probe_part_ms, 50) for r in of], 1),
                spread([percentile(r.probe_part_ms, 95) for r in of], 1),
                spread([percentile(r.burst_ms, 95) for r in of], 1),
                spread([percentile(r.delivery_ms, 95) for r in of], 1),
                str(sum(r.errors for r in of)),
            ]
        )
    return md_table(header, rows)


async def edge_main(args: argparse.Namespace) -> int:
    if args.edge == "varnish" and varnish_binaries() is None:
        log("varnishd is not installed (apt-get install varnish)")
        return 2
    sizes = [int(x) for x in args.players.split(",")]
    total = args.runs * len(sizes) * (args.seconds + WARMUP_S + 15) + 30
    tmp = Path(tempfile.mkdtemp(prefix="golive-edge-bench-"))
    runs: list[EdgeRun] = []
    repeats: list[int] = []
    with GoliveServer(1) as server:
        publisher = subprocess.Popen(
            publisher_command(server.rtmp_url(0), total),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            playlist = server.playlist_url(0).removeprefix(server.http)
            conn = Connection(server.http_port)
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError, ValueError, asyncio.IncompleteReadError):
                    status, body = await conn.get(playlist)
                    if status == 200 and _HINT.search(body):
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("the stream never started")
                await asyncio.sleep(0.2)
            conn.close()
            for k in range(1, args.runs + 1):
                for n in sizes:
                    log(f"edge: run {k}/{args.runs}, {n} players for {args.seconds} s")
                    run = await run_players(
                        n, server.http_port, playlist, args.seconds, tmp, args.edge
                    )
                    runs.append(run)
                    repeats.append(k)
                    log(edge_table([run]).splitlines()[-1])
        finally:
            publisher.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                publisher.wait(10)
            if publisher.poll() is None:
                publisher.kill()
    table = edge_table(runs, repeats)
    summary = edge_summary(runs)
    print(table)
    print(summary)
    if args.doc:
        update_doc_section(
            f"edge-{args.edge}",
            f"## Edge cache ({args.edge}) in front of LL-HLS\n\n"
            f"Command: `{command_line()}`\n\n{machine_info()}\n\n{table}\n\n"
            f"Over the runs, median (min-max):\n\n{summary}\n\n"
            "Targets: origin requests per part constant, about one per edge per part (here 2: "
            "the blocking playlist reload and the part it announces); part delay added by the "
            "edge p95 < 100 ms. Parts are 0.2 s (golive's default). One change from golive's "
            "defaults: the channel's ladder is passthrough (source and audio, no transcoding), "
            "as this measures HTTP delivery, not encoding. docs/edge-cache.md explains the "
            "columns.",
        )
    return 0


async def chat_main(args: argparse.Namespace) -> int:
    t_start = time.time()
    runs = []
    for i in range(args.runs):
        log(f"chat: run {i + 1} of {args.runs}, {args.clients} clients, {args.rate:.0f} msg/s")
        runs.append(await chat_run(args.clients, args.rate, args.seconds, args.client_procs))
    body = chat_report(runs, args.rate, args.seconds)
    print(body)
    if args.doc:
        update_doc_section(
            "cluster-chat",
            f"## Chat across two nodes (`bench/cluster.py chat`)\n\n"
            f"Command: `{command_line()}` (took {(time.time() - t_start) / 60:.1f} min)\n\n"
            f"{machine_info()}\n\n"
            "Cluster: a redis-server and two `golive serve` nodes, each with its defaults "
            "but for the cluster settings: `redis_url` (the same), `node_id` (distinct), "
            "`workers = 1`, and node B's `database_url` naming node A's SQLite file (one "
            "database). Clients alternate between the nodes, and so do the 100 signed-in "
            "senders (message k goes to node k mod 2), so half of each client's messages "
            "cross nodes through the channel's Redis Stream. Baseline, in the same run just "
            "before: bench/chat.py's trial, the same clients on one node without Redis. "
            f"{args.client_procs} client processes on the same 2-core machine; every 20th "
            "client of each node decodes every frame. Per run: "
            f"{args.seconds:.0f} s of sending once every client is connected. Latency: "
            "receive time minus the send time written in the message; same node / cross "
            "node: whether the message was sent to the client's node. Lost: every message "
            "a sender had acknowledged in the window must reach every sampled client "
            "(cluster: counted by message number; baseline: chat.py's received share, "
            "approximate). CPU: user + system over the window, in cores.\n\n" + body,
        )
    return 0


async def workers_cmd(args: argparse.Namespace) -> int:
    t_start = time.time()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    runs = await workers_main(
        levels, args.headline, args.repeat, ensure_input(), args.warmup, args.hold, args.fanout
    )
    body = workers_report(runs)
    print(body)
    if args.doc:
        update_doc_section(
            "cluster-workers",
            f"## `--workers 2` against one process (`bench/cluster.py workers`)\n\n"
            f"Command: `{command_line()}` (took {(time.time() - t_start) / 60:.1f} min)\n\n"
            f"{machine_info()}\n\n"
            "One process: `golive serve` with its defaults (no Redis). Workers: the same "
            "with a real redis-server, `redis_url` set and `workers = 2` (the minimum "
            "change). Both with bench/ingest.py's two lifted defaults (the passthrough "
            "ladder; the per-address RTMP cap, as every publisher connects from 127.0.0.1). "
            "K publishers of the 720p30 3 Mbps input, `ffmpeg -re -stream_loop -1 -c copy`, "
            f"{args.fanout} outputs per ffmpeg process, nice 10; fresh servers per row, one "
            f"process and workers back to back. {args.warmup:.0f} s warm-up, then "
            f"{args.hold:.0f} s held. CPU: the golive process tree (the parent and its "
            "workers), user + system; idle: the same over 3 s before any publisher. Kept "
            "up: every stream's playlist read every 2 s; the segments it gained over the "
            "hold add up to at least the hold minus 4 s. "
            "Streams per worker: the `holder` of each `golive:lease:*` key after the "
            f"warm-up. K={args.headline} is repeated {args.repeat} times.\n\n" + body,
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    edge = commands.add_parser("edge", help="LL-HLS behind the Varnish edge")
    edge.add_argument("--players", default="1,100,1000", help="audience sizes, comma-separated")
    edge.add_argument(
        "--edge",
        choices=("varnish", "nginx", "nginx-nolock"),
        default="varnish",
        help="the edge: deploy/edge/varnish/golive.vcl or deploy/edge/nginx/golive-edge.conf "
        "(nginx-nolock: the same with proxy_cache_lock off)",
    )
    edge.add_argument("--seconds", type=float, default=20.0, help="measured time per size")
    edge.add_argument("--runs", type=int, default=3, help="repetitions of every size")
    edge.add_argument("--no-doc", dest="doc", action="store_false", help="do not touch docs/")
    edge.add_argument("--ref", help="run golive from this commit instead of the working tree")
    chat = commands.add_parser("chat", help="one chat room over two nodes joined by Redis")
    chat.add_argument("--clients", type=int, default=10_000, help="clients over both nodes")
    chat.add_argument("--rate", type=float, default=100.0, help="messages per second")
    chat.add_argument("--runs", type=int, default=3, help="repetitions (median and spread)")
    chat.add_argument("--seconds", type=float, default=20.0, help="sending time per run")
    chat.add_argument("--client-procs", type=int, default=2, help="client processes")
    workers = commands.add_parser("workers", help="--workers 2 against one process")
    workers.add_argument("--levels", default="10,30,60", help="K publishers, comma-separated")
    workers.add_argument("--headline", type=int, default=30, help="the K repeated --repeat times")
    workers.add_argument("--repeat", type=int, default=3)
    workers.add_argument("--warmup", type=float, default=10.0, help="seconds before the hold")
    workers.add_argument("--hold", type=float, default=30.0, help="measured seconds per row")
    workers.add_argument("--fanout", type=int, default=10, help="RTMP outputs per ffmpeg")
    for sub in (chat, workers):
        sub.add_argument("--no-doc", dest="doc", action="store_false", help="do not touch docs/")
        sub.add_argument("--ref", help="run golive from this commit instead of the working tree")
    players = commands.add_parser("players", help=argparse.SUPPRESS)
    players.add_argument("--port", type=int, required=True)
    players.add_argument("--playlist", required=True)
    players.add_argument("--count", type=int, required=True)
    players.add_argument("--start", type=float, required=True)
    players.add_argument("--until", type=float, required=True)
    args = parser.parse_args()
    if args.command == "players":
        return asyncio.run(players_main(args))
    tree = use_tree(args.ref)
    try:
        run = {"edge": edge_main, "chat": chat_main, "workers": workers_cmd}[args.command]
        return asyncio.run(run(args))
    finally:
        tree.cleanup()


if __name__ == "__main__":
    sys.exit(main())
