"""SRT ingest: one libsrt listener socket, many publishers, each demuxed as MPEG-TS.

Threads and who owns what:

* **libsrt's receive thread** runs our listen callback for every caller's handshake. The
  stream id is parsed there (stream_id.py) and the publish is *checked* on the event loop
  with ``run_coroutine_threadsafe(...).result(...)``: a wrong key, a channel already live or
  a shutting-down server is refused *in the handshake*, with an SRT reject code the caller
  sees (admission_answer.py). The check has no side effect: libsrt verifies the passphrase
  only after the callback has let the caller in, so nothing may go live yet. While it waits,
  that thread (one per UDP port, shared by every connection on it) receives nothing, so the
  wait is bounded by ``admission_timeout`` (default 3 s; a database lookup takes
  milliseconds); the caller's handshake is retried by libsrt meanwhile. A checked caller is
  remembered (its stream key) until libsrt hands us its socket; if the handshake fails
  after the callback (a wrong or missing passphrase) that is logged and it is forgotten.
* **The admission** runs on the loop once the socket is accepted (the whole handshake,
  passphrase included, succeeded). Bytes that arrive meanwhile wait, counted as pending. If
  it refuses now (another publisher went live in between, the on_publish hook said no), the
  connection is closed with a log line saying why.
* **Our I/O thread** is the only thread that calls libsrt apart from the callback: it waits
  in ``srt_epoll_uwait`` on the listener and every accepted socket, accepts, receives (each
  ``srt_recvmsg`` gives one SRT packet, up to 1456 bytes), closes, and enforces the idle
  timeout. What one wake-up produced goes to the loop in one ``call_soon_threadsafe``.
  The bytes the loop has not demuxed yet are counted per connection; a publisher that gets
  ``max_pending_bytes`` ahead of the loop is disconnected (logged), so memory stays bounded.
* **The event loop** never calls libsrt (so it can never wait on libsrt's locks while the
  callback waits on it). It owns each connection's ``TsDemuxer`` and the publisher's sink,
  and asks the I/O thread to close a socket through a queue (picked up within 0.1 s).

TS problems (lost packets, a truncated PES) are logged, at most one line per connection per
``problem_log_interval`` with a count of the rest, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from golive.ingest.srt import libsrt
from golive.ingest.srt.frame_interleaver import FrameInterleaver
from golive.ingest.srt.libsrt import EPOLL_ERR, EPOLL_IN, SrtError
from golive.ingest.srt.reject_codes import (
    REJX_BAD_MODE,
    REJX_BAD_REQUEST,
    REJX_DOWN,
    REJX_ISE,
    REJX_OVERLOAD,
)
from golive.ingest.srt.stream_id import StreamIdError, parse_stream_id
from golive.media.frame import Frame, Track
from golive.media.mpegts import TsDemuxer, TsProblem

__all__ = [
    "Authorizer",
    "Checker",
    "SrtLimits",
    "SrtPublish",
    "SrtRefused",
    "SrtServer",
    "StreamSink",
]

log = logging.getLogger("golive.ingest.srt")

_POLL_MS = 100
_REFUSED_CLOSE_DELAY = 1.0  # s, see SrtServer._refused
_RECV_BURST = 512  # packets read from one socket per wake-up before the others get a turn


class StreamSink(Protocol):
    """Receives one publish's tracks and frames (the live layer implements it)."""

    def on_track(self, track: Track) -> None: ...
    def on_frame(self, frame: Frame) -> None: ...
    def on_close(self, reason: str) -> None: ...


@dataclass(frozen=True)
class SrtPublish:
    """A caller asking to publish, as the authorizer sees it."""

    stream_key: str  # never log it whole
    remote_addr: str
    disconnect: Callable[[str], None]


