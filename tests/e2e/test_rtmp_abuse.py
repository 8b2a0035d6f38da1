"""Hostile RTMP clients against the real server: they must not stall it or grow its memory,
and they must not make it log stream keys."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import json
import logging
import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from golive.ingest.rtmp.chunk_stream import ChunkStreamWriter
from golive.media import amf0
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = pytest.mark.e2e

LOGGER = "golive.ingest.rtmp"
ROOT = Path(__file__).resolve().parents[2]


def rtmp_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING
    ]


async def wait_until(predicate: object, timeout: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


class CallbackCpu:
    """The most CPU time (this thread's, so other processes' load does not count) one
    event-loop callback took while installed, and the longest garbage collection."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_handle = ""
        self.worst_gc = 0.0
        self._original = asyncio.events.Handle._run
        self._gc_start = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            self.worst_gc = max(self.worst_gc, time.thread_time() - self._gc_start)

    def __enter__(self) -> CallbackCpu:
        original = self._original
        monitor = self

        def run(handle: asyncio.events.Handle) -> None:
            start = time.thread_time()
            original(handle)
            spent = time.thread_time() - start
            if spent > monitor.worst:
                monitor.worst = spent
                monitor.worst_handle = repr(handle)

        asyncio.events.Handle._run = run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)


async def start_flood(
    rtmp_port: int, http_port: int, seconds: int, attackers: int
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.rtmp_flood",
        str(rtmp_port),
        str(http_port),
        str(seconds),
        str(attackers),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        stdout=asyncio.subprocess.PIPE,
    )


