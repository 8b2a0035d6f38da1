"""Delivery benchmark: how many LL-HLS players one golive origin process serves with no late part.

One live stream (the 720p30 bench input, ``ffmpeg -re -stream_loop -1 -c copy``) is published
to golive. A probe in this process follows it with blocking playlist reloads and records, for
every part, when it first saw it ("the part's publication"). Load generator processes (``-m
worker``, ``--procs`` of them, uvloop + httptools, one HTTP/1.1 keep-alive connection per
player) then simulate N players of the source rendition; each loops:

1. ``GET index.m3u8?_HLS_msn=M&_HLS_part=P&_HLS_skip=YES`` for the preload hint (M, P) of
   the playlist it last received (a blocking reload), and records when the answer arrived;
2. ``GET`` the newest ``EXT-X-PART`` of that playlist (the new part), then back to 1.

A part's delay for one player is its receipt of the first playlist listing the part minus the
earliest time anyone (probe or player) saw it. A part is late if any player got it more than
100 ms after that, or not at all before the end of the run. N is ramped; the largest N with no
late part is the result.

Baseline: nginx (one worker) serving the same files from tmpfs: the probe writes each playlist
it receives (the same delta playlist the players get) and its new part into a tmpfs directory
(write + rename), then tells the load generators over a pipe. nginx has no blocking reload, so
its players do the equivalent: at that notification each fetches the playlist file, records
the receipt, then fetches the part, as golive's players do after a blocking answer.

Both cores (``--servers golive2``, ``edge``): ``golive2`` runs two golive processes, each with
its own copy of the stream, and splits the players between them: the upper bound of several
origin workers each holding a replica of the live window (what the replica costs, one copy of
each part per worker, is left out). ``edge`` puts nginx (2 workers, proxy_cache with
proxy_cache_lock) in front of one golive, the players asking nginx.

The golive origin runs with its defaults except the transcode ladder (``--ladder passthrough``,
the default here): the default ladder starts an encoder (~1 core) whose CPU would compete with
the origin and the load generators on this 2-core machine; delivery of the source rendition
is the same either way. ``--ladder default`` runs golive's default ladder.

Usage: .venv/bin/python bench/delivery.py [--players 250,500,1000,2000] [--seconds 20]
       [--procs 2] [--servers golive,nginx,golive2,edge] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    RESULTS,
    GoliveServer,
    bench_parser,
    command_line,
    ensure_input,
    fmt,
    free_port,
    log,
    machine_info,
    md_table,
    percentile,
    run_bench,
    stop_process,
    wait_port,
)
from ingest import start_publishers, stop_publishers

LATE_S = 0.100
_HINT = re.compile(rb'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]*?)(\d+)\.(\d+)\.m4s"')
_PART = re.compile(rb'#EXT-X-PART:[^\n]*URI="([^"]*?(\d+)\.(\d+)\.m4s)"')


def parse_playlist(body: bytes) -> tuple[tuple[int, int, bytes] | None, tuple[int, int] | None]:
    """(newest part's msn, index, URI) and the preload hint's (msn, index)."""
    newest = None
    for m in _PART.finditer(body):
        newest = m
    hint = _HINT.search(body)
    part = None if newest is None else (int(newest[2]), int(newest[3]), newest[1])
    return part, (None if hint is None else (int(hint[2]), int(hint[3])))


# -- the load generator (a separate process) ------------------------------------------------------


class Player:
    """One player on one keep-alive connection, driven by httptools' response parser."""

    def __init__(self, gen: LoadGen) -> None:
        import httptools

        self.gen = gen
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.body = bytearray()
        self.state = "idle"  # playlist | part | idle
        self.hint: tuple[int, int] | None = None
        self.pending: tuple[int, int, bytes, bytes] | None = None  # nginx: a notification
        self.key: tuple[int, int] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.gen.errors += 0 if self.gen.stopping else 1

    def eof_received(self) -> None:
        return None

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        now = time.monotonic()
        gen = self.gen
        status = self.parser.get_status_code()
        body, self.body = bytes(self.body), bytearray()
        if now >= gen.measure_from:
            gen.requests += 1
        if status != 200:
            gen.errors += 1
        state, self.state = self.state, "idle"
        if gen.stopping:
            return
        if state == "playlist":
            part, hint = parse_playlist(body)
            if gen.nginx:
                key, uri = self.key, (self.pending_part or b"")
            elif part is None:
                key, uri = None, b""
            else:
                key, uri = (part[0], part[1]), gen.media_prefix + part[2]
            self.hint = hint
            if key is not None and now >= gen.measure_from:
                gen.receipts.setdefault(key, []).append(now)
            if uri:
                self.get(uri, "part")
            else:
                self.next_playlist()
        elif state == "part":
            self.next_playlist()

    # requests
    def get(self, path: bytes, state: str) -> None:
        if self.transport is None:
            return
        self.state = state
        self.transport.write(b"GET " + path + b" HTTP/1.1\r\nHost: bench\r\n\r\n")

    def next_playlist(self) -> None:
        gen = self.gen
        if gen.nginx:
            if self.pending is not None:
                self.fetch_notified()
            return
        if self.hint is None:
            self.get(gen.playlist, "playlist")
        else:
            msn, part = self.hint
            query = f"?_HLS_msn={msn}&_HLS_part={part}&_HLS_skip=YES".encode()
            self.get(gen.playlist + query, "playlist")

    pending_part: bytes | None = None

    def notify(self, msn: int, part: int, playlist: bytes, part_uri: bytes) -> None:
        self.pending = (msn, part, playlist, part_uri)
        if self.state == "idle":
            self.fetch_notified()

    def fetch_notified(self) -> None:
        assert self.pending is not None
        msn, part, playlist, part_uri = self.pending
        self.pending = None
        self.key = (msn, part)
        self.pending_part = part_uri
        self.get(playlist, "playlist")


@dataclass
class LoadGen:
    playlist: bytes
    media_prefix: bytes
    nginx: bool
    measure_from: float
    requests: int = 0
    errors: int = 0
    stopping: bool = False
    receipts: dict[tuple[int, int], list[float]] = field(default_factory=dict)


async def worker_main(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    gen = LoadGen(
        playlist=spec["playlist"].encode(),
        media_prefix=spec["media_prefix"].encode(),
        nginx=spec["nginx"],
        measure_from=spec["measure_from"],
    )
    players: list[Player] = []
    for i in range(spec["players"]):
        player = Player(gen)
        await loop.create_connection(lambda p=player: p, HOST, spec["port"])  # type: ignore[misc]
        players.append(player)
        if not gen.nginx:
            player.next_playlist()
        if i % 50 == 49:
            await asyncio.sleep(0.01)  # spread the players' phases a little
    print(json.dumps({"ready": True}), flush=True)
    if gen.nginx:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

        async def follow() -> None:
            while line := await reader.readline():
                msn, part, playlist, part_uri = line.split()
                for p in players:
                    p.notify(int(msn), int(part), playlist, part_uri)

        follower = asyncio.create_task(follow())
    await asyncio.sleep(max(0.0, spec["until"] - time.monotonic()))
    gen.stopping = True
    if gen.nginx:
        follower.cancel()
    for p in players:
        if p.transport is not None:
            p.transport.close()
    cpu = psutil.Process().cpu_times()
    out = {
        "requests": gen.requests,
        "errors": gen.errors,
        "cpu": cpu.user + cpu.system,
        "receipts": [[m, p, times] for (m, p), times in gen.receipts.items()],
    }
    print(json.dumps(out), flush=True)


def worker_entry(spec_json: str) -> None:
    import uvloop

    uvloop.run(worker_main(json.loads(spec_json)))


# -- the probe (publication times) and the tmpfs mirror for nginx ----------------------------------


class Probe:
    """Follows golive's source playlist with blocking reloads; the first sighting of each part."""

    def __init__(self, http: str, playlist_path: str, mirror: Path | None) -> None:
        self.http = http
        self.path = playlist_path
        self.mirror = mirror
        self.seen: dict[tuple[int, int], float] = {}
        self.listeners: list[asyncio.StreamWriter | Any] = []
        self.stop = False

    async def run(self, deadline: float) -> None:
        import httpx

        async with httpx.AsyncClient(base_url=self.http, timeout=10) as client:
            hint: tuple[int, int] | None = None
            while not self.stop and time.monotonic() < deadline:
                params = {} if hint is None else {"_HLS_msn": hint[0], "_HLS_part": hint[1]}
                if hint is not None:
                    params["_HLS_skip"] = "YES"
                resp = await client.get(self.path, params=params)
                now = time.monotonic()
                if resp.status_code != 200:
                    await asyncio.sleep(0.1)
                    continue
                part, hint = parse_playlist(resp.content)
                if part is None:
                    await asyncio.sleep(0.1)
                    continue
                key = (part[0], part[1])
                self.seen.setdefault(key, now)
                if self.mirror is not None and self.listeners:
                    await self._mirror(client, resp.content, part[2].decode(), key)

    async def _mirror(
        self, client: Any, playlist: bytes, part_uri: str, key: tuple[int, int]
    ) -> None:
        assert self.mirror is not None
        base = self.path.rsplit("/", 1)[0]
        data = (await client.get(f"{base}/{part_uri}")).content
        target = self.mirror / part_uri
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(target, data)
        _write_atomic(self.mirror / "index.m3u8", playlist)
        line = f"{key[0]} {key[1]} /hls/index.m3u8 /hls/{part_uri}\n".encode()
        for w in self.listeners:
            w.write(line)
            with contextlib.suppress(Exception):
                w.flush()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(path)


NGINX_CONF = """\
{user}
worker_processes {workers};
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 16384; }}
worker_rlimit_nofile 40000;
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    open_file_cache max=1000 inactive=20s;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp4 m4s mp4; }}
    {cache_zone}
    server {{
        listen {host}:{port} backlog=4096;
        {locations}
    }}
}}
"""

STATIC_LOCATION = """
        location /hls/ {{
            alias {root}/;
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}"""

EDGE_ZONE = "proxy_cache_path {prefix}/cache keys_zone=edge:16m levels=1:2 max_size=512m;"
EDGE_LOCATION = """
        location / {{
            proxy_pass http://{host}:{origin};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_lock_age 10s;
            proxy_cache_valid 200 2s;
            proxy_read_timeout 10s;
        }}"""


class Nginx:
    """nginx as a static file server (tmpfs directory) or as a caching edge of golive."""

    def __init__(self, *, root: Path | None = None, origin: int | None = None, workers: int = 1):
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-delivery-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        if origin is not None:
            zone = EDGE_ZONE.format(prefix=self.prefix)
            locations = EDGE_LOCATION.format(host=HOST, origin=origin)
        else:
            zone, locations = "", STATIC_LOCATION.format(root=root)
        self.conf = NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "",
            workers=workers,
            prefix=self.prefix,
            host=HOST,
            port=self.port,
            cache_zone=zone,
            locations=locations,
        )

    def start(self) -> None:
        (self.prefix / "logs").mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.conf)
        cmd = ["nginx", "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, 15, self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.prefix, ignore_errors=True)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


# -- one level -----------------------------------------------------------------------------------


@dataclass
class Level:
    server: str
    players: int
    parts: int = 0
    late: int = 0
    missing: int = 0
    delays: list[float] = field(default_factory=list)
    req_s: float = 0.0
    errors: int = 0
    server_cpu: float = 0.0  # % of one core
    loadgen_cpu: float = 0.0
    machine_cpu: float = 0.0

    def row(self) -> list[str]:
        d = [x * 1000 for x in self.delays]
        return [
            self.server,
            str(self.players),
            f"{self.late} / {self.parts}",
            fmt(percentile(d, 50), 1),
            fmt(percentile(d, 95), 1),
            fmt(percentile(d, 99), 1),
            fmt(max(d) if d else float("nan"), 0),
            fmt(self.server_cpu),
            fmt(1e4 * self.server_cpu / self.req_s if self.req_s else float("nan")),
            fmt(self.loadgen_cpu),
            fmt(self.machine_cpu),
            fmt(self.req_s),
            str(self.errors),
        ]


HEADER = [
    "server",
    "players",
    "late parts",
    "delay p50 ms",
    "p95",
    "p99",
    "max",
    "server CPU %",
    "server CPU µs/request",
    "load gen CPU %",
    "machine CPU %",
    "requests/s",
    "errors",
]


def server_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
    return total


@dataclass
class Target:
    """One server the players of a level are spread over, with the probe that follows it."""

    port: int
    playlist: str  # "" for nginx: its players are told what to fetch
    media_prefix: str
    nginx: bool
    probe: Probe
    pids: list[int]


async def run_level(
    name: str,
    players: int,
    targets: list[Target],
    *,
    procs: int,
    warmup: float,
    seconds: float,
) -> Level:
    start = time.monotonic()
    measure_from = start + warmup
    until = measure_from + seconds
    procs = max(procs, len(targets))
    counts = [players // procs + (1 if i < players % procs else 0) for i in range(procs)]
    workers: list[tuple[Target, int, asyncio.subprocess.Process]] = []
    for i, n in enumerate(counts):
        target = targets[i % len(targets)]
        spec = {
            "port": target.port,
            "playlist": target.playlist,
            "media_prefix": target.media_prefix,
            "nginx": target.nginx,
            "players": n,
            "measure_from": measure_from,
            "until": until,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            json.dumps(spec),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**28,
        )
        workers.append((target, n, proc))
    for _, _, proc in workers:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), warmup + 30)
    for target in targets:
        if target.nginx:
            target.probe.listeners = [
                p.stdin for t, _, p in workers if t is target and p.stdin is not None
            ]
    pids = [pid for t in targets for pid in t.pids]
    await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
    cpu0 = server_cpu(pids)
    busy0 = psutil.cpu_times()
    t0 = time.monotonic()
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    cpu1 = server_cpu(pids)
    busy1 = psutil.cpu_times()
    t1 = time.monotonic()
    for target in targets:
        target.probe.listeners = []
    level = Level(name, players)
    loadgen_cpu = 0.0
    per_target: dict[int, tuple[int, dict[tuple[int, int], list[float]]]] = {}
    for target, n, proc in workers:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        await proc.wait()
        out = json.loads(line)
        level.req_s += out["requests"] / seconds
        level.errors += out["errors"]
        loadgen_cpu += out["cpu"]
        count, receipts = per_target.setdefault(id(target), (0, {}))
        for m, p, times in out["receipts"]:
            receipts.setdefault((m, p), []).extend(times)
        per_target[id(target)] = (count + n, receipts)
    wall = t1 - t0
    level.server_cpu = 100 * (cpu1 - cpu0) / wall
    level.loadgen_cpu = 100 * loadgen_cpu / (until - start)  # includes connecting
    idle0 = busy0.idle + getattr(busy0, "iowait", 0.0)
    idle1 = busy1.idle + getattr(busy1, "iowait", 0.0)
    total = sum(busy1) - sum(busy0)
    level.machine_cpu = 100 * (psutil.cpu_count() or 1) * (1 - (idle1 - idle0) / total)
    for target in targets:
        n_players, receipts = per_target.get(id(target), (0, {}))
        # Parts first seen inside the window, early enough that every player had 1 s for them.
        for key, first in sorted(target.probe.seen.items()):
            if not measure_from <= first <= until - 1.0:
                continue
            times = receipts.get(key, [])
            ref = min([first, *times])
            delays = [t - ref for t in times]
            level.parts += 1
            level.delays += delays
            missing = max(0, n_players - len(times))
            level.missing += missing
            if missing or (delays and max(delays) > LATE_S):
                level.late += 1
    return level


