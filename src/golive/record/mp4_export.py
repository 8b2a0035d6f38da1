"""A VOD's (or a clip's) "download as MP4": its source rendition remuxed by ffmpeg (``-c copy``, no
re-encode) into one progressive MP4, made in the background and stored beside the VOD's
segments as ``<id>/download.mp4`` (deleted with them).

**Input.** The source rendition's stored objects are copied from the object store into a
temporary directory (any backend, S3 included, through the same ``ObjectStore`` interface;
no loopback HTTP, so a private VOD needs no token), one fragmented MP4 file per timeline
(its init segment, then its segments; a new timeline starts at every publisher reconnect or
init segment change), and ffmpeg's concat demuxer joins the timelines, shifting each to
start where the previous one ended. The copy costs the VOD's size in temporary disk (under
``work_dir``) for the length of the job, plus the MP4.

**The job.** One export runs at a time per process (``-c copy`` is bound by I/O, and the
encoders of live streams come first): the rest wait in a bounded queue (``queue_limit``,
beyond it ``start`` says no). The ffmpeg child runs at the transcoders' lowered
priority (the ``preexec`` the composition root gives, with ``start_new_session``); its
``-progress pipe:1`` output time over the VOD's duration is the progress, written to the
ledger at most once a second. The finished file is stored with ``put_file`` (streamed).

**VODs and clips.** One ``Mp4Exports`` per kind of thing exported: what it reads (``index``:
a VOD's index rows, or a clip's rows read back from its stored playlist), where the file
goes (``output_key``: ``<id>/download.mp4`` or ``clips/<id>/download.mp4``) and where the
state is kept (``ledger``) are given to it; the job is the same. State lives in the ledger (``db/``): ``pending``,
``running``, ``ready`` (with its size) or ``failed`` (with the reason, also logged); a failed
export is started again by asking again. Exports a killed or stopped process left pending or
running are marked failed at start-up (``recover``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from golive.record.ffmpeg_progress import FfmpegProgress
from golive.record.recording_index import IndexedSegment
from golive.record.storage_keys import download_key
from golive.store.object_store import ObjectStore, ObjectStoreError

__all__ = [
    "ExportFailed",
    "ExportLedger",
    "ExportState",
    "Mp4Exports",
    "timelines",
]

log = logging.getLogger("golive.record")

PENDING = "pending"
RUNNING = "running"
READY = "ready"
FAILED = "failed"
ACTIVE = frozenset({PENDING, RUNNING})
SOURCE = "source"
_PROGRESS_EVERY = 1.0  # seconds between progress writes
_STDERR_LINES = 10
# ffmpeg is killed after this long (a copy runs many times faster than real time).
_TIMEOUT = 120.0
_TIMEOUT_PER_SECOND = 1.0


class ExportState(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> float: ...
    @property
    def size(self) -> int: ...
    @property
    def error(self) -> str: ...


class ExportLedger(Protocol):
    """Where export states are kept (``db.vod_exports.VodExportStore``)."""

    async def get(self, recording_id: str) -> ExportState | None: ...

    async def put(
        self,
        recording_id: str,
        *,
        status: str,
        progress: float = 0.0,
        size: int = 0,
        error: str = "",
    ) -> ExportState: ...

    async def interrupt_unfinished(self, reason: str) -> int: ...


class SegmentSource(Protocol):
    async def segments(self, recording_id: str) -> Sequence[IndexedSegment]: ...


class ExportFailed(Exception):
    """An export could not be made (the message says why)."""


@dataclass(frozen=True, slots=True)
class _Job:
    recording_id: str
    duration: float


def timelines(segments: Sequence[IndexedSegment]) -> list[list[IndexedSegment]]:
    """A rendition's segments (in order) split where a new timeline starts: a discontinuity
    or a different init segment. Each part is one fragmented MP4 once concatenated."""
    out: list[list[IndexedSegment]] = []
    for seg in segments:
        if not out or seg.discontinuity or seg.init_key != out[-1][-1].init_key:
            out.append([])
        out[-1].append(seg)
    return out


class Mp4Exports:
    def __init__(
        self,
        store: ObjectStore,
        index: SegmentSource,
        ledger: ExportLedger,
        *,
        ffmpeg: str,
        work_dir: Path,
        preexec: Callable[[], None] | None = None,
        queue_limit: int = 16,
        rendition: str = SOURCE,
        output_key: Callable[[str], str] = download_key,
        label: str = "VOD",
    ) -> None:
        self._store = store
        self._index = index
        self._ledger = ledger
        self._ffmpeg = ffmpeg
        self._work_dir = work_dir
        self._preexec = preexec
        self._queue_limit = queue_limit
        self._rendition = rendition
        self._output_key = output_key
        self._label = label
        self._queue: deque[_Job] = deque()
        self._queued: set[str] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self.exported = 0  # exports finished (tests and logs)

    async def recover(self) -> None:
        """At start-up: what a previous process left unfinished is failed (retry by asking)."""
        count = await self._ledger.interrupt_unfinished(
            "the server stopped during the export; start it again"
        )
        if count:
            log.warning("MP4 exports: %d left unfinished by the last run marked failed", count)

    async def start(self, recording_id: str, duration: float) -> ExportState | None:
        """Queue the VOD's export unless one is waiting, running or done: the current state;
        None if the queue is full."""
        async with self._lock:
            current = await self._ledger.get(recording_id)
            if current is not None and (
                current.status == READY
                or (current.status in ACTIVE and recording_id in self._queued)
            ):
                return current
            if len(self._queued) >= self._queue_limit:
                return None
            state = await self._ledger.put(recording_id, status=PENDING)
            self._queued.add(recording_id)
            self._queue.append(_Job(recording_id, duration))
            self._wake.set()
            if self._worker is None:
                self._worker = asyncio.create_task(self._work(), name="mp4-exports")
            return state

    async def state(self, recording_id: str) -> ExportState | None:
        return await self._ledger.get(recording_id)

    async def close(self) -> None:
        """Stop the worker (the running export is killed and left for ``recover``)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(BaseException):
                await self._worker
            self._worker = None

    # -- the worker ----------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            job = self._queue[0]
            try:
                await self._run(job)
            finally:
                self._queue.popleft()
                self._queued.discard(job.recording_id)

    async def _run(self, job: _Job) -> None:
        rid = job.recording_id
        began = time.monotonic()
        try:
            await self._ledger.put(rid, status=RUNNING)
            size = await self._export(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = _reason(exc)
            log.error("MP4 export of %s %s failed: %s", self._label, rid, reason)
            with contextlib.suppress(Exception):
                await self._ledger.put(rid, status=FAILED, error=reason)
            return
        await self._ledger.put(rid, status=READY, progress=1.0, size=size)
        self.exported += 1
        log.info(
            "MP4 export of %s %s ready: %d bytes in %.1f s",
            self._label,
            rid,
            size,
            time.monotonic() - began,
        )

    async def _export(self, job: _Job) -> int:
        rid = job.recording_id
        segments = [s for s in await self._index.segments(rid) if s.rendition == self._rendition]
        if not segments:
            raise ExportFailed(f"the {self._label} has no {self._rendition!r} rendition")
        await asyncio.to_thread(self._work_dir.mkdir, parents=True, exist_ok=True)
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mp4-", dir=self._work_dir))
        try:
            listing = await self._copy_timelines(timelines(segments), tmp)
            out = tmp / "download.mp4"
            await self._remux(job, listing, out)
            size = (await asyncio.to_thread(out.stat)).st_size
            await self._store.put_file(
                self._output_key(rid), out
            )  # streamed, never in memory whole
            return size
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)

    async def _copy_timelines(self, parts: list[list[IndexedSegment]], tmp: Path) -> Path:
        """One fragmented MP4 per timeline in ``tmp`` and the concat demuxer's list of them."""
        names: list[str] = []
        for number, part in enumerate(parts):
            name = f"part-{number}.mp4"
            with await asyncio.to_thread(open, tmp / name, "wb") as file:
                for key in [part[0].init_key, *(s.storage_key for s in part)]:
                    await asyncio.to_thread(file.write, await self._store.get(key))
            names.append(name)
        listing = tmp / "parts.txt"
        await asyncio.to_thread(listing.write_text, "".join(f"file '{n}'\n" for n in names))
        return listing

    async def _remux(self, job: _Job, listing: Path, out: Path) -> None:
        argv = [
            self._ffmpeg,
            *("-hide_banner", "-nostdin", "-nostats", "-v", "error"),
            *("-progress", "pipe:1"),
            *("-f", "concat", "-i", str(listing)),
            *("-map", "0", "-c", "copy", "-movflags", "+faststart"),
            *("-f", "mp4", "-y", str(out)),
        ]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=self._preexec,
            start_new_session=True,
        )
        tail: deque[str] = deque(maxlen=_STDERR_LINES)
        errors = asyncio.create_task(_read_lines(proc.stderr, tail.append))
        try:
            async with asyncio.timeout(_TIMEOUT + _TIMEOUT_PER_SECOND * job.duration):
                await self._follow(job, proc)
                await errors
                code = await proc.wait()
        except TimeoutError:
            raise ExportFailed("ffmpeg took too long (killed)") from None
        finally:
            errors.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(BaseException):
                    await asyncio.shield(proc.wait())
        if code != 0:
            detail = " / ".join(tail) or "no message"
            raise ExportFailed(f"ffmpeg exited with status {code}: {detail}")

    async def _follow(self, job: _Job, proc: asyncio.subprocess.Process) -> None:
        """Read ffmpeg's progress to its end, writing it to the ledger now and then (kept
        below 1: the upload is still to come)."""
        progress = FfmpegProgress(job.duration)
        written = time.monotonic()
        stream = proc.stdout
        assert stream is not None
        while line := await stream.readline():
            progress.feed(line.decode(errors="replace"))
            now = time.monotonic()
            if now - written >= _PROGRESS_EVERY:
                written = now
                await self._ledger.put(
                    job.recording_id, status=RUNNING, progress=min(progress.fraction, 0.99)
                )


async def _read_lines(stream: asyncio.StreamReader | None, sink: Callable[[str], None]) -> None:
    if stream is None:
        return
    while line := await stream.readline():
        text = line.decode(errors="replace").strip()[:300]
        if text:
            sink(text)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ExportFailed):
        return str(exc)
    if isinstance(exc, ObjectStoreError):
        return f"storage failed: {exc}"
    if isinstance(exc, OSError):
        return f"local file error: {exc}"
    log.exception("MP4 export: unexpected error")
    return f"unexpected error: {type(exc).__name__}"
