"""StreamForwarder: a live stream forwarded to its channel's restream destinations.

A StreamConsumer. Each frame becomes one FLV tag (``media.flv_writer``), written as-is to
one ffmpeg child per destination, which copies it to the destination's RTMP(S) URL
(``-c copy``: no re-encode). Nothing here may hold up the live stream or the other
destinations:

- every child's stdin is an asyncio write transport, written without waiting; a child whose
  backlog passes ``max_buffer`` bytes (the destination stopped taking data) is killed and
  failed as "destination stalled";
- a child that exits is failed with the last line of its (redacted) stderr;
- a destination that is not live within ``connect_timeout`` is failed;
- a failed destination waits out its backoff (``destination.Backoff``) and starts again at
  the next keyframe, with fresh FLV and sequence headers.

A timeline break (publisher reconnect) or a change of the tracks restarts the children at
the next keyframe, so each destination gets one clean timeline per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field

from golive.media.flv_writer import FlvMuxer, flv_file_header, metadata_tag
from golive.media.frame import Frame, Track, TrackKind
from golive.restream.destination import (
    Backoff,
    DestinationConfig,
    DestinationState,
    DestinationStatus,
    DestinationTracker,
)
from golive.restream.ffmpeg_output import ProgressParser, failure_reason, redact

__all__ = ["ForwarderSettings", "StreamForwarder", "restream_argv"]

log = logging.getLogger("golive.restream")

_STDERR_LINES = 5
_STOP_GRACE = 5.0  # seconds a child gets to flush and hang up before it is killed
_SUPPORTED = ("avc1", "mp4a")


@dataclass(frozen=True, slots=True)
class ForwarderSettings:
    ffmpeg: str
    # Runs in each child before exec (dies with the server, lower priority); from app/.
    preexec: Callable[[], None] | None = None
    max_buffer: int = 4 << 20  # bytes queued for one child before it counts as stalled
    connect_timeout: float = 15.0
    backoff: Backoff = field(default_factory=Backoff)


def restream_argv(ffmpeg: str, target: str) -> list[str]:
    """The child's command line. It holds the key: never log it."""
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-progress",
        "pipe:1",
        "-stats_period",
        "1",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        target,
    ]


class _Child:
    """One running ffmpeg and what it printed (redacted)."""

    def __init__(self, proc: asyncio.subprocess.Process, secrets: tuple[str, ...]) -> None:
        self.proc = proc
        self.secrets = secrets
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_LINES)
        self.progress = ProgressParser()
        self.stopping = False

    @property
    def buffered(self) -> int:
        stdin = self.proc.stdin
        return 0 if stdin is None else stdin.transport.get_write_buffer_size()

    def write(self, data: bytes) -> bool:
        stdin = self.proc.stdin
        if stdin is None or stdin.transport.is_closing() or self.stopping:
            return False
        stdin.write(data)
        return True

    def close_input(self) -> None:
        self.stopping = True
        stdin = self.proc.stdin
        if stdin is not None and not stdin.transport.is_closing():
            stdin.close()

    def kill(self) -> None:
        self.stopping = True
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def read_stderr(self) -> None:
        stream = self.proc.stderr
        if stream is None:
            return
        pending = b""
        while data := await stream.read(65536):
            *lines, pending = (pending + data).split(b"\n")
            pending = pending[-4096:]
            for line in lines:
                self._note(line)
        self._note(pending)

    def _note(self, line: bytes) -> None:
        text = redact(line.decode(errors="replace").strip(), self.secrets)[:300]
        if text:
            self.stderr_tail.append(text)


class _Destination:
    def __init__(self, config: DestinationConfig, backoff: Backoff) -> None:
        self.config = config
        self.tracker = DestinationTracker(backoff)
        self.child: _Child | None = None
        self.starting = False  # the child is being spawned; tags wait in ``pending``
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.generation = 0  # bumped per attempt: late events of an old child are ignored
        self.timer: asyncio.TimerHandle | None = None
        self.last_size = 0
        self.last_size_at = 0.0

    @property
    def active(self) -> bool:
        return self.child is not None or self.starting

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.config.target, self.config.key)


