"""``cluster.py chat``: one chat room over two golive nodes joined through Redis.

Two ``golive serve`` nodes (one process each, distinct ``node_id``, the same ``redis_url``,
one shared SQLite database: node A's file, named by node B's ``database_url``) and a real
redis-server. Clients alternate between the nodes' chat WebSockets, and so do the 100
signed-in senders, so half of every sampled client's messages were accepted by the other
node and reached it through the channel's Redis Stream. Each message carries its send time,
the node it was sent to and its number; a sampled client (every 20th on each node) records
per message its latency and whether it came from its own node, and which numbers arrived, so
that lost messages are counted exactly: every message a sender had acknowledged in the
window must reach every sampled client.

The baseline is bench/chat.py's own trial: the same clients on one node without Redis.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import re
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psutil
import uvloop
from tests.support.redis_server import RedisServer, running_redis_server

from chat import (
    CONNECT_CONCURRENCY,
    SAMPLE_EVERY,
    SENDERS,
    ChatClient,
    ClientStats,
    MiniWebSocket,
    make_senders,
    trial,
)
from common import (
    HOST,
    GoliveServer,
    fmt,
    log,
    md_table,
    percentile,
    spread,
    tree_cpu_seconds,
)

NODES = ("bench-a", "bench-b")
_TEXTS = re.compile(r"^t=(\d+\.\d+) n=(\d) m=(\d+) ", re.MULTILINE)  # a message's text each line


# -- clients (child processes) -------------------------------------------------------------------


class NodeStats(ClientStats):
    """A client process's view, split by whether a message was sent to the client's node."""

    def __init__(self) -> None:
        super().__init__()
        self.same_ms: list[float] = []
        self.cross_ms: list[float] = []
        self.duplicates = 0


class NodeChatClient(ChatClient):
    """chat.py's client; a sampled one keeps the numbers it received (to count losses) and
    tells same-node from cross-node deliveries."""

    def __init__(self, handshake: bytes, stats: NodeStats, sampled: bool, node: int) -> None:
        super().__init__(handshake, stats, sampled)
        self.node = node
        self.numbers: set[str] = set()  # message numbers, as in the text

    def record(self, payload: bytes, now: float) -> None:
        """Decode the frame; then one regex pass over its messages' texts. (Per message in
        Python, this cost a sampled client about 4 us per message, 40% of what a client
        process spent in all: saturated, they measured their own backlog.)"""
        frame = json.loads(payload)
        if frame.get("type") != "messages":
            return
        stats = self.stats
        assert isinstance(stats, NodeStats)
        low, high = stats.window
        numbers = self.numbers
        node = str(self.node)
        same, cross = stats.same_ms, stats.cross_ms
        texts = "\n".join(message["text"] for message in frame["messages"])
        for sent_at, sent_to, number in _TEXTS.findall(texts):
            sent = float(sent_at)
            if not low <= sent < high:
                continue
            if number in numbers:
                stats.duplicates += 1
                continue
            numbers.add(number)
            (same if sent_to == node else cross).append((now - sent) * 1000)


def client_process(ports: Sequence[int], path: str, count: int, offset: int, conn: Any) -> None:
    """``count`` clients on one event loop, client ``offset + i`` on node ``(offset + i) % 2``;
    protocol with the parent as chat.py's (connected, window, results)."""

    async def run() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        stats = NodeStats()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        clients: list[NodeChatClient] = []

        async def one(i: int) -> None:
            node = (offset + i) % len(ports)
            port = ports[node]
            key = base64.b64encode(os.urandom(16)).decode()
            handshake = (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            # Sampled within each node, so both nodes have as many sampled clients.
            sampled = ((offset + i) // len(ports)) % SAMPLE_EVERY == 0
            async with gate:
                try:
                    _, client = await loop.create_connection(
                        lambda: NodeChatClient(handshake, stats, sampled, node), HOST, port
                    )
                    await asyncio.wait_for(client.upgraded, 30)
                except Exception:
                    stats.failed += 1
                    return
                clients.append(client)

        await asyncio.gather(*(one(i) for i in range(count)))
        conn.send(("connected", len(clients)))
        stats.window = await asyncio.to_thread(conn.recv)
        # The window's end plus 3 s for the last batches in flight (cross-node ones included).
        await asyncio.sleep(max(0.0, stats.window[1] + 3 - time.time()))
        for client in clients:
            if client.transport is not None:
                client.transport.abort()
        sampled = [c for c in clients if c.sampled]
        return {
            "same_ms": stats.same_ms,
            "cross_ms": stats.cross_ms,
            "received": [sorted(int(n) for n in c.numbers) for c in sampled],
            "duplicates": stats.duplicates,
            "closed": stats.closed,
            "failed": stats.failed,
        }

    conn.send(("done", uvloop.run(run())))


# -- senders -------------------------------------------------------------------------------------


@dataclass
class Sent:
    in_window: set[int] = field(default_factory=set)  # numbers acknowledged, sent in the window
    sent: int = 0
    acked: set[int] = field(default_factory=set)
    errors: int = 0


async def send_messages(
    ports: Sequence[int],
    path: str,
    cookies: list[str],
    rate: float,
    start: float,
    window: tuple[float, float],
) -> Sent:
    """Message k from sender k % 100, which is connected to node k % 2 (so each user stays
    within its 1 message/s); every message asks for an acknowledgement (its nonce is k)."""
    senders = [
        await MiniWebSocket.connect(ports[j % len(ports)], path, cookie)
        for j, cookie in enumerate(cookies)
    ]
    out = Sent()
    in_window: set[int] = set()

    async def drain(ws: MiniWebSocket) -> None:
        while True:
            opcode, payload = await ws.frame()
            if opcode == 9:
                ws.send(0xA, payload)
            elif payload.startswith(b'{"type": "ack"'):
                out.acked.add(int(json.loads(payload)["nonce"]))
            elif payload.startswith(b'{"type": "error"'):
                out.errors += 1

    drains = [asyncio.create_task(drain(ws)) for ws in senders]
    await asyncio.sleep(max(0.0, start - time.time()))
    interval = 1 / rate
    next_at = start
    k = 0
    while next_at < window[1]:
        ws = senders[k % len(senders)]
        now = time.time()
        text = f"t={now:.6f} n={k % len(senders) % len(ports)} m={k} message"
        ws.send_text(json.dumps({"type": "send", "text": text, "nonce": str(k)}))
        if window[0] <= now < window[1]:
            in_window.add(k)
        k += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.time()))
    await asyncio.sleep(2)  # the last acknowledgements
    for task in drains:
        task.cancel()
    for ws in senders:
        ws.writer.close()
    out.sent = k
    out.in_window = in_window & out.acked
    return out


