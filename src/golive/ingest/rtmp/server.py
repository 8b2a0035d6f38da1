"""asyncio adapter around :class:`RtmpServerSession`: sockets, timeouts, authorization.

One :class:`asyncio.Protocol` per connection on the running loop (so uvloop's fast
transports are used when installed). The protocol feeds bytes to the sans-I/O session
(and ``b""`` when the peer closes or the connection is lost), writes what it answers, runs
the app's ``authorize`` callable when a client asks to publish, and forwards the tracks,
frames and metadata the session demuxed to the :class:`StreamSink` that ``authorize``
returned.

Every refusal, error and timeout is logged once on ``golive.ingest.rtmp`` with the peer
address and, once known, the app, the first four characters of the stream key (the key
is a secret; it is never logged whole, nor is an app path that may hold one) and, once the
authorizer has resolved it, ``channel=NAME``.

Resources a peer can hold are bounded: connections in all and per address, time to reach
``connect`` and to publish, message sizes (see the session), and what it makes us write:
when our write buffer to a peer passes ``write_buffer_limit`` we stop reading from it (it
gets no more replies until it reads), and a peer that keeps it there for
``write_stall_timeout`` seconds is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

from golive.ingest.rtmp.handshake import HandshakeError
from golive.ingest.rtmp.redaction import mask_app, mask_key
from golive.ingest.rtmp.session import (
    ClosingConnection,
    ConnectionEnded,
    ConnectRequested,
    Event,
    MetadataReceived,
    PublishRequested,
    RtmpProtocolError,
    RtmpServerSession,
    Unpublished,
)
from golive.media.frame import Frame, Track

__all__ = [
    "Authorizer",
    "PublishRefused",
    "PublishRequest",
    "RtmpLimits",
    "RtmpServer",
    "StreamSink",
]

log = logging.getLogger("golive.ingest.rtmp")

# After close() a transport waits for its write buffer to drain; a peer that stopped
# reading would keep it open forever, so it is aborted after this many seconds.
_CLOSE_GRACE = 5.0
# How long a refused client may keep its connection open to read why (see _close).
_LINGER = 2.0
# The status that asks a publisher to reconnect (Enhanced RTMP v2); older clients see an
# error status and a close, and reconnect if they are set up to.
RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"


class PublishRefused(Exception):
    """Raised by an authorizer to refuse a publish; the client gets ``code``/``description``."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass
class PublishRequest:
    """What an authorizer learns about a publish attempt."""

    app: str
    stream_name: str  # the stream key: never log it whole
    query: str
    remote_addr: str
    disconnect: Callable[[str], None]  # kick the publisher later (onStatus error + close)


class StreamSink(Protocol):
    """Receives one publish's tracks, frames and metadata (the live layer implements it)."""

    def on_track(self, track: Track) -> None: ...
    def on_frame(self, frame: Frame) -> None: ...
    def on_metadata(self, metadata: Mapping[str, object]) -> None: ...
    def on_close(self, reason: str) -> None: ...


Authorizer = Callable[[PublishRequest], Awaitable[StreamSink]]


@dataclass(frozen=True)
class RtmpLimits:
    """Resource limits of the RTMP server (per connection unless stated otherwise)."""

    handshake_timeout: float = 10.0  # from accept until the client asks to publish
    # From accept until the RTMP handshake is done and connect received (and the TLS
    # handshake for RTMPS): real clients need a few round trips; idle sockets are cut early.
    connect_timeout: float = 5.0
    idle_timeout: float = 30.0  # no bytes at all from the client
    max_message_size: int = 16 * 1024 * 1024  # audio/video, once a publish is accepted
    max_command_size: int = 64 * 1024  # every message before publish; commands/data always
    max_chunk_size: int = 1024 * 1024
    max_chunk_streams: int = 64
    max_connections: int = 1000  # for the whole server
    max_connections_per_address: int = 10
    write_buffer_limit: int = 64 * 1024  # unsent bytes at which we stop reading from a peer
    write_stall_timeout: float = 10.0  # how long a peer may leave them unread
    allowed_apps: tuple[str, ...] = ("live",)
    authorize_timeout: float = 10.0  # how long the app's authorizer may take


