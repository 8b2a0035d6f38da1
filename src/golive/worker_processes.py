"""`golive serve` as several processes on one machine, sharing its ports: every core works.

The parent does the one-time work (the database schema, the demo channel and its key, the
playback secret), then starts ``workers`` children. Each child is a whole golive node
(``python -m golive serve ... --workers 1 --worker-ready-fd N``, with ``GOLIVE_NODE_ID``
``<node id>-<i>``) that listens on the same RTMP and HTTP ports with SO_REUSEPORT, so the
kernel spreads new connections over them, and on a port of its own, advertised as its
node_url. A publisher reaches one child, which takes the channel's publish lease and
packages the stream, once; a viewer's request reaching another child is sent on to it
(http/channel_forwarding.py). Shared state goes through Redis, so workers need redis_url.

The parent passes SIGINT, SIGTERM and SIGHUP on, starts a child again when one dies (after a
pause that doubles up to 30 s while they keep dying), and exits once every child has stopped;
killed outright (SIGKILL), it takes the children along (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from golive.accounts.playback_secret import playback_secret
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.transcode.parent_death import child_preexec

__all__ = ["WorkerPool", "run_workers"]

log = logging.getLogger("golive.workers")

READY_OPTION = "--worker-ready-fd"
START_TIMEOUT = 120.0
RESTART_PAUSE = 1.0
RESTART_PAUSE_MAX = 30.0


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with SO_REUSEPORT, not listening: it picks the port
    when ``port`` is 0 and holds it until the children listen on it beside each other."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


@dataclass
class _Child:
    index: int
    node_id: str
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0


class WorkerPool:
    """Starts, watches and stops the worker processes."""

    def __init__(self, settings: Settings, argv: Sequence[str], count: int) -> None:
        self.settings = settings
        self._argv = list(argv)
        base = settings.node_id or socket.gethostname()
        self._children = [_Child(i, f"{base}-{i}") for i in range(count)]
        self._stopping = False
        self.ports: dict[str, int] = {}
        self._reserved: list[socket.socket] = []

    def reserve_ports(self) -> None:
        s = self.settings
        wanted = {"rtmp_port": s.rtmp_port, "http_port": s.http_port}
        if s.rtmps_enabled:
            wanted["rtmps_port"] = s.rtmps_port
        for name, port in wanted.items():
            sock = reserve_port(s.host, port)
            self._reserved.append(sock)
            self.ports[name] = int(sock.getsockname()[1])

    def release_ports(self) -> None:
        for sock in self._reserved:
            sock.close()
        self._reserved.clear()

    def _command(self, ready_fd: int) -> list[str]:
        # Options given last win: the chosen ports, one process each, the readiness pipe.
        extra = ["--rtmp-port", str(self.ports["rtmp_port"])]
        extra += ["--http-port", str(self.ports["http_port"]), "--workers", "1"]
        extra += [READY_OPTION, str(ready_fd)]
        return [sys.executable, "-m", "golive", *self._argv, *extra]

    def _environment(self, child: _Child) -> dict[str, str]:
        env = dict(os.environ)
        env["GOLIVE_NODE_ID"] = child.node_id
        if child.index > 0:
            # One process only can own the SRT UDP port (libsrt binds it alone): the first.
            env["GOLIVE_SRT_PORT"] = "0"
        if "rtmps_port" in self.ports:
            env["GOLIVE_RTMPS_PORT"] = str(self.ports["rtmps_port"])
        return env

    async def _spawn(self, child: _Child) -> None:
        """Start ``child`` and wait until it says it serves (or fails)."""
        read_fd, write_fd = os.pipe()
        try:
            child.process = await asyncio.create_subprocess_exec(
                *self._command(write_fd),
                env=self._environment(child),
                pass_fds=(write_fd,),
                stdin=asyncio.subprocess.DEVNULL,
                # A parent killed outright takes its workers along: orphans would keep
                # serving and holding their channels' leases as if nothing happened.
                preexec_fn=child_preexec(),
            )
        finally:
            os.close(write_fd)
        loop = asyncio.get_running_loop()
        try:
            ready = await asyncio.wait_for(
                loop.run_in_executor(None, os.read, read_fd, 1), START_TIMEOUT
            )
        finally:
            os.close(read_fd)
        if ready != b"1":
            code = await child.process.wait()
            raise RuntimeError(f"worker {child.node_id} did not start (exit status {code})")
        log.info("worker %s started (pid %d)", child.node_id, child.process.pid)

    async def start(self) -> None:
        await asyncio.gather(*(self._spawn(child) for child in self._children))

    async def watch(self) -> int:
        """Keep every child running until ``stop``; the worst exit status of the last ones."""
        waits = {asyncio.ensure_future(self._watch_one(child)): child for child in self._children}
        statuses = await asyncio.gather(*waits)
        return max(statuses, default=0)

    async def _watch_one(self, child: _Child) -> int:
        pause = RESTART_PAUSE
        while True:
            assert child.process is not None
            status = await child.process.wait()
            if self._stopping:
                return 0 if status in (0, -signal.SIGTERM, -signal.SIGINT) else abs(status)
            log.error(
                "worker %s exited with status %d; starting it again in %.0f s",
                child.node_id,
                status,
                pause,
            )
            await asyncio.sleep(pause)
            if self._stopping:
                return abs(status)
            pause = min(pause * 2, RESTART_PAUSE_MAX)
            child.restarts += 1
            try:
                await self._spawn(child)
            except (RuntimeError, TimeoutError, OSError) as exc:
                log.error("worker %s: %s", child.node_id, exc)

    def signal_all(self, sig: signal.Signals) -> None:
        if sig in (signal.SIGINT, signal.SIGTERM):
            self._stopping = True
        for child in self._children:
            if child.process is not None and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(sig)

    @property
    def node_ids(self) -> list[str]:
        return [child.node_id for child in self._children]


async def _prepare(settings: Settings) -> str | None:
    """The one-time start-up work, done before the workers race for it: the schema, the
    demo channel (its key is shown once, by the parent) and the playback secret file."""
    database = await Database.open(settings)
    try:
        _, demo_key = await ChannelStore(database.sessionmaker).ensure_demo()
    finally:
        await database.close()
    await asyncio.to_thread(playback_secret, settings.playback_token_secret, settings.data_dir)
    return demo_key


def _banner(settings: Settings, pool: WorkerPool, demo_key: str | None) -> str:
    lines = [
        f"golive is running as {len(pool.node_ids)} worker processes "
        f"({', '.join(pool.node_ids)}): RTMP on port {pool.ports['rtmp_port']}, "
        f"HTTP on port {pool.ports['http_port']}",
        f"  RTMP server (OBS 'Server'): {settings.rtmp_base_url}",
    ]
    if settings.srt_port:
        key = demo_key or "<stream key>"
        lines.append(f"  SRT (first worker only): {settings.srt_publish_url(key)}")
    if demo_key is not None:
        lines += [
            "  Created channel 'demo'. Its stream key (shown once, keep it secret):",
            f"    {demo_key}",
        ]
    lines.append(f"  Watch: {settings.watch_url('demo')}")
    return "\n".join(lines)


async def serve_workers(settings: Settings, argv: Sequence[str], count: int) -> int:
    demo_key = await _prepare(settings)
    pool = WorkerPool(settings, argv, count)
    pool.reserve_ports()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, pool.signal_all, sig)
    try:
        await pool.start()
    except BaseException:
        pool.signal_all(signal.SIGTERM)
        raise
    finally:
        pool.release_ports()
    print(_banner(settings, pool, demo_key), flush=True)
    return await pool.watch()


def run_workers(settings: Settings, argv: Sequence[str], count: int) -> int:
    """Entry point of `golive serve` with more than one worker."""
    return asyncio.run(serve_workers(settings, argv, count))