async def flood_result(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0
    return json.loads(out)  # type: ignore[no-any-return]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))]


@pytest.mark.timeout(120)
async def test_huge_connect_flood_does_not_stall_the_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with running_server(tmp_path / "data", channel_ladders={"demo": "passthrough"}) as server:
        assert server.demo_key is not None
        proc = await start_publisher(rtmp_url(server, server.demo_key), seconds=40)
        try:
            async with http_client(server) as client:
                deadline = time.monotonic() + 30
                while (await client.get("/live/demo/source/index.m3u8")).status_code != 200:
                    assert time.monotonic() < deadline, "the stream never went live"
                    await asyncio.sleep(0.2)
            window = server.store.get("demo").renditions["source"]
            published: list[float] = []
            original = window.advance

            def advance(msn: int, part: int) -> None:
                published.append(time.monotonic())
                original(msn, part)

            window.advance = advance  # type: ignore[method-assign]

            # What /healthz latency this machine gives without the flood (it is shared).
            probe = await start_flood(server.rtmp_port, server.http_port, 3, 0)
            baseline = (await flood_result(probe))["latencies"]
            # 10 attackers, each from its own address, loop: handshake + a connect announcing
            # 16 MiB of AMF0 nulls (before the fix: a 13-17 s stall per message). Attackers
            # and the /healthz prober run in processes of their own.
            seconds = 6
            flood_start = time.monotonic()
            attackers = await start_flood(server.rtmp_port, 0, seconds, 10)
            probe = await start_flood(server.rtmp_port, server.http_port, seconds, 0)
            # Watched from here: spawning a process (above) is the test's CPU, not the server's.
            # The heap of this process also holds pytest and every imported test module,
            # which a full garbage collection would walk (~150 ms here): frozen, so that
            # collections see only what was allocated since, as the server's own would.
            gc.freeze()
            try:
                with CallbackCpu() as cpu:
                    result, probed = await asyncio.gather(
                        flood_result(attackers), flood_result(probe)
                    )
            finally:
                gc.unfreeze()
            flood_end = time.monotonic()
        finally:
            proc.kill()
            await finish(proc)

    latencies = probed["latencies"]
    print(
        f"healthz without flood: n={len(baseline)} median={statistics.median(baseline):.4f} "
        f"p99={p99(baseline):.4f} max={max(baseline):.4f}\n"
        f"healthz during flood:  n={len(latencies)} median={statistics.median(latencies):.4f} "
        f"p99={p99(latencies):.4f} max={max(latencies):.4f}\n"
        f"longest loop callback (CPU): {cpu.worst * 1000:.1f} ms {cpu.worst_handle}; "
        f"longest GC {cpu.worst_gc * 1000:.1f} ms; attacks sent={result['sent']} "
        f"closed={result['closed']} errors={result['errors']}"
    )
    # The server's own share: no callback of its loop ran for long (measured in CPU time, so
    # it holds however loaded the machine is). Before the fix one took seconds.
    assert cpu.worst < 0.050
    # /healthz within 100 ms. On a shared 2-core machine (other test runs, ffmpeg, the
    # attackers themselves) latency includes waiting for a core, so the budget is 100 ms on
    # top of what the same machine gave just before without the flood.
    assert p99(latencies) < 0.100 + p99(baseline)
    assert max(latencies) < 0.100 + max(baseline)
    # Every attacker got through the handshake and was cut off, many times over.
    assert all(a["sent"] >= 3 for a in result["per_attacker"])
    assert result["closed"] == result["sent"]
    refused = [
        m for m in rtmp_warnings(caplog) if "exceeds the 65536-byte limit" in m and "127.0.0.2" in m
    ]
    assert len(refused) >= result["sent"] * 0.9
    assert {m.split(":")[0] for m in refused} >= {f"rtmp 127.0.0.{20 + i}" for i in range(10)}
    # The published stream kept producing parts (0.2 s target) through the flood.
    during = [t for t in published if flood_start <= t <= flood_end]
    assert len(during) >= (flood_end - flood_start) / 0.2 * 0.6
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert max(gaps) < 1.0


# -- connection slots -------------------------------------------------------------------------


async def open_from(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                if not await reader.read(65536):
                    return
            except ConnectionError:
                return


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x03" + bytes(1536))
    s0s1s2 = await asyncio.wait_for(reader.readexactly(1 + 2 * 1536), 5)
    writer.write(s0s1s2[1:1537])
    await writer.drain()


@pytest.mark.timeout(60)
async def test_per_address_connection_limit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_server(tmp_path / "data", rtmp_max_connections_per_address=3) as server:
        port = server.rtmp_port
        held = [await open_from(port, "127.0.0.1") for _ in range(3)]
        await wait_until(lambda: server.rtmp is not None and server.rtmp.connection_count == 3, 5)
        reader, writer = await open_from(port, "127.0.0.1")
        await closed_by_server(reader)
        writer.close()
        assert any(
            "connection refused: 3 connections already open from 127.0.0.1" in m
            and "max_connections_per_address" in m
            for m in rtmp_warnings(caplog)
        )
        # Another address still gets in, and completes a handshake.
        other = await open_from(port, "127.0.0.2")
        await handshake(*other)
        other[1].close()
        # A freed slot can be used again.
        held.pop()[1].close()
        await wait_until(lambda: server.rtmp is not None and server.rtmp.connection_count == 2, 5)
        again = await open_from(port, "127.0.0.1")
        await handshake(*again)
        for _, w in [*held, again]:
            w.close()


@pytest.mark.timeout(60)
async def test_idle_socket_is_closed_before_the_handshake_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_server(tmp_path / "data", rtmp_connect_timeout=0.5) as server:
        silent = await open_from(server.rtmp_port, "127.0.0.1")
        shook = await open_from(server.rtmp_port, "127.0.0.1")
        await handshake(*shook)  # handshake done, but no connect command
        start = time.monotonic()
        await closed_by_server(silent[0])
        await closed_by_server(shook[0])
        assert time.monotonic() - start < 2.0  # not rtmp_handshake_timeout (10 s) + linger
        await wait_until(lambda: server.rtmp is not None and server.rtmp.connection_count == 0, 2)
        expired = [
            m for m in rtmp_warnings(caplog) if "no RTMP handshake and connect within 0.5 s" in m
        ]
        assert len(expired) == 2
        for _, w in (silent, shook):
            w.close()


# -- write backpressure -------------------------------------------------------------------------


def publish_commands(key: str) -> bytes:
    """Handshake-less part of a publish: connect, createStream, publish ``key``."""
    w = ChunkStreamWriter()
    out = w.write(
        3, 20, 0, 0, amf0.encode("connect", 1.0, {"app": "live", "tcUrl": "rtmp://x/live"})
    )
    out += w.write(3, 20, 0, 0, amf0.encode("createStream", 2.0, None))
    out += w.write(8, 20, 1, 0, amf0.encode("publish", 3.0, None, key, "live"))
    return out


def blocking_client(port: int, key: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing, holds little
    sock.connect(("127.0.0.1", port))
    sock.settimeout(5)
    sock.sendall(b"\x03" + bytes(1536))
    got = b""
    while len(got) < 1 + 2 * 1536:
        got += sock.recv(65536)
    sock.sendall(got[1:1537] + publish_commands(key))
    return sock


def send_without_reading(sock: socket.socket, data: bytes, total: int) -> int:
    """Send ``data`` over and over, never reading, until ``total`` bytes or the server stops
    taking them; return how many were sent."""
    sock.settimeout(3)
    sent = 0
    try:
        while sent < total:
            sent += sock.send(data)
    except (TimeoutError, OSError):
        pass
    return sent


@pytest.mark.timeout(60)
async def test_peer_that_never_reads_is_paused_then_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with running_server(tmp_path / "data") as server:
        rtmp = server.rtmp
        assert rtmp is not None and server.demo_key is not None
        rtmp.limits = dataclasses.replace(rtmp.limits, write_stall_timeout=3.0)
        sock = await asyncio.to_thread(blocking_client, server.rtmp_port, server.demo_key)
        try:
            await wait_until(lambda: "publishing" in "".join(rtmp_messages(caplog)), 10)
            # Unknown commands (an _error reply each, ~9x the request) and pings, repeated.
            w = ChunkStreamWriter()
            burst = b"".join(
                w.write(3, 20, 0, 0, amf0.encode("nosuchcommand", float(i))) for i in range(200)
            )
            burst += b"".join(w.write(2, 4, 0, 0, struct.pack(">HI", 6, i)) for i in range(200))
            peak = 0

            def unsent() -> int:
                return sum(c._transport.get_write_buffer_size() for c in rtmp._connections)  # type: ignore[union-attr]

            sending = asyncio.create_task(
                asyncio.to_thread(send_without_reading, sock, burst, 32 * 1024 * 1024)
            )
            while not sending.done():
                peak = max(peak, unsent())
                await asyncio.sleep(0.01)
            sent = sending.result()
            print(f"client sent {sent} bytes; peak unsent on the server {peak} bytes")
            # Reading stopped once 64 KiB were unsent: what is queued is that plus the replies
            # to one read, not ~9x all that the client sent (before: 37 MB from 10 MB).
            assert peak < 1024 * 1024
            # The server stopped taking bytes (the rest of what was sent sits in the two
            # sockets' kernel buffers, a few MiB on loopback).
            assert sent < 16 * 1024 * 1024
            await wait_until(lambda: rtmp.connection_count == 0, 10)
            assert any("peer does not read" in m for m in rtmp_warnings(caplog))
        finally:
            sock.close()


# -- stream keys in logs -------------------------------------------------------------------------


def rtmp_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("app", "tc_url", "name"),
    [
        ("live/{key}", "rtmp://127.0.0.1/live/{key}", "{key}"),  # key pasted into the server URL
        ("{key}", "rtmp://127.0.0.1/{key}", "{key}"),
        ("live", "rtmp://127.0.0.1/live/{key}?token=tok3n", "{key}?token=tok3n"),
        ("live/{key}?token=tok3n", "rtmp://127.0.0.1/live/{key}?token=tok3n", "x"),
    ],
)
async def test_stream_key_is_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, app: str, tc_url: str, name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_server(tmp_path / "data") as server:
        key = server.demo_key
        assert key is not None
        reader, writer = await open_from(server.rtmp_port, "127.0.0.1")
        await handshake(reader, writer)
        w = ChunkStreamWriter()
        obj = {"app": app.format(key=key), "tcUrl": tc_url.format(key=key)}
        writer.write(w.write(3, 20, 0, 0, amf0.encode("connect", 1.0, obj)))
        writer.write(w.write(3, 20, 0, 0, amf0.encode("createStream", 2.0, None)))
        writer.write(w.write(8, 20, 1, 0, amf0.encode("publish", 3.0, None, name.format(key=key))))
        await writer.drain()
        await asyncio.sleep(1.0)
        if app == "live":  # accepted: lines about it name the channel
            assert any("channel=demo" in m for m in rtmp_messages(caplog))
        writer.close()
        await wait_until(lambda: server.rtmp is not None and server.rtmp.connection_count == 0, 10)
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert key not in text
    assert key[5:] not in text  # nor the secret part after the live_ prefix
    assert "tok3n" not in text
    assert any(key[:9] in m for m in rtmp_messages(caplog))  # the hint identifies the attempt