class RtmpServer:
    """RTMP ingest server: accepts publishers and feeds their media to the app's sinks."""

    def __init__(self, authorize: Authorizer, limits: RtmpLimits | None = None) -> None:
        self.authorize = authorize
        # Read by each new connection: replacing it (a settings reload) affects new ones only.
        self.limits = limits or RtmpLimits()
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        self._reuse_port = False
        self._connections: set[_Connection] = set()
        self._per_address: dict[str, int] = {}
        self._auth_tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound TCP port (useful after ``start(host, 0)``)."""
        return _bound_port(self._server)

    @property
    def tls_port(self) -> int:
        """The bound RTMPS port (after ``start_tls``)."""
        return _bound_port(self._tls_server)

    @property
    def tls_enabled(self) -> bool:
        return self._tls_server is not None

    @property
    def connection_count(self) -> int:
        """Connections currently open (RTMP and RTMPS)."""
        return len(self._connections)

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Listen on ``host:port`` (port 0 picks a free port, see :attr:`port`); with
        ``reuse_port``, beside other processes listening on the same port (SO_REUSEPORT: the
        kernel spreads new connections over them)."""
        self._reuse_port = reuse_port
        self._server = await self._listen(host, port, None)
        log.info("RTMP ingest listening on %s:%d", host, self.port)

    async def start_tls(self, host: str, port: int, context: ssl.SSLContext) -> None:
        """Also listen for RTMPS (RTMP inside TLS) on ``host:port``: same sessions, same limits."""
        self._tls_server = await self._listen(host, port, context)
        log.info("RTMPS ingest listening on %s:%d", host, self.tls_port)

    async def _listen(self, host: str, port: int, context: ssl.SSLContext | None) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: _Connection(self),
            host,
            port,
            backlog=1024,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
            ssl=context,
            ssl_handshake_timeout=self.limits.connect_timeout if context else None,
        )

    def stop_listening(self) -> None:
        """Accept no new connections; open ones go on."""
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()

    def request_reconnect(self, reason: str) -> None:
        """Ask every client to reconnect (the server is restarting), then close them."""
        for conn in list(self._connections):
            conn.shutdown(reason, code=RECONNECT_REQUEST)

    async def close(self) -> None:
        """Stop listening, tell every client the server is going away and close them."""
        self.stop_listening()
        for conn in list(self._connections):
            conn.shutdown("server is shutting down")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while self._connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self._connections):
            conn.abort()
        while self._connections and loop.time() < deadline + 1.0:
            await asyncio.sleep(0.01)
        # Authorizations still running would otherwise outlive the server.
        tasks = [t for t in self._auth_tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in (self._server, self._tls_server):
            if server is not None:
                await server.wait_closed()
        self._server = self._tls_server = None


def _bound_port(server: asyncio.Server | None) -> int:
    if server is None or not server.sockets:
        raise RuntimeError("RTMP server is not started")
    return int(server.sockets[0].getsockname()[1])


class _Connection(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: RtmpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._loop = asyncio.get_running_loop()
        limits = self._limits
        self._session = RtmpServerSession(
            max_message_size=limits.max_message_size,
            max_command_size=limits.max_command_size,
            max_chunk_size=limits.max_chunk_size,
            max_chunk_streams=limits.max_chunk_streams,
            allowed_apps=limits.allowed_apps,
        )
        self._transport: asyncio.Transport | None = None
        self.peer = "?"
        self.address = ""  # the peer's IP address, what max_connections_per_address counts
        self._closing = False
        self._close_reason = ""
        self._sink: StreamSink | None = None
        self._lost: Exception | None = None  # what connection_lost was given, for its log line
        self._authorizing = False
        self._last_rx = self._loop.time()
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._connect_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None
        # The stream's channel and id once publishing (the sink's log_extra), on every line.
        self._log_extra: dict[str, object] = {}

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, so no isinstance check.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple) and len(peername) >= 2:
            host = str(peername[0])
            self.address = host
            self.peer = f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
        server = self._server
        limits = self._limits
        if len(server._connections) >= limits.max_connections:
            log.warning(
                "rtmp %s: connection refused: %d connections already open (max_connections)",
                self.peer,
                len(server._connections),
                extra=self._log_extra,
            )
            self._closing = True
            transport.abort()
            return
        from_address = server._per_address.get(self.address, 0)
        if from_address >= limits.max_connections_per_address:
            # Nothing to say in RTMP before the handshake: the refusal is the close.
            log.warning(
                "rtmp %s: connection refused: %d connections already open from %s "
                "(max_connections_per_address)",
                self.peer,
                from_address,
                self.address,
                extra=self._log_extra,
            )
            self._closing = True
            transport.abort()
            return
        server._connections.add(self)
        server._per_address[self.address] = from_address + 1
        transport.set_write_buffer_limits(high=limits.write_buffer_limit)
        self._handshake_timer = self._loop.call_later(
            limits.handshake_timeout, self._handshake_expired
        )
        self._connect_timer = self._loop.call_later(limits.connect_timeout, self._connect_expired)
        self._idle_timer = self._loop.call_later(self._limits.idle_timeout, self._idle_check)

    def data_received(self, data: bytes) -> None:
        self._last_rx = self._loop.time()
        if not self._closing:
            self._feed(data)

    def eof_received(self) -> bool | None:
        if not self._closing:  # else we are lingering: this is the client's close we await
            self._feed(b"")  # ConnectionEnded: the sink is closed
        return None  # close the transport; connection_lost does the rest

    def pause_writing(self) -> None:
        # The peer is not reading what we send: stop reading what it sends (every message
        # may need a reply), and give it write_stall_timeout to catch up.
        self._write_paused = True
        if self._transport is not None and not self._authorizing and not self._closing:
            self._transport.pause_reading()
        if self._stall_timer is None:
            self._stall_timer = self._loop.call_later(
                self._limits.write_stall_timeout, self._write_stalled
            )

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        if self._transport is not None and not self._authorizing and not self._closing:
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        server = self._server
        if self in server._connections:
            server._connections.discard(self)
            left = server._per_address.get(self.address, 1) - 1
            if left > 0:
                server._per_address[self.address] = left
            else:
                server._per_address.pop(self.address, None)
        for timer in (
            self._handshake_timer,
            self._connect_timer,
            self._idle_timer,
            self._abort_timer,
            self._stall_timer,
        ):
            if timer is not None:
                timer.cancel()
        if not self._closing:
            self._lost = exc
            self._feed(b"")  # ConnectionEnded: logged, the sink is closed
        self._closing = True
        self._end_sink(self._close_reason)

    # -- controls used by the server and the live layer ------------------------------------

    def disconnect(self, reason: str) -> None:
        """Kick the publisher: onStatus error with ``reason``, then close."""
        if self._closing:
            return
        log.warning(
            "rtmp %s: disconnecting publisher: %s", self._context(), reason, extra=self._log_extra
        )
        self._session.fail(reason)
        self._flush()
        self._close(reason, linger=True)

    def shutdown(self, reason: str, code: str = "NetStream.Failed") -> None:
        if self._closing:
            return
        if code == RECONNECT_REQUEST:
            self._session.request_reconnect(reason)
        else:
            self._session.fail(reason, code)
        self._flush()
        self._close(reason, linger=True)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- internals -------------------------------------------------------------------------

    def _context(self) -> str:
        session = self._session
        app = mask_app(session.app, self._limits.allowed_apps) if session.app else ""
        channel = self._log_extra.get("channel")
        where = f" channel={channel}" if channel is not None else ""
        if session.stream_name:
            return f"{self.peer} {app}/{mask_key(session.stream_name)}{where}"
        if app:
            return f"{self.peer} {app}{where}"
        return self.peer + where

    def _flush(self) -> None:
        out = self._session.data_to_send()
        if out and self._transport is not None:
            self._transport.write(out)

    def _close(self, reason: str, *, linger: bool = False) -> None:
        """Close the connection; with ``linger``, first let the client read our last words.

        A publisher only looks for server messages between its own writes: closing at once
        would make its next write fail with a reset before it reads the error status we
        just sent. So we send FIN, keep reading (and discarding) for a moment, and close
        when the client does or the moment is over.
        """
        transport = self._transport
        if transport is None or self._abort_timer is not None:
            return
        if not self._closing:
            self._closing = True
            self._close_reason = reason
        for timer in (self._handshake_timer, self._connect_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        if linger and transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                pass  # the peer is gone already: plain close below
            else:
                transport.resume_reading()
                self._abort_timer = self._loop.call_later(_LINGER, self._linger_over)
                return
        transport.close()
        self._abort_timer = self._loop.call_later(_CLOSE_GRACE, transport.abort)

    def _linger_over(self) -> None:
        assert self._transport is not None
        self._transport.close()
        self._abort_timer = self._loop.call_later(_CLOSE_GRACE, self._transport.abort)

    def _fail(self, reason: str, *, client_message: str | None = None) -> None:
        """Log ``reason`` once, tell the client and close."""
        log.warning("rtmp %s: %s; closing", self._context(), reason, extra=self._log_extra)
        self._session.fail(client_message if client_message is not None else reason)
        self._flush()
        self._close(reason, linger=True)

    def _end_sink(self, reason: str) -> None:
        sink = self._sink
        if sink is None:
            return
        self._sink = None
        try:
            sink.on_close(reason)
        except Exception:
            log.exception(
                "rtmp %s: stream sink failed in on_close", self._context(), extra=self._log_extra
            )

    def _feed(self, data: bytes | None) -> None:
        """Feed ``data`` to the session (``b""``: the peer closed) and act on its events;
        ``None`` resumes the messages the session held while the publish was authorized."""
        session = self._session
        try:
            events = session.receive_data(data) if data is not None else session.resume()
        except HandshakeError as exc:
            log.warning(
                "rtmp %s: bad handshake: %s; closing", self._context(), exc, extra=self._log_extra
            )
            self._close(f"bad handshake: {exc}")
            return
        except RtmpProtocolError as exc:
            log.warning(
                "rtmp %s: protocol error: %s; closing", self._context(), exc, extra=self._log_extra
            )
            self._flush()
            self._close(f"protocol error: {exc}")
            return
        except Exception:
            # A bug on our side (the session or the FLV demuxer): the client is told.
            self._internal_error("internal error while reading")
            return
        self._flush()
        if events:
            self._handle_events(events)

    def _handle_events(self, events: list[Event]) -> None:
        for event in events:
            if self._closing:  # also when the sink disconnected us
                return
            # Frames are nearly every event: test for them first.
            if type(event) is Frame:
                sink = self._sink
                if sink is not None:
                    try:
                        sink.on_frame(event)
                    except Exception:
                        self._internal_error("stream sink raised")
            elif type(event) is Track:
                sink = self._sink
                if sink is not None:
                    try:
                        sink.on_track(event)
                    except Exception:
                        self._internal_error("stream sink raised")
            elif isinstance(event, ConnectRequested):
                if self._connect_timer is not None:
                    self._connect_timer.cancel()
                    self._connect_timer = None
                log.debug("rtmp %s: connected", self._context(), extra=self._log_extra)
            elif isinstance(event, PublishRequested):
                self._start_authorize(event)
            elif isinstance(event, MetadataReceived):
                if self._sink is not None:
                    try:
                        self._sink.on_metadata(event.values)
                    except Exception:
                        self._internal_error("stream sink raised")
            elif isinstance(event, Unpublished):
                log.info("rtmp %s: publisher unpublished", self._context(), extra=self._log_extra)
                self._end_sink("publisher unpublished")
            elif isinstance(event, ClosingConnection):
                # A refusal, or media the server cannot take (unsupported codec, malformed
                # FLV): the session has sent the client its error status already.
                log.warning(
                    "rtmp %s: %s; closing", self._context(), event.reason, extra=self._log_extra
                )
                self._flush()
                self._close(event.reason, linger=True)
            elif isinstance(event, ConnectionEnded):
                lost = self._lost
                if lost is not None:
                    reason = f"connection lost: {lost}"
                else:
                    reason = "connection closed by the publisher"
                log.info("rtmp %s: %s", self._context(), reason, extra=self._log_extra)
                self._closing = True
                self._close_reason = reason
                self._end_sink(reason)

    def _internal_error(self, what: str) -> None:
        """A bug on our side (sink, demuxer): log the traceback, tell the client, close."""
        log.exception("rtmp %s: %s; closing", self._context(), what, extra=self._log_extra)
        self._session.fail("internal server error")
        self._flush()
        self._close("internal server error", linger=True)

    def _start_authorize(self, event: PublishRequested) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        assert self._transport is not None
        self._transport.pause_reading()
        self._authorizing = True
        request = PublishRequest(
            app=self._session.app,
            stream_name=event.stream_name,
            query=event.query,
            remote_addr=self.peer,
            disconnect=self.disconnect,
        )
        task = self._loop.create_task(self._authorize(request))
        self._server._auth_tasks.add(task)
        task.add_done_callback(self._server._auth_tasks.discard)

    async def _authorize(self, request: PublishRequest) -> None:
        try:
            sink = await asyncio.wait_for(
                self._server.authorize(request), self._limits.authorize_timeout
            )
        except PublishRefused as exc:
            self._authorizing = False
            if self._closing:
                return
            log.warning(
                "rtmp %s: publish refused: %s (%s); closing",
                self._context(),
                exc.description,
                exc.code,
                extra=self._log_extra,
            )
            self._session.reject_publish(exc.code, exc.description)
            self._flush()
            self._close(f"publish refused: {exc.description}", linger=True)
            return
        except TimeoutError:
            self._authorizing = False
            if not self._closing:
                self._fail(
                    f"authorization took longer than {self._limits.authorize_timeout:g} s",
                    client_message="server error: publish authorization timed out",
                )
            return
        except Exception:
            self._authorizing = False
            if self._closing:
                log.exception("rtmp %s: authorizer raised", self._context(), extra=self._log_extra)
            else:
                self._internal_error("authorizer raised")
            return
        self._authorizing = False
        if self._closing:
            # The client went away while we were deciding: the sink still gets its close.
            try:
                sink.on_close(self._close_reason or "connection closed")
            except Exception:
                log.exception(
                    "rtmp %s: stream sink failed in on_close",
                    self._context(),
                    extra=self._log_extra,
                )
            return
        self._sink = sink
        self._log_extra = dict(getattr(sink, "log_extra", None) or {})
        self._session.accept_publish()
        self._flush()
        log.info("rtmp %s: publishing", self._context(), extra=self._log_extra)
        assert self._transport is not None
        if not self._write_paused:  # else resume_writing resumes reading
            self._transport.resume_reading()
        self._feed(None)  # messages the session held while we decided

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self._closing or self._authorizing:
            return
        self._fail(
            f"no publish within {self._limits.handshake_timeout:g} s "
            f"(session {self._session.state})",
            client_message="timed out waiting for publish",
        )

    def _connect_expired(self) -> None:
        self._connect_timer = None
        if self._closing:
            return
        log.warning(
            "rtmp %s: no RTMP handshake and connect within %g s (connect_timeout); closing",
            self._context(),
            self._limits.connect_timeout,
            extra=self._log_extra,
        )
        self._close(f"no connect within {self._limits.connect_timeout:g} s")

    def _write_stalled(self) -> None:
        self._stall_timer = None
        transport = self._transport
        if transport is None or not self._write_paused:
            return
        unsent = transport.get_write_buffer_size()
        log.warning(
            "rtmp %s: peer does not read: %d bytes unsent for %g s (write_stall_timeout); "
            "disconnecting",
            self._context(),
            unsent,
            self._limits.write_stall_timeout,
            extra=self._log_extra,
        )
        if not self._closing:
            self._closing = True
            self._close_reason = "peer does not read what the server sends"
        transport.abort()

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._closing:
            return
        now = self._loop.time()
        timeout = self._limits.idle_timeout
        if self._authorizing:
            self._last_rx = now  # reading is paused: silence is ours, not the client's
        elapsed = now - self._last_rx
        if elapsed >= timeout:
            self._fail(f"no data for {elapsed:.0f} s (idle_timeout)")
            return
        self._idle_timer = self._loop.call_later(timeout - elapsed, self._idle_check)
