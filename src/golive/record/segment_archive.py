"""The archive writer: every completed segment of a recorded rendition goes to storage and
its row to the index, in the background, without the live path ever waiting.

One ``SegmentArchive`` per process, one ``ArchiveSession`` per recorded live session (a
StreamHub, across its publisher reconnects). The packager hands each completed segment to
its session (``segment_done``: synchronous, O(1): a reference to the segment's bytes goes on
the session's queue, nothing is copied).

**Concurrency.** Each session with queued work has its own worker task, which drains that
session's queue in order: the recording's row, then per segment its init segment (once per
init id and rendition), the segment, and its index row; then the recording's end. So the
order holds within a recording (and within each of its renditions), while different
recordings upload side by side: with a store taking 50 ms a put, one worker for the process
would cap it at 20 segments a second, whatever the number of streams. At most
``max_concurrent`` storage or index calls run at once (a semaphore), which bounds the
connections to the store; a worker ends when its session's queue is empty.

**Retry.** A failed step (storage or index) is retried with exponential backoff (0.1 s
doubling, capped at 10 s) until it succeeds; one log line says storage started failing and
one that it recovered, not one per retry (for the whole archive, not per session). Later jobs
of the same session wait behind it, so the order holds; other sessions go on.

**Bound.** Queued segment bytes are bounded (``buffer_bytes``, all sessions together). Past
it, the oldest queued segments of any session are dropped (counted, logged once per episode) and the next segment of the same
rendition that is stored carries ``gap_before``. Memory is the bound plus the segments in
flight (one per session at most). Nothing already stored is touched.

**Loss.** The first segment a recording loses (dropped past the bound, given up at the end,
or never writable because its row could not be made) is reported once per recording through
``on_loss`` (the app sends ``recording.failed`` with ``partial`` true): the reason (the
storage error), the program date-time the hole starts at and the renditions hit. The
recording goes on: once storage is back it gets the following segments, and it is finished
(``recording.ready``) with the gap marked.

**New timeline.** A session opened with ``new_timeline`` (a recording continued after the
process was killed: the live stream is a new one, its packager starts over) marks the first
stored segment of each rendition as a discontinuity.

**Fencing.** A session writes with its recording's fencing token (the channel's publish lease
token; 0 in a single process). When the index refuses a write because another node took the
channel over with a larger token and continues the recording, the session is *fenced*: one
log line says so, and nothing more of it is written or retried (its queued segments are let
go, without a loss report: the recording goes on elsewhere; it is not finished here).

**End.** A session that has ended waits at most ``flush_timeout`` for storage: past it, its
unwritten segments are given up and the recording is finished with what was stored.
``close`` waits (bounded) for the queue to drain; what is left then is finished by the next
start-up, which closes recordings no live stream continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from golive.record.recording_index import (
    RecordingIndex,
    RecordingSummary,
    Superseded,
    is_stale_writer,
)
from golive.record.storage_keys import UnsafeKey, check_rendition, init_key, segment_key
from golive.record.vod_publisher import publish_vod
from golive.record.vod_thumbnail import VodThumbnails
from golive.store.dvr_history import ChannelDvr
from golive.store.live_window import StoredSegment
from golive.store.object_store import ObjectStore

log = logging.getLogger("golive.record")

FIRST_RETRY_DELAY = 0.1
MAX_RETRY_DELAY = 10.0
# Storage and index calls in flight at once, all sessions together: enough for 100 streams
# of 2 recorded renditions on a store answering a put in 50 ms (200 puts a second need 10),
# few enough not to open hundreds of connections to it.
MAX_CONCURRENT = 32


@dataclass(slots=True)
class ArchiveStats:
    """Counters the metrics collector reads when scraped."""

    bytes_written: int = 0
    segments_written: int = 0
    segments_dropped: int = 0
    storage_errors: int = 0
    queued_bytes: int = 0
    recordings_in_progress: int = 0


@dataclass(frozen=True, slots=True)
class RecordingLoss:
    """A recording has a hole: reported once, when its first segment is lost."""

    recording_id: str
    channel: str
    stream_id: str
    reason: str
    lost_from: float  # program date-time (epoch s) of the first lost segment
    rendition: str


@dataclass(eq=False, slots=True)
class _Start:
    session: ArchiveSession


@dataclass(eq=False, slots=True)
class _Segment:
    session: ArchiveSession
    rendition: str
    segment: StoredSegment | None  # None once dropped: its bytes are released
    init: bytes | None
    size: int
    completed_at: float
    program_date_time: float
    msn: int = 0
    dropped: bool = False
    gap_before: bool = False
    stored: bool = False  # the object is in storage (only the index row is left)


@dataclass(eq=False, slots=True)
class _Finish:
    session: ArchiveSession
    ended_at: float


_Job = _Start | _Segment | _Finish


@dataclass(eq=False)
class ArchiveSession:
    """The recording of one live session: the packager's ``SegmentSink``."""

    archive: SegmentArchive
    recording_id: str
    channel: str
    stream_id: str
    started_at: float
    records_rendition: Callable[[str], bool]
    next_sequences: dict[str, int] = field(default_factory=dict)
    log_extra: dict[str, object] = field(default_factory=dict)
    ended: bool = False
    # The recording's row could not be made: nothing of it is written.
    broken: bool = False
    # The fencing token its writes carry; ``fenced``: a larger one took the recording over.
    fence_token: int = 0
    fenced: bool = False
    # The live stream's DVR, told of every recorded segment, where it is stored, and of
    # those lost (see store.dvr_history); None without DVR.
    dvr: ChannelDvr | None = None
    abandon_at: float | None = None  # archive clock: when its unwritten segments are given up
    # The live stream starts a new timeline (continued after a kill): first segments marked.
    new_timeline: bool = False
    segments_lost: int = 0
    _inits: dict[tuple[str, int], str] = field(default_factory=dict)
    _gaps: set[str] = field(default_factory=set)  # renditions with segments dropped
    _accepted: set[str] = field(default_factory=set)
    _started_timeline: set[str] = field(default_factory=set)  # renditions stored since open
    _refused: set[str] = field(default_factory=set)
    _jobs: deque[_Job] = field(default_factory=deque)  # this session's work, in order
    _worker: asyncio.Task[None] | None = None

    def segment_done(self, rendition: str, segment: StoredSegment, init: bytes | None) -> None:
        """A segment of ``rendition`` is complete; ``init`` is its init segment's bytes.

        Called on the live path: never blocks, never raises for storage trouble.
        """
        if self.ended or self.fenced or rendition in self._refused:
            return
        if rendition not in self._accepted:
            if not self.records_rendition(rendition):
                self._refused.add(rendition)
                return
            try:
                check_rendition(self.recording_id, rendition)
            except UnsafeKey as exc:
                self._refused.add(rendition)
                log.error("rendition not recorded: %s", exc, extra=self.log_extra)
                return
            self._accepted.add(rendition)
        if self.dvr is not None:
            self.dvr.add(rendition, segment, init)
        self.archive.enqueue_segment(self, rendition, segment, init)

    def end(self, ended_at: float | None = None) -> None:
        """The live session ended: finish the recording once its segments are stored."""
        if self.ended:
            return
        self.ended = True
        self.archive.enqueue_end(self, time.time() if ended_at is None else ended_at)

    def detach(self) -> None:
        """Stop recording without finishing (graceful restart: the next run continues it)."""
        self.ended = True
        self.archive.stats.recordings_in_progress -= 1


