"""Composition root: builds every layer and runs them in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator, Sequence

import uvicorn

from golive.config import Settings
from golive.db.channels import ChannelStore, stream_key_hint
from golive.db.engine import Database
from golive.http.app import create_app
from golive.ingest.rtmp.server import (
    PublishRefused,
    PublishRequest,
    RtmpLimits,
    RtmpServer,
    StreamSink,
)
from golive.live.consumer import StreamConsumer
from golive.live.hub import StreamHub
from golive.live.registry import AlreadyPublishing, StreamRegistry
from golive.log_format import configure_logging
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import LiveStore

log = logging.getLogger("golive")


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our loop: signals are ours to handle, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class GoliveServer:
    """Everything `golive serve` runs: database, RTMP ingest, live registry, HTTP origin."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = LiveStore()
        self.registry = StreamRegistry(
            consumer_factory=self._consumers_for,
            reconnect_grace=settings.reconnect_grace,
            keyframe_timeout=settings.keyframe_timeout,
        )
        self.db: Database | None = None
        self.channels: ChannelStore | None = None
        self.rtmp: RtmpServer | None = None
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_socket: socket.socket | None = None
        self.demo_key: str | None = None

    @property
    def rtmp_port(self) -> int:
        assert self.rtmp is not None
        return self.rtmp.port

    @property
    def http_port(self) -> int:
        assert self._http_socket is not None
        return int(self._http_socket.getsockname()[1])

    async def start(self) -> None:
        s = self.settings
        self.db = await Database.open(s)
        self.channels = ChannelStore(self.db.sessionmaker)
        _, self.demo_key = await self.channels.ensure_demo()
        limits = RtmpLimits(
            handshake_timeout=s.rtmp_handshake_timeout,
            idle_timeout=s.rtmp_idle_timeout,
            max_message_size=s.rtmp_max_message_size,
            max_chunk_size=s.rtmp_max_chunk_size,
            max_connections=s.rtmp_max_connections,
        )
        self.rtmp = RtmpServer(self._authorize, limits)
        await self.rtmp.start(s.host, s.rtmp_port)
        self._http_socket = _listen(s.host, s.http_port)
        app = create_app(self.store, channel_exists=self._channel_exists)
        config = uvicorn.Config(
            app,
            lifespan="off",
            access_log=False,
            log_level="warning",
            http="httptools",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._http = _EmbeddedUvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[self._http_socket]))
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.rtmp is not None:
            await self.rtmp.close()
        self.registry.close()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
        if self.db is not None:
            await self.db.close()

    # -- wiring -------------------------------------------------------------------------------

    def _consumers_for(self, hub: StreamHub) -> Sequence[StreamConsumer]:
        s = self.settings
        media = self.store.open(hub.channel, hub.stream_id)
        return [
            HlsStreamPackager(
                media,
                part_target=s.part_target,
                segment_target=s.segment_target,
                window_segments=s.live_window_segments,
                log_extra=hub.log_extra,
            )
        ]

    async def _authorize(self, request: PublishRequest) -> StreamSink:
        assert self.channels is not None
        channel = await self.channels.authenticate(request.stream_name)
        if channel is None:
            log.warning(
                "publish refused: unknown stream key %s… from %s",
                stream_key_hint(request.stream_name),
                request.remote_addr,
            )
            raise PublishRefused("NetStream.Publish.BadName", "Invalid stream key")
        try:
            return self.registry.open_publisher(channel.name, disconnect=request.disconnect)
        except AlreadyPublishing:
            log.warning(
                "publish refused: channel %s is already live (second publisher from %s)",
                channel.name,
                request.remote_addr,
            )
            raise PublishRefused(
                "NetStream.Publish.BadName", f"Channel {channel.name} is already live"
            ) from None

    async def _channel_exists(self, name: str) -> bool:
        assert self.channels is not None
        return await self.channels.get(name) is not None


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _banner(settings: Settings, server: GoliveServer) -> str:
    lines = [
        f"golive is running: RTMP on port {server.rtmp_port}, HTTP on port {server.http_port}",
        f"  RTMP server (OBS 'Server'): {settings.rtmp_base_url}",
    ]
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


async def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM."""
    server = GoliveServer(settings)
    await server.start()
    print(_banner(settings, server), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await server.stop()


def run(settings: Settings) -> int:
    """Entry point of `golive serve`."""
    configure_logging(settings.log_level)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
    return 0
