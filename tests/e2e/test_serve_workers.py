"""`golive serve --workers 2`: two processes on the same RTMP and HTTP ports (SO_REUSEPORT),
sharing a real Redis and the SQLite file of one data folder.

The stream is packaged once, by the worker its publisher reached; HTTP requests reach
either worker and are all answered (the other one sends them on); a second publisher is
refused whichever worker it reaches; a worker killed with SIGKILL is started again by the
parent; SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.publisher import finish, start_publisher
from tests.support.redis_server import RedisServer
from tests.support.serve_process import start_serve

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
redis_url = "{redis}"
workers = 2
node_id = "box"
record = false
reconnect_grace = 1.0

[channel_ladders]
demo = "passthrough"
"""

PLAYLIST = "/live/demo/source/index.m3u8"


def golive_children(pid: int) -> list[psutil.Process]:
    """The parent's running golive children (a killed one not yet reaped is left out)."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any(
                "golive" in part for part in child.cmdline()
            ):
                found.append(child)
        except psutil.NoSuchProcess:  # ZombieProcess included
            pass
    return found


async def test_two_workers_share_the_ports_and_serve_every_request(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.flush()
    config = tmp_path / "golive.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data", redis=redis_server.url))
    stderr = tmp_path / "stderr.log"
    server = await start_serve(config, stderr)
    try:
        assert server.demo_key is not None  # shown once, by the parent
        workers = golive_children(server.proc.pid)
        assert len(workers) == 2
        publisher = await start_publisher(server.rtmp_url(server.demo_key), seconds=10)
        async with httpx.AsyncClient(base_url=server.http_base, timeout=20) as client:
            deadline = time.monotonic() + 30
            while True:
                r = await client.get(PLAYLIST)
                if r.status_code == 200 and "#EXTINF" in r.text:
                    break
                assert time.monotonic() < deadline, f"{r.status_code} {r.text[:200]}"
                await asyncio.sleep(0.2)
            # Fresh connections land on either worker: every one is answered.
            for _ in range(20):
                async with httpx.AsyncClient(base_url=server.http_base, timeout=20) as fresh:
                    r = await fresh.get(PLAYLIST)
                    assert r.status_code == 200 and "#EXT-X-PART:" in r.text
        # One worker holds the channel: the stream is packaged once.
        holders = await _lease_holders(redis_server)
        assert holders in (["box-0"], ["box-1"])
        # A second publisher is refused, whichever worker it reaches.
        for _ in range(3):
            second = await start_publisher(server.rtmp_url(server.demo_key), seconds=2)
            code, err = await finish(second, timeout=20)
            assert code != 0 and "already live" in err
        assert publisher.returncode is None
        assert (await finish(publisher))[0] == 0

        # A worker killed outright is started again by the parent.
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            now = golive_children(server.proc.pid)
            if len(now) == 2 and victim.pid not in {p.pid for p in now}:
                break
            assert time.monotonic() < deadline, "the killed worker was not started again"
            await asyncio.sleep(0.2)
        assert "starting it again" in stderr.read_text()
        workers = now
    finally:
        if server.proc.returncode is None:
            server.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(server.proc.wait(), 30)
    assert code == 0, stderr.read_text()[-3000:]
    for worker in golive_children_of_gone(workers):
        raise AssertionError(f"worker {worker.pid} outlived its parent")


def golive_children_of_gone(workers: list[psutil.Process]) -> list[psutil.Process]:
    """The workers still running after their parent exited (none should be)."""
    alive = []
    for worker in workers:
        try:
            if worker.status() != psutil.STATUS_ZOMBIE:
                alive.append(worker)
        except psutil.NoSuchProcess:
            pass
    return alive


async def _lease_holders(redis_server: RedisServer) -> list[str]:
    from redis.asyncio import Redis

    async with Redis.from_url(redis_server.url) as redis:
        keys = [k async for k in redis.scan_iter("golive:lease:*")]
        holders = [await redis.hget(k, "holder") for k in keys]
    return sorted(h.decode() for h in holders if h is not None)
