"""The `golive serve` process: runs the server until a stop signal, reloads its settings on
SIGHUP, and prints the banner (or tells worker_processes.py it serves)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from golive.app.server import GoliveServer
from golive.config import Settings
from golive.log_format import configure_logging

log = logging.getLogger("golive")


def _banner(settings: Settings, server: GoliveServer) -> str:
    rtmps = f", RTMPS on port {server.rtmps_port}" if settings.rtmps_enabled else ""
    lines = [
        f"golive is running: RTMP on port {server.rtmp_port}{rtmps}, "
        f"HTTP on port {server.http_port}",
        f"  RTMP server (OBS 'Server'): {settings.rtmp_base_url}",
    ]
    srt_port = server.srt.port if server.srt is not None else 0
    if srt_port:
        key = server.demo_key or "<stream key>"
        lines.append(
            f"  SRT (MPEG-TS, UDP port {srt_port}): {settings.srt_publish_url(key, srt_port)}"
        )
    if server.restored:
        lines.append(f"  Waiting for publishers to resume: {', '.join(server.restored)}")
    if server.demo_key is not None:
        lines += [
            "  Created channel 'demo'. Its stream key (shown once, keep it secret):",
            f"    {server.demo_key}",
            f"  Publish with ffmpeg: ffmpeg -re -i INPUT -c copy -f flv "
            f"{settings.rtmp_publish_url(server.demo_key)}",
        ]
    else:
        lines.append("  Channel 'demo' exists; new key: golive channel rotate-key demo")
    lines.append(f"  Watch: {settings.watch_url('demo')}")
    return "\n".join(lines)


async def serve(
    settings: Settings,
    reload: Callable[[], Settings] | None = None,
    *,
    worker_ready_fd: int | None = None,
) -> None:
    """Run until SIGINT or SIGTERM; SIGHUP re-reads the settings through ``reload``.

    ``worker_ready_fd``: this process is a worker of worker_processes.py, which is told on
    that pipe when it serves (and prints the banner for all of them)."""
    server = GoliveServer(settings, worker=worker_ready_fd is not None)
    await server.start()
    if worker_ready_fd is None:
        print(_banner(settings, server), flush=True)
    else:
        log.info("worker %s serving", server.node_id)
        os.write(worker_ready_fd, b"1")
        os.close(worker_ready_fd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    def on_stop_signal() -> None:
        if stop.is_set():
            log.error("second stop signal: exiting at once")
            os._exit(1)
        stop.set()

    async def reload_settings() -> None:
        assert reload is not None
        try:
            new = await asyncio.to_thread(reload)
        except Exception as exc:
            log.error("settings not reloaded, keeping the running ones: %s", exc)
            return
        await server.reload(new)

    def on_hangup() -> None:
        if reload is None:
            log.warning("SIGHUP: nothing to reload from")
            return
        task = loop.create_task(reload_settings())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop_signal)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    try:
        await stop.wait()
    finally:
        log.info("shutting down (deadline %g s)", server.settings.shutdown_timeout)
        await server.stop()


def run(
    settings: Settings,
    reload: Callable[[], Settings] | None = None,
    *,
    worker_ready_fd: int | None = None,
) -> int:
    """Entry point of `golive serve` (of one worker, with ``worker_ready_fd``)."""
    configure_logging(settings.log_level, settings.log_format)
    main = serve(settings, reload, worker_ready_fd=worker_ready_fd)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        asyncio.run(main)
    else:
        uvloop.run(main)
    return 0