class SegmentArchive:
    def __init__(
        self,
        store: ObjectStore,
        index: RecordingIndex,
        *,
        buffer_bytes: int,
        flush_timeout: float = 30.0,
        on_finished: Callable[[RecordingSummary], None] | None = None,
        on_stored: Callable[[float], None] | None = None,
        thumbnails: VodThumbnails | None = None,
        on_loss: Callable[[RecordingLoss], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_retry_delay: float = FIRST_RETRY_DELAY,
        max_retry_delay: float = MAX_RETRY_DELAY,
        max_concurrent: int = MAX_CONCURRENT,
    ) -> None:
        self.store = store
        self.index = index
        self.buffer_bytes = buffer_bytes
        self.flush_timeout = flush_timeout
        self.on_finished = on_finished
        self.on_stored = on_stored  # upload lag: segment complete -> stored and indexed
        self.thumbnails = thumbnails  # the VOD's still, made when it is finished
        self.on_loss = on_loss  # a recording's first lost segment (once per recording)
        self._clock = clock
        self._first_delay = first_retry_delay
        self._max_delay = max_retry_delay
        self.stats = ArchiveStats()
        # Queued segments of every session, oldest first (a dict: taken out in any order).
        self._pending: dict[_Segment, None] = {}
        self._busy: set[ArchiveSession] = set()  # sessions with queued or running work
        self._slots = asyncio.Semaphore(max_concurrent)
        self._started = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._failing_since: float | None = None
        self._last_error = ""
        self._dropping = False

    # -- the live side (synchronous, O(1)) ------------------------------------------------------

    def open(
        self,
        recording_id: str,
        *,
        channel: str,
        stream_id: str,
        started_at: float,
        records_rendition: Callable[[str], bool],
        next_sequences: dict[str, int] | None = None,
        new_timeline: bool = False,
        log_extra: dict[str, object] | None = None,
        fence_token: int = 0,
    ) -> ArchiveSession:
        """A session for a recording; a new one (``next_sequences`` None) gets its row first.

        ``new_timeline``: an existing recording continued by a new live stream (its first
        stored segment of each rendition is a discontinuity). ``fence_token``: the token of
        the channel's publish lease, carried by every write (a recording taken over from
        another node is claimed with it first, by the caller).
        """
        session = ArchiveSession(
            self,
            recording_id,
            channel,
            stream_id,
            started_at,
            records_rendition,
            next_sequences=dict(next_sequences or {}),
            new_timeline=new_timeline,
            log_extra={**(log_extra or {}), "recording_id": recording_id},
            fence_token=fence_token,
        )
        self.stats.recordings_in_progress += 1
        if next_sequences is None:
            self._push(_Start(session))
        log.info("recording %s", recording_id, extra=session.log_extra)
        return session

    def enqueue_segment(
        self, session: ArchiveSession, rendition: str, segment: StoredSegment, init: bytes | None
    ) -> None:
        size = len(segment.data)
        job = _Segment(
            session,
            rendition,
            segment,
            init,
            size,
            self._clock(),
            segment.program_date_time,
            segment.msn,
        )
        self._pending[job] = None
        self.stats.queued_bytes += size
        self._push(job)
        while self.stats.queued_bytes > self.buffer_bytes and self._pending:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            self._drop(oldest)

    def enqueue_end(self, session: ArchiveSession, ended_at: float) -> None:
        session.abandon_at = self._clock() + self.flush_timeout
        self._push(_Finish(session, ended_at))

    def _push(self, job: _Job) -> None:
        session = job.session
        session._jobs.append(job)
        self._busy.add(session)
        self._idle.clear()
        if self._started and session._worker is None:
            session._worker = asyncio.get_running_loop().create_task(self._run(session))

    def _drop(self, job: _Segment) -> None:
        job.dropped = True
        job.segment = None
        job.init = None
        self.stats.queued_bytes -= job.size
        self._lost(
            job,
            f"recording buffer full while storage is failing ({self._last_error or 'slow'})",
        )
        if not self._dropping:
            self._dropping = True
            log.error(
                "recording buffer full (%d MiB): dropping the oldest unwritten segments; the "
                "recordings will have gaps",
                self.buffer_bytes // (1024 * 1024),
            )

    def _lost(self, job: _Segment, reason: str) -> None:
        session = job.session
        self.stats.segments_dropped += 1
        session._gaps.add(job.rendition)
        if session.dvr is not None:
            session.dvr.lost(job.rendition, job.msn)
        session.segments_lost += 1
        if session.segments_lost > 1:
            return
        log.error(
            "recording %s lost a segment of %s, it will have a gap: %s",
            session.recording_id,
            job.rendition,
            reason,
            extra=session.log_extra,
        )
        if self.on_loss is not None:
            loss = RecordingLoss(
                session.recording_id,
                session.channel,
                session.stream_id,
                reason,
                job.program_date_time,
                job.rendition,
            )
            try:
                self.on_loss(loss)
            except Exception:
                log.exception("recording listener failed", extra=session.log_extra)

    # -- the workers (one per session with work) -------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        for session in self._busy:
            if session._worker is None:
                session._worker = loop.create_task(self._run(session))

    async def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until everything queued is written; whether it was."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float) -> None:
        """Drain the queues (at most ``timeout`` s), then stop the workers."""
        if not await self.flush(timeout):
            log.error(
                "recordings: %d segment bytes were not stored before shutdown (the next start "
                "finishes these recordings with what was stored)",
                self.stats.queued_bytes,
            )
        workers = [s._worker for s in self._busy if s._worker is not None]
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._started = False

    async def _run(self, session: ArchiveSession) -> None:
        """Do ``session``'s jobs in order until its queue is empty."""
        try:
            while session._jobs:
                job = session._jobs.popleft()
                if isinstance(job, _Segment):
                    if job.dropped:
                        continue
                    del self._pending[job]
                    self.stats.queued_bytes -= job.size
                    # Every segment of this rendition dropped so far came before this one.
                    job.gap_before = job.rendition in session._gaps
                    session._gaps.discard(job.rendition)
                await self._perform(job)
        finally:
            session._worker = None
            if not session._jobs:
                self._busy.discard(session)
            if not self._busy:
                self._dropping = False
                self._idle.set()

    async def _perform(self, job: _Job) -> None:
        session = job.session
        if session.broken:
            if isinstance(job, _Segment):
                self._lost(job, f"the recording could not be created ({self._last_error})")
            elif isinstance(job, _Finish):
                self.stats.recordings_in_progress -= 1
            return
        if session.fenced:
            self._let_go(job)
            return
        delay = self._first_delay
        while True:
            try:
                async with self._slots:
                    await self._attempt(job)
            except Exception as exc:
                if is_stale_writer(exc):
                    self._fence(job, exc)
                    return
                self._failed(job, exc)
                if session.abandon_at is not None and self._clock() >= session.abandon_at:
                    self._give_up(job)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_delay)
            else:
                self._recovered()
                return

    async def _attempt(self, job: _Job) -> None:
        session = job.session
        rid = session.recording_id
        if isinstance(job, _Start):
            await self.index.create(
                rid,
                channel=session.channel,
                stream_id=session.stream_id,
                started_at=session.started_at,
                fence_token=session.fence_token,
            )
        elif isinstance(job, _Segment):
            seg = job.segment
            assert seg is not None
            sequence = session.next_sequences.get(job.rendition, 0)
            init = session._inits.get((job.rendition, seg.init_id))
            if init is None:
                if job.init is None:
                    raise LookupError(f"init segment {seg.init_id} of {job.rendition} is missing")
                key = init_key(rid, job.rendition, sequence, session.fence_token)
                await self.store.put(key, job.init)
                session._inits[(job.rendition, seg.init_id)] = init = key
            key = segment_key(rid, job.rendition, sequence, session.fence_token)
            if not job.stored:
                await self.store.put(key, seg.data)
                job.stored = True
                if session.dvr is not None:
                    # Readable from now on: the DVR lets go of the bytes it held.
                    session.dvr.stored(job.rendition, job.msn, key)
            await self.index.add_segment(
                rid,
                rendition=job.rendition,
                sequence=sequence,
                media_start=seg.media_start,
                timescale=seg.timescale,
                duration=seg.duration,
                byte_size=job.size,
                program_date_time=seg.program_date_time,
                storage_key=key,
                init_key=init,
                discontinuity=seg.discontinuity
                or (session.new_timeline and job.rendition not in session._started_timeline),
                gap_before=job.gap_before,
                fence_token=session.fence_token,
            )
            session._started_timeline.add(job.rendition)
            session.next_sequences[job.rendition] = sequence + 1
            job.segment = job.init = None
            self.stats.bytes_written += job.size
            self.stats.segments_written += 1
            if self.on_stored is not None:
                self.on_stored(self._clock() - job.completed_at)
        else:
            # A paused node's end may be the first job it runs on waking: check it still holds
            # the recording before writing the VOD's objects (finish, below, is fenced too,
            # but it comes after them).
            if session.fence_token > 0 and not await self.index.claim(rid, session.fence_token):
                raise Superseded(f"a larger fencing token than {session.fence_token} holds it")
            # The VOD's playlists first: a recording is never "ready" without them, and one
            # left "recording" (storage down past the flush timeout) is finished by a start-up.
            await publish_vod(self.store, self.index, rid, self.thumbnails)
            summary = await self.index.finish(
                rid, ended_at=job.ended_at, fence_token=session.fence_token
            )
            self.stats.recordings_in_progress -= 1
            log.info(
                "recording %s %s: %.1f s, %d bytes",
                rid,
                summary.status,
                summary.duration,
                summary.bytes,
                extra=session.log_extra,
            )
            if self.on_finished is not None:
                try:
                    self.on_finished(summary)
                except Exception:
                    log.exception("recording listener failed", extra=session.log_extra)

    def _fence(self, job: _Job, exc: Exception) -> None:
        """Another node holds the recording now: stop writing it (logged once a session)."""
        session = job.session
        session.fenced = True
        log.warning(
            "recording %s continues on another node (%s): this node stops writing it",
            session.recording_id,
            exc,
            extra=session.log_extra,
        )
        self._let_go(job)

    def _let_go(self, job: _Job) -> None:
        """Drop a fenced session's job: no loss is reported, the recording goes on elsewhere."""
        session = job.session
        if isinstance(job, _Segment):
            if not job.stored and session.dvr is not None:
                session.dvr.lost(job.rendition, job.msn)  # its bytes were held for the upload
            job.segment = job.init = None
        elif isinstance(job, _Finish):
            self.stats.recordings_in_progress -= 1

    def _failed(self, job: _Job, exc: Exception) -> None:
        self.stats.storage_errors += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self._failing_since is None:
            self._failing_since = self._clock()
            log.error(
                "recording storage failing (%s: %s); retrying, holding up to %d MiB of "
                "segments meanwhile",
                type(exc).__name__,
                exc,
                self.buffer_bytes // (1024 * 1024),
                extra=job.session.log_extra,
            )

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.warning(
                "recording storage recovered after %.1f s (%d segments dropped so far)",
                self._clock() - self._failing_since,
                self.stats.segments_dropped,
            )
            self._failing_since = None

    def _give_up(self, job: _Job) -> None:
        session = job.session
        if isinstance(job, _Start):
            session.broken = True
            log.error("recording could not be created: it is not recorded", extra=session.log_extra)
        elif isinstance(job, _Segment):
            job.segment = job.init = None
            self._lost(
                job,
                f"storage still failing {self.flush_timeout:g} s after the stream ended "
                f"({self._last_error})",
            )
        else:
            # Left "recording": the next start-up finishes it.
            self.stats.recordings_in_progress -= 1
            log.error("recording could not be finished", extra=session.log_extra)