class SrtRefused(Exception):
    """The authorizer's refusal: the SRT reject code for the caller and a log message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# Raises SrtRefused when the publish would be refused; must change nothing (the handshake
# can still fail after it).
Checker = Callable[[SrtPublish], Awaitable[None]]
# The publish's sink, or SrtRefused.
Authorizer = Callable[[SrtPublish], Awaitable[StreamSink]]


@dataclass(frozen=True)
class SrtLimits:
    latency_ms: int = 120  # SRTO_LATENCY: libsrt's live-mode default (srt.h)
    passphrase: str = ""  # empty: no encryption; else 10..79 characters
    max_connections: int = 100  # checked and connected publishers, whole listener
    admission_timeout: float = 3.0  # for the check (the handshake callback) and the admission
    handshake_timeout: float = 5.0  # from the check until libsrt hands us the socket
    idle_timeout: float = 10.0  # no media bytes from a connected publisher
    max_pending_bytes: int = 32 * 1024 * 1024  # received, not yet demuxed by the loop
    problem_log_interval: float = 10.0


@dataclass(eq=False)
class _Connection:
    """One publisher, on the loop."""

    sock: int
    remote_addr: str
    server: SrtServer
    sink: StreamSink | None = None  # None until admitted
    backlog: list[bytes] = field(default_factory=list)  # received while being admitted
    ended: str = ""  # why it was closed
    refused: str = ""  # the admission refused it: closed on its first bytes or at the timer
    timer: asyncio.TimerHandle | None = None
    demuxer: TsDemuxer = field(default_factory=TsDemuxer)
    interleaver: FrameInterleaver = field(default_factory=FrameInterleaver)
    closed: bool = False
    flushing: bool = False  # delivering the last frames after closed was set
    problems_logged_at: float = -1e9
    problems_suppressed: int = 0

    def log_extra(self) -> Mapping[str, object]:
        extra = getattr(self.sink, "log_extra", None)
        return extra if isinstance(extra, Mapping) else {}

    def disconnect(self, reason: str) -> None:
        """The live layer ends this publish (no keyframe, over its bitrate, key revoked)."""
        if self.closed:
            return
        log.warning("srt %s: disconnecting: %s", self.remote_addr, reason, extra=self.log_extra())
        self.server._close_socket(self.sock)
        self.finish(reason)

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        self._forward(self.demuxer.feed(data))

    def finish(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True  # a disconnect from the sink while flushing does not come back here
        self.ended = reason
        if self.timer is not None:
            self.timer.cancel()
        self.flushing = True
        try:
            self._forward(self.demuxer.end())
            self._deliver(self.interleaver.flush())
        finally:
            self.flushing = False
        self.server._forget(self)
        if self.problems_suppressed:
            self._log_problems_suppressed()
        if self.sink is not None:
            try:
                self.sink.on_close(reason)
            except Exception:
                log.exception("srt %s: stream sink failed in on_close", self.remote_addr)

    def _forward(self, events: list[Track | Frame | TsProblem]) -> None:
        for event in events:
            if self.closed and not self.flushing:
                return
            if isinstance(event, TsProblem):
                self._problem(event)
            elif isinstance(event, Frame):
                self._deliver(self.interleaver.frame(event))
            else:
                self._deliver(self.interleaver.track(event))

    def _deliver(self, events: Sequence[Track | Frame]) -> None:
        sink = self.sink
        for event in events:
            if (self.closed and not self.flushing) or sink is None:
                return
            try:
                if isinstance(event, Frame):
                    sink.on_frame(event)
                else:
                    sink.on_track(event)
            except Exception:
                log.exception("srt %s: stream sink failed", self.remote_addr)
                self.server._close_socket(self.sock)
                if self.flushing:
                    self.flushing = False  # finish() goes on to on_close
                else:
                    self.finish("internal server error")
                return

    def _problem(self, problem: TsProblem) -> None:
        now = time.monotonic()
        if now - self.problems_logged_at < self.server.limits.problem_log_interval:
            self.problems_suppressed += 1
            return
        if self.problems_suppressed:
            self._log_problems_suppressed()
        self.problems_logged_at = now
        log.warning(
            "srt %s: MPEG-TS %s (pid %d): %s",
            self.remote_addr,
            problem.kind.value,
            problem.pid,
            problem.message,
            extra=self.log_extra(),
        )

    def _log_problems_suppressed(self) -> None:
        log.warning(
            "srt %s: %d more MPEG-TS problems",
            self.remote_addr,
            self.problems_suppressed,
            extra=self.log_extra(),
        )
        self.problems_suppressed = 0


@dataclass(eq=False)
class _Checked:
    """A caller whose publish was checked in its handshake, not accepted yet (loop)."""

    remote_addr: str
    stream_key: str
    timer: asyncio.TimerHandle


@dataclass(eq=False)
class _IoState:
    """One accepted socket, on the I/O thread."""

    last_data: float
    pending: int = 0  # bytes posted to the loop and not yet demuxed (under the server's lock)


class SrtServer:
    """The SRT listener (see the module doc)."""

    def __init__(
        self, check: Checker, authorize: Authorizer, limits: SrtLimits | None = None
    ) -> None:
        self._check_publish = check
        self._authorize = authorize
        self.limits = limits or SrtLimits()
        self._srt: libsrt.Srt | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener = -1
        self._eid = -1
        self._callback: object = None  # the ctypes callback, kept alive with the listener
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._closing = False
        self._commands: queue.SimpleQueue[int] = queue.SimpleQueue()  # sockets to close
        self._lock = threading.Lock()
        self._io: dict[int, _IoState] = {}  # I/O thread only (pending under _lock)
        self._handshakes = 0  # callbacks in progress (libsrt's thread)
        # Checked in the callback, not accepted yet: watched by the I/O thread, because the
        # passphrase is checked after the callback and a failure there is not reported.
        self._handshaking: set[int] = set()
        self._checked: dict[int, _Checked] = {}  # the same, on the loop
        self._active: dict[int, _Connection] = {}  # accepted: being admitted or publishing
        self._admissions: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def connection_count(self) -> int:
        return len(self._checked) + len(self._active)

    # -- start and stop (loop) -------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._srt = await asyncio.to_thread(libsrt.load)
        await asyncio.to_thread(self._open, host, port)
        self._thread = threading.Thread(target=self._run, name="srt-io", daemon=True)
        self._thread.start()
        log.info("SRT ingest listening on %s:%d (UDP)", host, self.port)

    def _open(self, host: str, port: int) -> None:
        srt = self._srt
        assert srt is not None
        sock = srt.create_socket()
        try:
            srt.set_int(sock, libsrt.SRTO_TRANSTYPE, libsrt.SRTT_LIVE)
            srt.set_bool(sock, libsrt.SRTO_RCVSYN, False)  # accepted sockets inherit it
            srt.set_int(sock, libsrt.SRTO_LATENCY, self.limits.latency_ms)
            if self.limits.passphrase:
                srt.set_str(sock, libsrt.SRTO_PASSPHRASE, self.limits.passphrase)
            srt.bind(sock, host, port)
            self._callback = srt.set_listen_callback(sock, self._on_handshake)
            srt.listen(sock, 64)
            self.port = srt.local_port(sock)
            self._eid = srt.epoll_create()
            srt.epoll_add(self._eid, sock, EPOLL_IN | EPOLL_ERR)
        except BaseException:
            srt.close(sock)
            raise
        self._listener = sock

    def stop_listening(self) -> None:
        """Refuse new publishers (shutdown); connected ones go on until close()."""
        self._closing = True

    async def close(self) -> None:
        self._closing = True
        for checked in self._checked.values():
            checked.timer.cancel()
        self._checked.clear()
        for conn in list(self._active.values()):
            conn.finish("server is shutting down")
        if self._admissions:  # each ends the publish it may still open (its connection closed)
            await asyncio.wait(self._admissions, timeout=self.limits.admission_timeout + 1.0)
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
            self._thread = None

    # -- the handshake (libsrt's receive thread) ------------------------------------------------

    def _on_handshake(self, sock: int, peer: str, stream_id: str | None) -> int:
        loop = self._loop
        if self._closing or loop is None or self._stopping.is_set():
            log.warning("srt %s: refused: server is shutting down", peer)
            return REJX_DOWN
        if self.connection_count + self._handshakes >= self.limits.max_connections:
            log.warning(
                "srt %s: refused: %d SRT connections already (max_connections)",
                peer,
                self.limits.max_connections,
            )
            return REJX_OVERLOAD
        try:
            key = parse_stream_id(stream_id)
        except StreamIdError as exc:
            log.warning("srt %s: refused: %s", peer, exc)
            return REJX_BAD_MODE if exc.problem.wrong_mode else REJX_BAD_REQUEST
        self._handshakes += 1
        try:
            future = asyncio.run_coroutine_threadsafe(self._check(sock, peer, key), loop)
            code = future.result(self.limits.admission_timeout + 1.0)
            if code == 0:
                with self._lock:
                    self._handshaking.add(sock)
            return code
        except (concurrent.futures.TimeoutError, TimeoutError):
            # The loop is stalled; should the check still pass, its entry expires unused.
            log.error("srt %s: refused: the publish check did not answer in time", peer)
            return REJX_DOWN
        except RuntimeError:  # the loop is closed
            return REJX_DOWN
        except Exception:
            log.exception("srt %s: refused: the publish check failed", peer)
            return REJX_ISE
        finally:
            self._handshakes -= 1

    async def _check(self, sock: int, peer: str, key: str) -> int:
        try:
            await asyncio.wait_for(
                self._check_publish(SrtPublish(key, peer, _nothing_to_disconnect)),
                self.limits.admission_timeout,
            )
        except SrtRefused as refused:
            log.warning(
                "srt %s: publish refused (SRT code %d): %s", peer, refused.code, refused.message
            )
            return refused.code
        except TimeoutError:
            log.error(
                "srt %s: publish refused: the publish check took over %g s",
                peer,
                self.limits.admission_timeout,
            )
            return REJX_DOWN
        if self._closing:
            return REJX_DOWN
        timer = asyncio.get_running_loop().call_later(
            self.limits.handshake_timeout, self._handshake_expired, sock
        )
        self._checked[sock] = _Checked(peer, key, timer)
        return 0

    def _handshake_expired(self, sock: int) -> None:
        self._handshake_failed(sock, f"not completed {self.limits.handshake_timeout:g} s after")

    def _handshake_failed(self, sock: int, how: str) -> None:
        checked = self._checked.pop(sock, None)
        if checked is None:
            return
        checked.timer.cancel()
        log.warning(
            "srt %s: the SRT handshake failed %s the publish check passed%s; nothing was opened",
            checked.remote_addr,
            how,
            " (a wrong or missing passphrase?)" if self.limits.passphrase else "",
        )

    def _connected(self, sock: int) -> None:
        """libsrt accepted a checked caller's socket: admit the publish now."""
        checked = self._checked.pop(sock, None)
        if checked is None or self._closing:
            log.warning("SRT socket %d: connected after its publish check was dropped", sock)
            self._close_socket(sock)
            return
        checked.timer.cancel()
        conn = _Connection(sock, checked.remote_addr, self)
        self._active[sock] = conn
        task = asyncio.get_running_loop().create_task(self._admit(conn, checked.stream_key))
        self._admissions.add(task)
        task.add_done_callback(self._admissions.discard)

    async def _admit(self, conn: _Connection, key: str) -> None:
        peer = conn.remote_addr
        try:
            sink = await asyncio.wait_for(
                self._authorize(SrtPublish(key, peer, conn.disconnect)),
                self.limits.admission_timeout,
            )
        except SrtRefused as refused:
            # Checked in the handshake, refused now: another publisher went live in between,
            # or the on_publish hook said no. The caller sees its connection closed.
            self._refused(
                conn,
                f"publish refused after the handshake (SRT code {refused.code}): {refused.message}",
            )
            return
        except TimeoutError:
            log.error("srt %s: the admission took over %g s", peer, self.limits.admission_timeout)
            conn.disconnect("publish refused: the admission did not answer in time")
            return
        except Exception:
            log.exception("srt %s: the admission failed", peer)
            conn.disconnect("internal server error")
            return
        if conn.closed:  # the caller left, or the server is closing, meanwhile
            sink.on_close(conn.ended)
            return
        conn.sink = sink
        log.info("srt %s: publishing", peer, extra=conn.log_extra())
        backlog, conn.backlog = conn.backlog, []
        for data in backlog:
            self._feed(conn.sock, conn, data)

    def _refused(self, conn: _Connection, reason: str) -> None:
        if conn.backlog or conn.closed:
            conn.disconnect(reason)
            return
        # Nothing received yet: the caller may not have taken the handshake's last answer,
        # and libsrt drops a close that overtakes it (the caller would only notice at its
        # peer idle timeout, 5 s). Close on its first bytes, or after a moment.
        conn.refused = reason
        conn.timer = asyncio.get_running_loop().call_later(
            _REFUSED_CLOSE_DELAY, conn.disconnect, reason
        )

    # -- the loop's side of the I/O thread ---------------------------------------------------

    def _forget(self, conn: _Connection) -> None:
        if self._active.get(conn.sock) is conn:
            del self._active[conn.sock]

    def _close_socket(self, sock: int) -> None:
        self._commands.put(sock)

    def _feed(self, sock: int, conn: _Connection | None, data: bytes) -> None:
        if conn is not None:
            conn.feed(data)
        with self._lock:
            state = self._io.get(sock)
            if state is not None:
                state.pending -= len(data)

    def _deliver(self, batch: list[tuple[int, int, bytes | str]]) -> None:
        """What one wake-up of the I/O thread produced, in order."""
        for kind, sock, value in batch:
            if kind == _FAILED:
                self._handshake_failed(sock, "right after")
            elif kind == _ACCEPTED:
                self._connected(sock)
            elif kind == _DATA:
                assert isinstance(value, bytes)
                conn = self._active.get(sock)
                if conn is not None and conn.refused:
                    conn.disconnect(conn.refused)
                elif conn is not None and conn.sink is None and not conn.closed:
                    conn.backlog.append(value)  # still pending: fed once admitted
                    continue
                self._feed(sock, conn, value)
            else:
                conn = self._active.get(sock)
                if conn is not None and not conn.closed:
                    log.info("srt %s: %s", conn.remote_addr, value, extra=conn.log_extra())
                    conn.finish(str(value))

    # -- the I/O thread ------------------------------------------------------------------------

    def _run(self) -> None:
        srt = self._srt
        assert srt is not None and self._loop is not None
        events = srt.epoll_events(256)
        buf = srt.packet_buffer()
        last_sweep = time.monotonic()
        try:
            while not self._stopping.is_set():
                batch: list[tuple[int, int, bytes | str]] = []
                self._run_commands(srt)
                try:
                    ready = srt.epoll_wait(self._eid, events, _POLL_MS)
                except SrtError as exc:
                    log.error("SRT listener: %s", exc)
                    time.sleep(0.1)
                    continue
                now = time.monotonic()
                for sock, flags in ready:
                    if sock == self._listener:
                        self._accept(srt, batch, now)
                    elif sock in self._io:
                        self._receive(srt, sock, flags, buf, batch, now)
                if self._handshaking:
                    self._watch_handshakes(srt, batch)
                if now - last_sweep >= 1.0:
                    last_sweep = now
                    self._sweep_idle(srt, batch, now)
                if batch and not self._post(batch):
                    break
        finally:
            for sock in list(self._io):
                srt.close(sock)
            self._io.clear()
            srt.close(self._listener)
            srt.epoll_release(self._eid)

    def _watch_handshakes(self, srt: libsrt.Srt, batch: list[tuple[int, int, bytes | str]]) -> None:
        with self._lock:
            handshaking = list(self._handshaking)
        for sock in handshaking:
            if sock in self._io:  # accepted
                gone = True
            elif srt.state(sock) >= libsrt.SRTS_BROKEN:
                gone = True
                batch.append((_FAILED, sock, ""))
            else:
                gone = False
            if gone:
                with self._lock:
                    self._handshaking.discard(sock)

    def _post(self, batch: list[tuple[int, int, bytes | str]]) -> bool:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._deliver, batch)
        except RuntimeError:  # the loop is closed: nobody to hand bytes to
            return False
        return True

    def _run_commands(self, srt: libsrt.Srt) -> None:
        while True:
            try:
                sock = self._commands.get_nowait()
            except queue.Empty:
                return
            if self._io.pop(sock, None) is not None:
                srt.epoll_remove(self._eid, sock)
            srt.close(sock)

    def _accept(
        self, srt: libsrt.Srt, batch: list[tuple[int, int, bytes | str]], now: float
    ) -> None:
        while True:
            try:
                sock = srt.accept(self._listener)
            except SrtError as exc:
                log.warning("SRT accept failed: %s", exc)
                return
            if sock is None:
                return
            try:
                srt.epoll_add(self._eid, sock, EPOLL_IN | EPOLL_ERR)
            except SrtError as exc:
                log.warning("SRT socket %d: %s", sock, exc)
                srt.close(sock)
                continue
            with self._lock:
                self._io[sock] = _IoState(last_data=now)
            batch.append((_ACCEPTED, sock, ""))

    def _receive(
        self,
        srt: libsrt.Srt,
        sock: int,
        flags: int,
        buf: libsrt.Buffer,
        batch: list[tuple[int, int, bytes | str]],
        now: float,
    ) -> None:
        chunks: list[bytes] = []
        reason = ""
        for _ in range(_RECV_BURST):
            try:
                n = srt.recv_into(sock, buf)
            except SrtError as exc:
                reason = f"connection ended ({exc.strerror})"
                break
            if n <= 0:
                break
            chunks.append(buf.raw[:n])
        if not chunks and not reason and flags & EPOLL_ERR:
            reason = "connection ended"
        if chunks:
            data = b"".join(chunks)
            state = self._io[sock]
            state.last_data = now
            with self._lock:
                state.pending += len(data)
                too_far = state.pending > self.limits.max_pending_bytes
            if too_far:
                log.warning(
                    "SRT socket %d: disconnecting a publisher the server cannot keep up with "
                    "(%d bytes not yet processed)",
                    sock,
                    state.pending,
                )
                reason = "disconnected: the server cannot keep up with this stream"
            else:
                batch.append((_DATA, sock, data))
        if reason:
            self._drop(srt, sock, reason, batch)

    def _sweep_idle(
        self, srt: libsrt.Srt, batch: list[tuple[int, int, bytes | str]], now: float
    ) -> None:
        limit = self.limits.idle_timeout
        for sock, state in list(self._io.items()):
            if now - state.last_data > limit:
                self._drop(srt, sock, f"disconnected: no data for {limit:g} s", batch)
            elif srt.state(sock) > libsrt.SRTS_CONNECTED:
                self._drop(srt, sock, "connection ended", batch)

    def _drop(
        self, srt: libsrt.Srt, sock: int, reason: str, batch: list[tuple[int, int, bytes | str]]
    ) -> None:
        if self._io.pop(sock, None) is None:
            return
        srt.epoll_remove(self._eid, sock)
        srt.close(sock)
        batch.append((_CLOSED, sock, reason))


_ACCEPTED = 0
_DATA = 1
_CLOSED = 2
_FAILED = 3  # the handshake failed after the check


def _nothing_to_disconnect(reason: str) -> None:
    """A check opens nothing, so it has nothing to disconnect."""