# -- one cluster trial ---------------------------------------------------------------------------


def redis_pid(redis: RedisServer) -> int:
    """redis-server's process, found by its port (RedisServer keeps its Popen private)."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "redis-server" in (proc.info["name"] or "") and str(redis.port) in " ".join(cmdline):
            return int(proc.pid)
    raise RuntimeError("redis-server's process not found")


@dataclass
class ClusterTrial:
    n: int
    connected: int = 0
    same_ms: list[float] = field(default_factory=list)
    cross_ms: list[float] = field(default_factory=list)
    sampled: int = 0
    expected: int = 0  # acknowledged messages in the window x sampled clients
    received: int = 0
    duplicates: int = 0
    unacked: int = 0
    rejected: int = 0
    node_cores: list[float] = field(default_factory=list)
    redis_cores: float = float("nan")
    closed: int = 0

    @property
    def all_ms(self) -> list[float]:
        return self.same_ms + self.cross_ms

    @property
    def lost(self) -> int:
        return self.expected - self.received


async def cluster_trial(
    nodes: Sequence[GoliveServer],
    redis: RedisServer,
    cookies: list[str],
    n: int,
    rate: float,
    seconds: float,
    procs_n: int,
) -> ClusterTrial:
    ports = [node.http_port for node in nodes]
    path = f"/api/v1/channels/{nodes[0].channels[0][0]}/chat"
    ctx = multiprocessing.get_context("spawn")
    # An even share per process keeps the alternation of nodes across process boundaries.
    share = [n // procs_n + (1 if i < n % procs_n else 0) for i in range(procs_n)]
    pipes = [ctx.Pipe() for _ in share]
    procs = [
        ctx.Process(target=client_process, args=(ports, path, c, sum(share[:i]), pipes[i][1]))
        for i, c in enumerate(share)
    ]
    for p in procs:
        p.start()

    async def receive(i: int, timeout: float) -> Any:
        conn = pipes[i][0]
        if not await asyncio.to_thread(conn.poll, timeout):
            raise TimeoutError(f"client process {i} did not answer in {timeout:.0f} s")
        return conn.recv()[1]

    out = ClusterTrial(n)
    try:
        t_connect = time.time()
        out.connected = sum(await asyncio.gather(*(receive(i, 300) for i in range(len(procs)))))
        log(
            f"  cluster: {out.connected}/{n} clients connected in "
            f"{time.time() - t_connect:.0f} s; {rate:.0f} msg/s for {seconds:.0f} s"
        )
        start = time.time() + 3
        window = (start + 3, start + 3 + seconds)
        for parent, _ in pipes:
            parent.send(window)
        sending = asyncio.create_task(send_messages(ports, path, cookies, rate, start, window))
        pids = [node.pid for node in nodes] + [redis_pid(redis)]
        await asyncio.sleep(max(0.0, window[0] - time.time()))
        cpu0 = [tree_cpu_seconds(pid) for pid in pids]
        t0 = time.monotonic()
        await asyncio.sleep(max(0.0, window[1] - time.time()))
        cpu1 = [tree_cpu_seconds(pid) for pid in pids]
        span = time.monotonic() - t0
        sent = await sending
        results = list(await asyncio.gather(*(receive(i, 60) for i in range(len(procs)))))
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    cores = [(b - a) / span for a, b in zip(cpu0, cpu1, strict=True)]
    out.node_cores, out.redis_cores = cores[:-1], cores[-1]
    out.unacked = sent.sent - len(sent.acked)
    out.rejected = sent.errors
    for r in results:
        out.same_ms += r["same_ms"]
        out.cross_ms += r["cross_ms"]
        out.duplicates += r["duplicates"]
        out.closed += r["closed"]
        for numbers in r["received"]:
            out.sampled += 1
            out.expected += len(sent.in_window)
            out.received += len(sent.in_window.intersection(numbers))
    return out


def cluster_env(redis: RedisServer, node_id: str, database_url: str = "") -> dict[str, str]:
    env = {"GOLIVE_REDIS_URL": redis.url, "GOLIVE_NODE_ID": node_id, "GOLIVE_WORKERS": "1"}
    if database_url:
        env["GOLIVE_DATABASE_URL"] = database_url
    return env


@dataclass
class ChatRun:
    cluster: ClusterTrial
    baseline: dict[str, Any]


async def chat_run(n: int, rate: float, seconds: float, procs_n: int) -> ChatRun:
    """The baseline (one node, no Redis; bench/chat.py's trial), then the two-node cluster,
    each on fresh servers."""
    with GoliveServer(1) as single:
        log(f"  baseline: one node, {n} clients")
        cookies = make_senders(single, SENDERS)
        baseline = await trial(single, cookies, n, rate, seconds, procs_n, SAMPLE_EVERY)
    with ExitStack() as stack:
        redis = stack.enter_context(running_redis_server())
        a = stack.enter_context(GoliveServer(1, env=cluster_env(redis, NODES[0])))
        # Node B reads and writes node A's database (SQLite, WAL: fine on one machine).
        shared = f"sqlite+aiosqlite:///{a.data_dir / 'golive.db'}"
        b = stack.enter_context(GoliveServer(0, env=cluster_env(redis, NODES[1], shared)))
        cookies = make_senders(a, SENDERS)
        log(f"  cluster: two nodes, {n} clients")
        cluster = await cluster_trial((a, b), redis, cookies, n, rate, seconds, procs_n)
    return ChatRun(cluster, baseline)


# -- report --------------------------------------------------------------------------------------


def pair(values: Sequence[float]) -> str:
    return f"{fmt(percentile(values, 50))} / {fmt(percentile(values, 99))}"


def chat_report(runs: Sequence[ChatRun], rate: float, seconds: float) -> str:
    header = [
        "run",
        "setup",
        "connected",
        "p50 / p99, all (ms)",
        "p50 / p99, same node (ms)",
        "p50 / p99, cross node (ms)",
        "expected / received / lost (sampled clients)",
        "server CPU (cores)",
        "redis-server CPU (cores)",
    ]
    rows = []
    for i, run in enumerate(runs, 1):
        c, b = run.cluster, run.baseline
        b_lat_note = "n/a"  # chat.py keeps one latency list: all deliveries are same-node
        b_expected = round(rate * seconds * b["samples"])
        b_received = round(b["received_share"] * b_expected)
        rows.append(
            [
                str(i),
                "2 nodes + Redis",
                f"{c.connected:,}",
                pair(c.all_ms),
                pair(c.same_ms),
                pair(c.cross_ms),
                f"{c.expected:,} / {c.received:,} / {c.lost:,}",
                " + ".join(fmt(x, 2) for x in c.node_cores),
                fmt(c.redis_cores, 3),
            ]
        )
        rows.append(
            [
                str(i),
                "1 node, no Redis",
                f"{b['connected']:,}",
                f"{fmt(b['p50_ms'])} / {fmt(b['p99_ms'])}",
                f"{fmt(b['p50_ms'])} / {fmt(b['p99_ms'])}",
                b_lat_note,
                f"~{b_expected:,} / {b_received:,} / ~{b_expected - b_received:,}",
                fmt(b["server_cores"], 2),
                "-",
            ]
        )
    summary = md_table(
        ["over the runs: median (min-max)", "2 nodes + Redis", "1 node, no Redis"],
        [
            [
                "p50 (ms)",
                spread([percentile(r.cluster.all_ms, 50) for r in runs]),
                spread([r.baseline["p50_ms"] for r in runs]),
            ],
            [
                "p99 (ms)",
                spread([percentile(r.cluster.all_ms, 99) for r in runs]),
                spread([r.baseline["p99_ms"] for r in runs]),
            ],
            [
                "p99 cross node (ms)",
                spread([percentile(r.cluster.cross_ms, 99) for r in runs]),
                "-",
            ],
            [
                "lost messages (sampled clients)",
                spread([r.cluster.lost for r in runs]),
                spread(
                    [
                        rate * seconds * r.baseline["samples"] * (1 - r.baseline["received_share"])
                        for r in runs
                    ]
                ),
            ],
            [
                "server CPU, all nodes (cores)",
                spread([sum(r.cluster.node_cores) for r in runs], 2),
                spread([r.baseline["server_cores"] for r in runs], 2),
            ],
            ["redis-server CPU (cores)", spread([r.cluster.redis_cores for r in runs], 3), "-"],
        ],
    )
    n = runs[0].cluster.n if runs else 0
    met = [r.cluster.lost == 0 and percentile(r.cluster.all_ms, 99) < 500 for r in runs]
    extras = [
        f"run {i}: {r.cluster.duplicates} duplicates, {r.cluster.unacked} sent unacknowledged, "
        f"{r.cluster.rejected} refused, {r.cluster.closed} clients dropped (cluster); "
        f"{r.baseline['closed']} dropped (baseline)"
        for i, r in enumerate(runs, 1)
    ]
    verdict = (
        f"**Target: {n:,} clients over 2 nodes, {rate:.0f} msg/s, p99 < 500 ms and nothing "
        f"lost, {len(runs)} runs — {'met' if runs and all(met) else 'not met'} "
        f"({sum(met)} of {len(runs)} runs).**"
    )
    return "\n\n".join(
        [
            md_table(header, rows),
            summary,
            verdict,
            "; ".join(extras) + ".",
        ]
    )
