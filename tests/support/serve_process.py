"""`golive serve` as a child process (the console entry point, not the in-loop server), on
free ports, with the settings file and data folder of the test."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

BANNER = re.compile(r"RTMP on port (\d+).*HTTP on port (\d+)")
KEY = re.compile(r"^\s+(live_\S+)$", re.MULTILINE)


@dataclass
class ServeProcess:
    proc: asyncio.subprocess.Process
    rtmp_port: int
    http_port: int
    demo_key: str | None  # printed on the first start only

    def rtmp_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("GOLIVE_")}


def golive_cli(config: Path, *args: str) -> str:
    """Run a `golive` command against the settings file; return its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "golive", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def start_serve(config: Path, stderr: Path) -> ServeProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "golive",
        "serve",
        "--config",
        str(config),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr.open("ab"),
        env=clean_env(),
    )
    assert proc.stdout is not None
    banner = ""
    # Generous: importing the stack takes seconds on a loaded machine.
    async with asyncio.timeout(60):
        while "Watch:" not in banner:
            line = (await proc.stdout.readline()).decode()
            assert line, f"golive serve exited before its banner: {stderr.read_text()[-2000:]}"
            banner += line
    ports, key = BANNER.search(banner), KEY.search(banner)
    assert ports is not None, banner
    return ServeProcess(proc, int(ports[1]), int(ports[2]), key[1] if key else None)


def ffmpeg_children(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children(recursive=True) if "ffmpeg" in c.name()]


def running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
