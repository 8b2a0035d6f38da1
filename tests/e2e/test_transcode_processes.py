"""No ffmpeg child outlives `golive serve`, however the server dies.

A real `golive serve` process transcodes a live ffmpeg publish; it is stopped with SIGTERM
(graceful: it reaps its children before exiting) or SIGKILL (no cleanup at all: the children
die with it through PR_SET_PDEATHSIG). Either way no encoder keeps running.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.publisher import finish, start_publisher

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

BANNER = re.compile(r"RTMP on port (\d+).*HTTP on port (\d+)")
KEY = re.compile(r"^\s+(live_\S+)$", re.MULTILINE)
CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
reconnect_grace = 0.0
shutdown_timeout = 8.0
transcode_ladder = [
  {{ name = "source", kind = "source" }},
  {{ name = "180p", height = 180, bitrate = 300000 }},
  {{ name = "120p", height = 120, bitrate = 150000 }},
]
"""


async def serve(tmp_path: Path) -> tuple[asyncio.subprocess.Process, int, str]:
    """`golive serve` in a child process; returns it, its RTMP port and the demo key."""
    config = tmp_path / "golive.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GOLIVE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "golive",
        "serve",
        "--config",
        str(config),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=(tmp_path / "stderr.txt").open("wb"),
        env=env,
    )
    assert proc.stdout is not None
    banner = ""
    async with asyncio.timeout(30):
        while not banner.endswith("\n") or "Watch:" not in banner:
            line = (await proc.stdout.readline()).decode()
            assert line, "golive serve exited before its banner"
            banner += line
    ports, key = BANNER.search(banner), KEY.search(banner)
    assert ports is not None and key is not None, banner
    return proc, int(ports[1]), key[1]


def encoders_of(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children() if "ffmpeg" in c.name()]


def running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
async def test_no_encoder_survives_the_server(tmp_path: Path, sig: signal.Signals) -> None:
    server, rtmp_port, key = await serve(tmp_path)
    publisher = await start_publisher(
        f"rtmp://127.0.0.1:{rtmp_port}/live/{key}", seconds=30, gop=30, bframes=0
    )
    try:
        deadline = time.monotonic() + 20
        while not (children := encoders_of(server.pid)):
            assert time.monotonic() < deadline, "the server never started an encoder"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # mid-stream: the encoder is busy
        assert all(running(c) for c in children)
        server.send_signal(sig)
        status = await asyncio.wait_for(server.wait(), 20)
        assert status == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(running(c) for c in children):
            assert time.monotonic() < deadline, "an encoder outlived the server"
            await asyncio.sleep(0.05)
        if sig == signal.SIGTERM:
            # A graceful stop also reaps them: not even a zombie is left behind.
            for child in children:
                assert not psutil.pid_exists(child.pid) or child.status() != "zombie"
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
        if publisher.returncode is None:
            publisher.kill()
        await finish(publisher, timeout=10)