# -- main ------------------------------------------------------------------------------------------


async def wait_live(http: str, path: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=http, timeout=5) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                resp = await client.get(path)
                if resp.status_code == 200 and b"#EXT-X-PART:" in resp.content:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{path} did not go live")


async def start_origin(args: argparse.Namespace, source: Path) -> tuple[GoliveServer, Any]:
    golive = GoliveServer(1, passthrough=args.ladder == "passthrough")
    golive.start()
    publishers = start_publishers([golive.rtmp_url(0)], source, 1)
    return golive, publishers


async def main_async(args: argparse.Namespace) -> int:
    source = ensure_input()
    levels = [int(x) for x in args.players.split(",") if x.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    results: list[Level] = []
    origins: list[tuple[GoliveServer, Any]] = []
    probes: list[Probe] = []
    tasks: list[asyncio.Task[None]] = []
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    mirror = Path(tempfile.mkdtemp(prefix="delivery-hls-", dir=shm))
    edge: Nginx | None = None
    static: Nginx | None = None
    try:
        # The second origin (its own copy of the stream) stands in for a second worker
        # process holding a replica of the live window (the both-cores plan).
        for i in range(2 if "golive2" in servers else 1):
            golive, publishers = await start_origin(args, source)
            origins.append((golive, publishers))
            playlist = f"/live/{golive.channels[0][0]}/source/index.m3u8"
            await wait_live(golive.http, playlist, 30)
            probe = Probe(golive.http, playlist, mirror if i == 0 else None)
            probes.append(probe)
            tasks.append(asyncio.create_task(probe.run(time.monotonic() + 3600)))
        await asyncio.sleep(2)

        def origin_target(i: int) -> Target:
            golive = origins[i][0]
            playlist = probes[i].path
            base = playlist.rsplit("/", 1)[0] + "/"
            return Target(golive.http_port, playlist, base, False, probes[i], [golive.pid])

        if "nginx" in servers:
            static = Nginx(root=mirror)
            static.start()
        if "edge" in servers:
            edge = Nginx(origin=origins[0][0].http_port, workers=2)
            edge.start()
        for n in levels:
            for name in servers:
                if name == "golive":
                    targets = [origin_target(0)]
                elif name == "golive2":
                    targets = [origin_target(0), origin_target(1)]
                elif name == "nginx":
                    assert static is not None
                    targets = [Target(static.port, "", "", True, probes[0], [static.pid])]
                else:
                    assert edge is not None
                    t = origin_target(0)
                    targets = [
                        Target(
                            edge.port,
                            t.playlist,
                            t.media_prefix,
                            False,
                            probes[0],
                            [edge.pid, *t.pids],
                        )
                    ]
                log(f"{name}: {n} players")
                level = await run_level(
                    name, n, targets, procs=args.procs, warmup=args.warmup, seconds=args.seconds
                )
                results.append(level)
                log(" | ".join(level.row()) + f" | missing {level.missing}")
                await asyncio.sleep(2)
    finally:
        for probe in probes:
            probe.stop = True
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for server in (edge, static):
            if server is not None:
                server.stop()
        for golive, publishers in origins:
            stop_publishers(publishers)
            golive.stop()
        shutil.rmtree(mirror, ignore_errors=True)
    report(args, results)
    return 0


async def _get(http: str, path: str) -> bytes:
    import httpx

    async with httpx.AsyncClient(base_url=http, timeout=5) as client:
        return (await client.get(path)).content


def report(args: argparse.Namespace, results: list[Level]) -> None:
    table = md_table(HEADER, [r.row() for r in results])
    best: dict[str, int] = {}
    for r in results:
        if r.late == 0 and r.errors == 0:
            best[r.server] = max(best.get(r.server, 0), r.players)
    summary = ", ".join(f"{k}: {v}" for k, v in best.items()) or "none"
    text = (
        f"Command: `{command_line()}`\n\n{machine_info()}\n\n{table}\n\n"
        f"Largest N with no late part: {summary}\n"
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"delivery-{stamp}.md").write_text(text)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_entry(sys.argv[2])
        return 0
    parser = bench_parser(__doc__)
    parser.add_argument("--players", default="250,500,1000,2000")
    parser.add_argument(
        "--servers",
        default="golive,nginx",
        help="golive, nginx (static files on tmpfs), golive2 (two origin processes, players "
        "split), edge (nginx proxy_cache, 2 workers, in front of golive)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--ladder", choices=["passthrough", "default"], default="passthrough")
    args = parser.parse_args()
    return run_bench(main_async, args)


if __name__ == "__main__":
    sys.exit(main())