class StreamForwarder:
    """Forwards one live stream to its destinations; ``update`` sets which ones."""

    def __init__(
        self,
        settings: ForwarderSettings,
        *,
        log_extra: dict[str, object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._log_extra = dict(log_extra or {})
        self._clock = clock
        self._muxer = FlvMuxer()
        self._tracks: tuple[Track, ...] = ()
        self._video: Track | None = None
        self._destinations: dict[int, _Destination] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsupported = ""
        self._ended = False

    # -- configuration ------------------------------------------------------------------------

    def update(self, configs: Sequence[DestinationConfig]) -> None:
        """The destinations to forward to now: new ones start at the next keyframe, removed
        ones stop, changed ones restart; the others go on untouched."""
        wanted = {c.id: c for c in configs}
        for dest_id in [d for d in self._destinations if d not in wanted]:
            dest = self._destinations.pop(dest_id)
            self._stop(dest, kill=False)
            log.info("restream %d stopped", dest_id, extra=self._extra(dest))
        for config in configs:
            current = self._destinations.get(config.id)
            if current is None:
                self._destinations[config.id] = _Destination(config, self._settings.backoff)
            elif current.config != config:
                self._stop(current, kill=False)
                self._destinations[config.id] = _Destination(config, self._settings.backoff)

    def statuses(self) -> dict[int, DestinationStatus]:
        now = self._clock()
        found: dict[int, DestinationStatus] = {}
        for dest_id, dest in self._destinations.items():
            status = dest.tracker.status(now)
            if self._unsupported and status.state is DestinationState.IDLE:
                status = DestinationStatus(DestinationState.FAILED, self._unsupported)
            found[dest_id] = status
        return found

    @property
    def child_pids(self) -> dict[int, int]:
        return {
            dest_id: dest.child.proc.pid
            for dest_id, dest in self._destinations.items()
            if dest.child is not None
        }

    # -- StreamConsumer -----------------------------------------------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        tracks = tuple(tracks)
        if tracks == self._tracks:
            return
        self._tracks = tracks
        usable = [t for t in tracks if t.sample_entry in _SUPPORTED]
        self._video = next((t for t in usable if t.kind is TrackKind.VIDEO), None)
        skipped = sorted({t.sample_entry for t in tracks if t.sample_entry not in _SUPPORTED})
        # A stream without usable video is not forwarded: the destinations expect video.
        if self._video is None:
            self._unsupported = (
                f"codec {', '.join(skipped)} cannot be restreamed" if skipped else "no video"
            )
        else:
            self._unsupported = ""
        self._muxer.set_tracks(usable)
        self._restart_all("the stream's tracks changed")

    def on_frame(self, frame: Frame) -> None:
        if self._ended or not self._destinations or self._video is None:
            return
        start_point = frame.keyframe and frame.track_id == self._video.id
        tag: bytes | None = None
        now = self._clock()
        for dest in list(self._destinations.values()):
            if not dest.active:
                if not start_point or not dest.tracker.due(now):
                    continue
                self._start(dest)
            if tag is None:
                try:
                    tag = self._muxer.tag(frame)
                except ValueError:
                    return  # a track FLV cannot carry (already left out of the headers)
            self._write(dest, tag)

    def on_discontinuity(self) -> None:
        self._restart_all("the stream's timeline broke")

    def on_end(self) -> None:
        if self._ended:
            return
        self._ended = True
        for dest in self._destinations.values():
            self._stop(dest, kill=False)

    async def aclose(self) -> None:
        """End forwarding and wait until every child is reaped."""
        self.on_end()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def kill(self) -> None:
        for dest in self._destinations.values():
            if dest.child is not None:
                dest.child.kill()

    # -- children -----------------------------------------------------------------------------

    def _start(self, dest: _Destination) -> None:
        video = self._video
        assert video is not None
        dest.generation += 1
        dest.tracker.connecting()
        header = flv_file_header(
            video=True, audio=any(t.kind is TrackKind.AUDIO for t in self._usable_tracks())
        )
        header += metadata_tag(video, None)
        header += b"".join(self._muxer.sequence_header(t) for t in self._usable_tracks())
        dest.pending = [header]
        dest.pending_bytes = len(header)
        dest.starting = True
        loop = asyncio.get_running_loop()
        dest.timer = loop.call_later(
            self._settings.connect_timeout, self._connect_timed_out, dest, dest.generation
        )
        self._spawn_task(self._run(dest, dest.generation))
        log.info("restream %d connecting", dest.config.id, extra=self._extra(dest))

    def _usable_tracks(self) -> list[Track]:
        return [t for t in self._tracks if t.sample_entry in _SUPPORTED]

    def _write(self, dest: _Destination, tag: bytes) -> None:
        limit = self._settings.max_buffer
        if dest.child is None:
            if dest.pending_bytes + len(tag) > limit:
                self._fail(dest, "destination stalled")
                return
            dest.pending.append(tag)
            dest.pending_bytes += len(tag)
        elif dest.child.buffered + len(tag) > limit:
            self._fail(dest, "destination stalled")
        else:
            dest.child.write(tag)

    async def _run(self, dest: _Destination, generation: int) -> None:
        s = self._settings
        try:
            proc = await asyncio.create_subprocess_exec(
                *restream_argv(s.ffmpeg, dest.config.target),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=s.preexec,
                start_new_session=True,
            )
        except OSError as exc:
            if dest.generation == generation and dest.starting:
                dest.starting = False
                self._fail(dest, f"ffmpeg could not start: {exc.strerror or exc}")
            return
        child = _Child(proc, dest.secrets)
        if dest.generation != generation or not dest.starting or self._ended:
            child.kill()  # stopped while it was starting
            await proc.wait()
            return
        dest.starting = False
        dest.child = child
        for data in dest.pending:
            child.write(data)
        dest.pending = []
        dest.pending_bytes = 0
        dest.last_size, dest.last_size_at = 0, self._clock()
        stderr = asyncio.create_task(child.read_stderr())
        try:
            await self._read_progress(dest, child, generation)
            code = await proc.wait()
            with contextlib.suppress(Exception):
                await stderr
        finally:
            if proc.returncode is None:
                child.kill()
                await proc.wait()
            stderr.cancel()
        if dest.generation == generation and dest.child is child and not child.stopping:
            reason = failure_reason(child.stderr_tail) or f"ffmpeg exited ({code})"
            self._fail(dest, reason)

    async def _read_progress(self, dest: _Destination, child: _Child, generation: int) -> None:
        stdout = child.proc.stdout
        if stdout is None:
            return
        while data := await stdout.read(4096):
            if dest.generation != generation:
                continue  # keep draining: a full pipe would stall the child
            for block in child.progress.feed(data):
                self._progress(dest, block.total_size)

    def _progress(self, dest: _Destination, total: int) -> None:
        now = self._clock()
        tracker = dest.tracker
        if total > 0 and tracker.state is DestinationState.CONNECTING:
            tracker.live(now)
            if dest.timer is not None:
                dest.timer.cancel()
                dest.timer = None
            log.info("restream %d live", dest.config.id, extra=self._extra(dest))
        if tracker.state is DestinationState.LIVE:
            elapsed = now - dest.last_size_at
            if elapsed > 0.2:
                tracker.bitrate_bps = max(0, total - dest.last_size) * 8 / elapsed
                dest.last_size, dest.last_size_at = total, now
            tracker.settle(now)

    def _connect_timed_out(self, dest: _Destination, generation: int) -> None:
        dest.timer = None
        if dest.generation == generation and dest.tracker.state is DestinationState.CONNECTING:
            self._fail(dest, f"not connected within {self._settings.connect_timeout:g} s")

    def _fail(self, dest: _Destination, reason: str) -> None:
        if self._destinations.get(dest.config.id) is not dest:
            return
        self._stop(dest, kill=True)
        reason = redact(reason, dest.secrets)
        delay = dest.tracker.failed(reason, self._clock())
        log.warning(
            "restream %d failed: %s; retrying in %g s",
            dest.config.id,
            reason,
            delay,
            extra=self._extra(dest),
        )

    def _stop(self, dest: _Destination, *, kill: bool) -> None:
        """End the current attempt (the child hangs up, or is killed); the tracker says
        what comes next."""
        dest.generation += 1
        dest.starting = False
        dest.pending = []
        dest.pending_bytes = 0
        if dest.timer is not None:
            dest.timer.cancel()
            dest.timer = None
        child, dest.child = dest.child, None
        if child is not None:
            if kill:
                child.kill()
            else:
                child.close_input()
                self._spawn_task(self._reap(child))
        if dest.tracker.state is not DestinationState.FAILED:
            dest.tracker.idle()

    async def _reap(self, child: _Child) -> None:
        try:
            async with asyncio.timeout(_STOP_GRACE):
                await child.proc.wait()
        except TimeoutError:
            child.kill()
            await child.proc.wait()

    def _restart_all(self, reason: str) -> None:
        for dest in self._destinations.values():
            if dest.active:
                log.info(
                    "restream %d restarting: %s", dest.config.id, reason, extra=self._extra(dest)
                )
                self._stop(dest, kill=False)

    def _spawn_task(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _extra(self, dest: _Destination) -> dict[str, object]:
        return {**self._log_extra, "restream_id": dest.config.id}
