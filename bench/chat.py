"""Chat benchmark: N WebSocket clients in one room, M messages per second sent into it.

For N = 1,000, 5,000 and 10,000 (``--clients``) and M = 100 (``--rate``), against
``golive serve`` (the real server, its real chat WebSocket and sign-in):

- M messages/s come from 100 signed-in senders (the per-user limit is 1/s sustained), each
  message carrying its send time;
- N clients are connected to the room, spread over client processes. Clients are minimal
  WebSocket readers that read in bulk and walk frame headers only (frames are counted, not
  parsed), except every 20th, which decodes each frame and records delivery latency =
  receive time - send time, per message;
- server CPU is the ``golive serve`` process's CPU time over the measured window.

The offered load is N x M deliveries per second. Results: delivery latency p50/p99 over
the sampled clients, the share of messages they received, and server CPU (cores).

Usage: .venv/bin/python bench/chat.py [--clients 1000,5000,10000] [--rate 100] [--seconds 20] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, cast

import psutil
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import (
    GoliveServer,
    bench_parser,
    command_line,
    fmt,
    log,
    machine_info,
    md_table,
    percentile,
    run_bench,
    update_doc_section,
)

HOST = "127.0.0.1"
SENDERS = 100
SAMPLE_EVERY = 20  # every 20th client decodes frames and measures latency
CLIENT_PROCESSES = 2
CONNECT_CONCURRENCY = 200


class MiniWebSocket:
    """Just enough RFC 6455 for a benchmark client: handshake, read frames, send text."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str, cookie: str | None = None) -> MiniWebSocket:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {HOST}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if cookie:
            lines.append(f"Cookie: golive_session={cookie}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head[:80])
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", await self.reader.readexactly(8))
        return b0 & 0x0F, await self.reader.readexactly(length)

    def send_text(self, text: str) -> None:
        self.send(0x1, text.encode())

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = (
            int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        ).to_bytes(n, "big")
        self.writer.write(header + mask + masked)


class ClientStats:
    """What one client process saw, over all its connections."""

    def __init__(self) -> None:
        self.window = (float("inf"), float("inf"))
        self.latencies: list[float] = []  # receive time - send time written in the message
        self.since_accept: list[float] = []  # receive time - the server's acceptance time
        self.seen: set[str] = set()
        self.frames = 0
        self.closed = 0
        self.failed = 0


class ChatClient(asyncio.Protocol):
    """One WebSocket client as a protocol: no task and no wake-up per frame, a callback per
    read. It walks frame headers (answering pings); a sampled client also decodes each
    ``messages`` frame and records, per message, receive time minus send time."""

    def __init__(self, handshake: bytes, stats: ClientStats, sampled: bool) -> None:
        self.handshake = handshake
        self.stats = stats
        self.sampled = sampled
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass
        self.transport.write(self.handshake)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.stats.closed += 1
            self.open = False
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in bytes(buf[: buf.find(b"\r\n")]):
                self.upgraded.set_exception(ConnectionError(bytes(buf[:80])))
                return
            del buf[: end + 4]
            self.open = True
            self.upgraded.set_result(None)
        pos = 0
        now = 0.0
        while len(buf) - pos >= 2:
            length, head = buf[pos + 1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if len(buf) - pos < head + length:
                break
            opcode = buf[pos] & 0x0F
            body = pos + head
            pos = body + length
            if opcode == 8:
                self.stats.closed += 1
                self.open = False
                return
            if opcode == 9:
                assert self.transport is not None
                self.transport.write(masked(0xA, bytes(buf[body:pos])))
                continue
            self.stats.frames += 1
            if self.sampled and opcode == 1:
                now = now or time.time()
                self.record(bytes(buf[body:pos]), now)
        del buf[:pos]

    def record(self, payload: bytes, now: float) -> None:
        frame = json.loads(payload)
        if frame.get("type") != "messages":
            return
        stats = self.stats
        for message in frame["messages"]:
            match = re.match(r"t=(\d+\.\d+) ", message["text"])
            if match and stats.window[0] <= float(match[1]) < stats.window[1]:
                stats.latencies.append(now - float(match[1]))
                stats.since_accept.append(now - message["time"] / 1000)
                stats.seen.add(message["id"])


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients mask, RFC 6455 section 5.3); short payloads only."""
    mask = os.urandom(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + data


def client_process(
    port: int, path: str, count: int, offset: int, conn: Any, sample_every: int
) -> None:
    """``count`` clients on one event loop; reports connections, then waits for the window
    (sent by the parent once every process is connected) and reports what it received."""

    async def run() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        stats = ClientStats()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        clients: list[ChatClient] = []

        async def one(i: int) -> None:
            key = base64.b64encode(os.urandom(16)).decode()
            handshake = (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            sampled = (offset + i) % sample_every == 0
            async with gate:
                try:
                    _, client = await loop.create_connection(
                        lambda: ChatClient(handshake, stats, sampled), HOST, port
                    )
                    await asyncio.wait_for(client.upgraded, 30)
                except Exception:
                    stats.failed += 1
                    return
                clients.append(client)

        await asyncio.gather(*(one(i) for i in range(count)))
        conn.send(("connected", len(clients)))
        stats.window = await asyncio.to_thread(conn.recv)
        await asyncio.sleep(max(0.0, stats.window[0] - time.time()))
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, stats.window[1] - time.time()))
        cpu = (time.process_time() - cpu0) / (stats.window[1] - stats.window[0])
        # Bounded: the window's end, plus 2 s for the last batches in flight.
        await asyncio.sleep(max(0.0, stats.window[1] + 2 - time.time()))
        for client in clients:
            if client.transport is not None:
                client.transport.abort()
        return {
            "latencies": stats.latencies,
            "since_accept": stats.since_accept,
            "seen": len(stats.seen),
            "frames": stats.frames,
            "closed": stats.closed,
            "failed": stats.failed,
            "samples": sum(1 for c in clients if c.sampled),
            "client_cpu": cpu,
        }

    conn.send(("done", uvloop.run(run())))


# Senders are created straight in the database with golive's own stores (the sign-up form
# allows 10 accounts per address per hour), each with a web session: the cookie a browser
# would get from signing in.
_MAKE_SENDERS = """
import asyncio, json, sys
from pathlib import Path
from golive.config import Settings
from golive.db.engine import Database
from golive.db.users import UserStore
from golive.db.web_sessions import WebSessionStore

async def main():
    data_dir, n = json.load(sys.stdin)
    db = await Database.open(Settings(data_dir=Path(data_dir)))
    try:
        users, sessions = UserStore(db.sessionmaker), WebSessionStore(db.sessionmaker)
        cookies = []
        for i in range(n):
            user = await users.add(f"sender{i}")
            cookies.append(await sessions.create(user))
        print(json.dumps(cookies))
    finally:
        await db.close()

asyncio.run(main())
"""


def make_senders(server: GoliveServer, n: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _MAKE_SENDERS],
        input=json.dumps([str(server.data_dir), n]).encode(),
        env={**os.environ, **common.TREE.env()},  # the tree use_tree() chose
        capture_output=True,
        check=True,
        timeout=120,
    )
    cookies: list[str] = json.loads(done.stdout)
    return cookies


async def send_messages(
    port: int, path: str, cookies: list[str], rate: float, start: float, stop: float
) -> int:
    senders = [await MiniWebSocket.connect(port, path, cookie) for cookie in cookies]

    async def drain(ws: MiniWebSocket) -> None:
        while True:
            opcode, payload = await ws.frame()
            if opcode == 9:
                ws.send(0xA, payload)

    drains = [asyncio.create_task(drain(ws)) for ws in senders]
    await asyncio.sleep(max(0.0, start - time.time()))
    sent = 0
    interval = 1 / rate
    next_at = start
    while next_at < stop:
        ws = senders[sent % len(senders)]
        ws.send_text(json.dumps({"type": "send", "text": f"t={time.time():.6f} message {sent}"}))
        sent += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.time()))
    await asyncio.sleep(1)
    for task in drains:
        task.cancel()
    return sent


def scrape(port: int) -> dict[str, dict[float, float]]:
    """The chat histograms' cumulative bucket counts from /metrics, summed over channels."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=60) as response:
        text = response.read().decode()
    out: dict[str, dict[float, float]] = {}
    for line in text.splitlines():
        match = re.match(r'(golive_chat_\w+_seconds)_bucket\{.*le="([^"]+)".*\} (\S+)', line)
        if match:
            buckets = out.setdefault(match[1], {})
            le = float(match[2])
            buckets[le] = buckets.get(le, 0.0) + float(match[3])
    return out


def histogram_percentile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Percentile of what a Prometheus histogram observed between two scrapes, interpolated
    linearly inside the bucket it falls in (as histogram_quantile does)."""
    edges = sorted(after)
    counts = [after[e] - before.get(e, 0.0) for e in edges]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = total * q / 100
    lower, below = 0.0, 0.0
    for edge, cum in zip(edges, counts, strict=True):
        if cum >= rank:
            if edge == float("inf"):
                return lower
            return lower + (edge - lower) * (rank - below) / max(cum - below, 1e-9)
        lower, below = edge, cum
    return lower


async def trial(
    server: GoliveServer,
    cookies: list[str],
    n: int,
    rate: float,
    seconds: float,
    procs_n: int,
    sample_every: int,
) -> dict[str, Any]:
    path = f"/api/v1/channels/{server.channels[0][0]}/chat"
    ctx = multiprocessing.get_context("spawn")
    share = [n // procs_n + (1 if i < n % procs_n else 0) for i in range(procs_n)]
    pipes = [ctx.Pipe() for _ in share]
    procs = [
        ctx.Process(
            target=client_process,
            args=(server.http_port, path, c, sum(share[:i]), pipes[i][1], sample_every),
        )
        for i, c in enumerate(share)
    ]
    for p in procs:
        p.start()

    async def receive(i: int, timeout: float) -> Any:
        conn = pipes[i][0]
        ready = await asyncio.to_thread(conn.poll, timeout)
        if not ready:
            raise TimeoutError(f"client process {i} did not answer in {timeout:.0f} s")
        return conn.recv()[1]

    try:
        t_connect = time.time()
        connected = sum(await asyncio.gather(*(receive(i, 300) for i in range(len(procs)))))
        log(
            f"  {connected}/{n} clients connected in {time.time() - t_connect:.0f} s, "
            f"sending {rate:.0f} msg/s for {seconds:.0f} s"
        )
        # The window starts once every client is connected (a fixed ramp was too short on a
        # loaded machine, and the window then overlapped the connections).
        start = time.time() + 3
        window = (start + 3, start + 3 + seconds)
        for parent, _ in pipes:
            parent.send(window)
        server_proc = psutil.Process(server.pid)
        sending = asyncio.create_task(
            send_messages(server.http_port, path, cookies, rate, start, window[1])
        )
        await asyncio.sleep(max(0.0, window[0] - time.time()))
        cpu0 = sum(server_proc.cpu_times()[:2])
        t0 = time.time()
        t_scrape = time.time()
        hist0 = await asyncio.to_thread(scrape, server.http_port)
        log(f"  /metrics answered in {1000 * (time.time() - t_scrape):.0f} ms")
        await asyncio.sleep(max(0.0, window[1] - time.time()))
        cpu1 = sum(server_proc.cpu_times()[:2])
        t1 = time.time()
        hist1 = await asyncio.to_thread(scrape, server.http_port)
        sent = await sending
        results = list(await asyncio.gather(*(receive(i, 60) for i in range(len(procs)))))
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    latencies = [x for r in results for x in r["latencies"]]
    since_accept = [x for r in results for x in r["since_accept"]]
    samples = sum(r["samples"] for r in results)
    expected = rate * seconds * samples
    delivery = ("golive_chat_delivery_seconds", "golive_chat_fanout_seconds")
    server_pct = {
        f"{key.split('_')[2]}_p{q}_ms": 1000
        * histogram_percentile(hist0.get(key, {}), hist1.get(key, {}), q)
        for key in delivery
        for q in (50, 95, 99, 100)
    }
    fanouts = hist1.get(delivery[1], {})
    batches = fanouts.get(float("inf"), 0.0) - hist0.get(delivery[1], {}).get(float("inf"), 0.0)
    return {
        "n": n,
        "connected": connected,
        "batches_per_s": batches / (t1 - t0),
        "server_cpu_per_batch_ms": 1000 * (cpu1 - cpu0) / batches if batches else float("nan"),
        "rate": rate,
        "sent": sent,
        "server_cores": (cpu1 - cpu0) / (t1 - t0),
        **{
            f"p{q}_ms": percentile(latencies, q) * 1000 if latencies else float("nan")
            for q in (50, 95, 99, 100)
        },
        **{
            f"accept_p{q}_ms": percentile(since_accept, q) * 1000 if since_accept else float("nan")
            for q in (50, 99)
        },
        **server_pct,
        "received_share": len(latencies) / expected if expected else 0.0,
        "closed": sum(r["closed"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "client_cores": sum(r["client_cpu"] for r in results),
        "samples": samples,
    }


def report(trials: list[dict[str, Any]], seconds: float) -> str:
    rows = [
        [
            f"{t['n']:,}",
            f"{t['connected']:,}",
            f"{t['n'] * t['rate']:,.0f}",
            " / ".join(fmt(t[f"p{q}_ms"]) for q in (50, 95, 99, 100)),
            " / ".join(fmt(t[f"delivery_p{q}_ms"]) for q in (50, 95, 99, 100)),
            " / ".join(fmt(t[f"fanout_p{q}_ms"]) for q in (50, 99, 100)),
            f"{t['batches_per_s']:.1f}",
            fmt(t["server_cpu_per_batch_ms"]),
            f"{100 * t['received_share']:.1f}%",
            fmt(t["server_cores"], 2),
            fmt(t["client_cores"], 2),
            str(t["closed"]),
        ]
        for t in trials
    ]
    table = md_table(
        [
            "clients",
            "connected",
            "deliveries/s offered",
            "client receive p50 / p95 / p99 / max (ms)",
            "server delivery p50 / p95 / p99 / max (ms)",
            "fan-out per batch p50 / p99 / max (ms)",
            "batches/s",
            "server CPU per batch (ms)",
            "received (sampled clients)",
            "server CPU (cores)",
            "client CPU (cores)",
            "dropped clients",
        ],
        rows,
    )
    met = [t for t in trials if t["n"] >= 10_000]
    verdict = ""
    if met:
        t = met[0]
        ok = t["p99_ms"] < 500 and t["received_share"] > 0.99
        verdict = (
            f"\n\n**Target: 10,000 clients, 100 messages/s, p99 < 500 ms — "
            f"{'met' if ok else 'not met'} (p99 {fmt(t['p99_ms'])} ms, "
            f"{100 * t['received_share']:.1f}% received).**"
        )
    return (
        table + f"\n\nEach row: {seconds:.0f} s of sending (100 msg/s) once every client is "
        "connected. Client receive: per message on every 20th client, receive time minus the "
        "send time written into the message (same machine's clock). Server delivery: "
        "golive's own `golive_chat_delivery_seconds` histogram (from /metrics, before and after "
        "the window), from the message's acceptance to the end of the fan-out of the batch "
        "carrying it, when every member's transport has the frame; percentiles interpolated "
        "inside its buckets. Fan-out: `golive_chat_fanout_seconds`, one batch frame's fan-out "
        "from its first slice of 1,000 members to its last (other loop callbacks run between "
        "slices). Messages are batched per room: one frame carries every message of a batch "
        "interval (25 ms in a small room, growing by 40 us per member to 200 ms at 5,000); "
        "a batch waits for the fan-out before it, so a late one carries more messages, in "
        "frames of at most 16 KiB of messages." + verdict
    )


async def main_async(args: argparse.Namespace) -> int:
    t_start = time.time()
    trials = []
    with GoliveServer(1) as server:
        log("creating 100 signed-in senders")
        cookies = make_senders(server, SENDERS)
        for n in args.clients:
            log(f"{n} clients")
            trials.append(
                await trial(
                    server,
                    cookies,
                    n,
                    args.rate,
                    args.seconds,
                    args.client_procs,
                    SAMPLE_EVERY,
                )
            )
            log(f"  {trials[-1]}")
    body = report(trials, args.seconds)
    print(body)
    if args.doc:
        update_doc_section(
            "chat",
            "\n".join(
                [
                    "## Chat (`bench/chat.py`)",
                    "",
                    f"Command: `{command_line()}` (took {(time.time() - t_start) / 60:.1f} min)",
                    "",
                    machine_info(),
                    "",
                    "Server: `golive serve` with its defaults (one process, one event loop). "
                    f"Clients: {args.client_procs} processes of their own (uvloop, one protocol "
                    "callback per read, no task per connection) on the same 2-core machine "
                    "(they compete with the server for CPU): the sampled ones decode every "
                    "frame, the others walk frame headers only (answering pings); senders: 100 "
                    "signed-in users in the benchmark's own process.",
                    "",
                    body,
                ]
            ),
        )
    return 0


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--clients",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 5000, 10000],
    )
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--client-procs",
        type=int,
        default=CLIENT_PROCESSES,
        help="processes the clients are spread over (default: one per core of this 2-core "
        "machine's share left to the clients)",
    )
    return run_bench(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
