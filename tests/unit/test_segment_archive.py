"""The archive writer against an in-memory object store and index (fakes: unit tests only)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from golive.record.recording_policy import RecordingPolicy
from golive.record.segment_archive import ArchiveSession, RecordingLoss, SegmentArchive
from golive.record.storage_keys import (
    UnsafeKey,
    init_key,
    new_recording_id,
    segment_key,
)
from golive.store.live_window import StoredSegment
from golive.store.object_store import ObjectNotFound, ObjectStoreError

MIB = 1024 * 1024


class MemoryStore:
    """An ObjectStore in a dict; ``down`` makes every call fail, ``gate`` holds puts."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.down = False
        self.gate: asyncio.Event | None = None

    @property
    def description(self) -> str:
        return "memory"

    async def put(self, key: str, data: bytes | memoryview) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ObjectStoreError("storage is down")
        self.puts.append(key)
        self.objects[key] = bytes(data)

    async def put_file(self, key: str, path: Path) -> None:
        await self.put(key, path.read_bytes())

    async def copy(self, source: str, destination: str) -> None:
        await self.put(destination, await self.get(source))

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        if key not in self.objects:
            raise ObjectNotFound(key)
        return self.objects[key][start:end]

    async def size(self, key: str) -> int:
        return len(await self.get(key))

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        for key in list(self.objects):
            if key.startswith(prefix):
                yield key

    async def close(self) -> None:
        pass


@dataclass(frozen=True)
class Summary:
    id: str
    channel: str
    stream_id: str
    title: str
    status: str
    started_at: float
    ended_at: float | None
    duration: float
    bytes: int
    gaps: int = 0


class Stale(Exception):
    """What the database's StaleWriter is to the archive: an error marked ``stale_writer``."""

    stale_writer = True


@dataclass
class MemoryIndex:
    """The index in lists; ``tokens`` holds each recording's fencing token, as the database
    does (raise one to play a node taking the recording over)."""

    created: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # the writes refused as stale

    def _check(self, recording_id: str, fence_token: int, what: str) -> None:
        if self.tokens.get(recording_id, 0) > fence_token:
            self.refused.append(what)
            raise Stale(f"{recording_id} is held by a larger token than {fence_token}")

    async def create(
        self,
        recording_id: str,
        *,
        channel: str,
        stream_id: str,
        started_at: float,
        fence_token: int,
    ) -> None:
        self.created.append(recording_id)
        self.tokens[recording_id] = fence_token

    async def add_segment(self, recording_id: str, *, fence_token: int, **row: Any) -> None:
        assert recording_id in self.created, "a segment row before its recording"
        self._check(recording_id, fence_token, "row")
        self.rows.append({"recording_id": recording_id, "fence_token": fence_token, **row})

    async def segments(self, recording_id: str) -> list[SimpleNamespace]:
        rows = [SimpleNamespace(**r) for r in self.rows if r["recording_id"] == recording_id]
        return sorted(rows, key=lambda r: (r.rendition, r.sequence))

    async def claim(self, recording_id: str, fence_token: int) -> bool:
        if self.tokens.get(recording_id, 0) > fence_token:
            self.refused.append("claim")
            return False
        self.tokens[recording_id] = fence_token
        return True

    async def finish(
        self, recording_id: str, *, ended_at: float | None, fence_token: int
    ) -> Summary:
        self._check(recording_id, fence_token, "finish")
        self.finished.append(recording_id)
        mine = [r for r in self.rows if r["recording_id"] == recording_id]
        return Summary(
            recording_id,
            "demo",
            "s1",
            "",
            "ready" if mine else "failed",
            0.0,
            ended_at,
            sum(r["duration"] for r in mine if r["rendition"] == "source"),
            sum(r["byte_size"] for r in mine),
        )


def segment(msn: int, *, size: int = 1000, init_id: int = 0, disc: bool = False) -> StoredSegment:
    return StoredSegment(
        msn=msn,
        init_id=init_id,
        discontinuity=disc,
        program_date_time=1_700_000_000.0 + msn,
        duration=1.0,
        complete=True,
        data=bytes([msn % 256]) * size,
        media_start=msn * 90_000,
        media_duration=90_000,
        timescale=90_000,
    )


POLICY = RecordingPolicy(enabled=True, renditions="source", source_renditions={"source", "audio"})


def open_session(archive: SegmentArchive, policy: RecordingPolicy = POLICY) -> ArchiveSession:
    return archive.open(
        new_recording_id(),
        channel="demo",
        stream_id="s1",
        started_at=1_700_000_000.0,
        records_rendition=policy.records_rendition,
    )


def make_archive(
    store: MemoryStore, index: MemoryIndex, **kw: Any
) -> tuple[SegmentArchive, list[Summary], list[float]]:
    finished: list[Summary] = []
    lags: list[float] = []
    archive = SegmentArchive(
        store,
        index,
        buffer_bytes=kw.pop("buffer_bytes", 64 * MIB),
        on_finished=finished.append,  # type: ignore[arg-type]
        on_stored=lags.append,
        first_retry_delay=0.001,
        max_retry_delay=0.01,
        **kw,
    )
    archive.start()
    return archive, finished, lags


# -- policy ---------------------------------------------------------------------------------


def test_policy_switches_and_renditions() -> None:
    assert POLICY.records_stream(True)
    assert not POLICY.records_stream(False)
    off = RecordingPolicy(enabled=False, renditions="all", source_renditions={"source"})
    assert not off.records_stream(True)
    assert POLICY.records_rendition("source") and POLICY.records_rendition("audio")
    assert not POLICY.records_rendition("720p")
    every = RecordingPolicy(enabled=True, renditions="all", source_renditions={"source"})
    assert every.records_rendition("720p")


# -- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../x", "a/b", "", "Source", "x" * 33, "..", "a\x00", "a b", "-x", "é", "a\\b"]
)
def test_hostile_rendition_names_make_no_key(name: str) -> None:
    rid = new_recording_id()
    with pytest.raises(UnsafeKey):
        segment_key(rid, name, 1)
    with pytest.raises(UnsafeKey):
        init_key(rid, name, 1)


@pytest.mark.parametrize("rid", ["../../etc", "short", "a/b" * 8, "x" * 33, "a" * 15 + "."])
def test_hostile_recording_ids_make_no_key(rid: str) -> None:
    with pytest.raises(UnsafeKey):
        segment_key(rid, "source", 1)


def test_keys_are_under_the_recording() -> None:
    rid = new_recording_id()
    assert segment_key(rid, "source", 7) == f"{rid}/source/7.m4s"
    assert init_key(rid, "audio", 0) == f"{rid}/audio/init-0.mp4"


# -- the writer -----------------------------------------------------------------------------


async def test_segments_stored_in_order_init_once_and_finished() -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, finished, lags = make_archive(store, index)
    session = open_session(archive)
    init = b"init-bytes"
    for msn in range(5):
        session.segment_done("source", segment(msn, disc=msn == 3), init)
        session.segment_done("audio", segment(msn, size=100), b"audio-init")
        session.segment_done("720p", segment(msn), init)  # not recorded by default
    session.end(1_700_000_010.0)
    assert await archive.flush(5)
    rid = session.recording_id
    source = [r for r in index.rows if r["rendition"] == "source"]
    assert [r["sequence"] for r in source] == [0, 1, 2, 3, 4]
    assert [r["discontinuity"] for r in source] == [False, False, False, True, False]
    assert not any(r["gap_before"] for r in index.rows)
    assert {r["rendition"] for r in index.rows} == {"source", "audio"}
    # One init object per rendition and init id, named after the first segment using it.
    inits = [k for k in store.puts if "/init-" in k]
    assert inits == [init_key(rid, "source", 0), init_key(rid, "audio", 0)]
    assert all(r["init_key"] == init_key(rid, r["rendition"], 0) for r in index.rows)
    assert store.objects[segment_key(rid, "source", 2)] == segment(2).data
    assert all(k.startswith(f"{rid}/") for k in store.objects)
    assert index.finished == [rid] and finished[0].status == "ready"
    # The VOD's playlists are stored before the recording is finished.
    playlists = [k for k in store.puts if k.endswith((".m3u8", ".mpd"))]
    assert sorted(playlists) == [
        f"{rid}/audio/index.m3u8",
        f"{rid}/index.m3u8",
        f"{rid}/manifest.mpd",
        f"{rid}/source/index.m3u8",
    ]
    assert len(lags) == 10 and all(lag >= 0 for lag in lags)
    stats = archive.stats
    assert stats.segments_written == 10 and stats.segments_dropped == 0
    assert stats.bytes_written == 5 * 1000 + 5 * 100
    assert stats.recordings_in_progress == 0 and stats.queued_bytes == 0
    await archive.close(1)


async def test_a_new_init_id_is_stored_again() -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, _, _ = make_archive(store, index)
    session = open_session(archive)
    session.segment_done("source", segment(0, init_id=0), b"a")
    session.segment_done("source", segment(1, init_id=0), b"a")
    session.segment_done("source", segment(2, init_id=1, disc=True), b"b")
    assert await archive.flush(5)
    rid = session.recording_id
    assert [r["init_key"] for r in index.rows] == [
        init_key(rid, "source", 0),
        init_key(rid, "source", 0),
        init_key(rid, "source", 2),
    ]
    assert store.objects[init_key(rid, "source", 2)] == b"b"
    await archive.close(1)


async def test_storage_down_then_back_loses_nothing_within_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, _, _ = make_archive(store, index, buffer_bytes=MIB)
    session = open_session(archive)
    store.down = True
    with caplog.at_level(logging.INFO, logger="golive.record"):
        for msn in range(20):  # 20 kB: well within the bound
            session.segment_done("source", segment(msn), b"init")
            await asyncio.sleep(0.005)
        assert not index.rows
        assert archive.stats.storage_errors >= 2
        store.down = False
        assert await archive.flush(5)
    assert [r["sequence"] for r in index.rows] == list(range(20))
    assert not any(r["gap_before"] for r in index.rows)
    assert archive.stats.segments_dropped == 0
    failing = [r for r in caplog.records if "storage failing" in r.getMessage()]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(failing) == 1 and len(recovered) == 1  # not one line per retry
    await archive.close(1)


async def test_beyond_the_bound_the_oldest_are_dropped_and_the_gap_marked() -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, _, _ = make_archive(store, index, buffer_bytes=MIB)
    session = open_session(archive)
    store.down = True
    size = 100 * 1024
    peak = 0
    for msn in range(40):  # 4 MB sent while storage is down, 1 MiB bound
        session.segment_done("source", segment(msn, size=size), b"init")
        peak = max(peak, archive.stats.queued_bytes)
        await asyncio.sleep(0)
    assert peak <= MIB
    assert archive.stats.segments_dropped > 0
    store.down = False
    assert await archive.flush(5)
    rows = index.rows
    # Stored: the segment in flight when storage failed, then the newest ones.
    stored_msns = [store.objects[r["storage_key"]][0] for r in rows]
    assert stored_msns[0] == 0 and stored_msns[-1] == 39
    assert [r["sequence"] for r in rows] == list(range(len(rows)))
    assert [r["gap_before"] for r in rows] == [False, True] + [False] * (len(rows) - 2)
    assert len(rows) + archive.stats.segments_dropped == 40
    assert len(rows) - 1 <= MIB // size
    await archive.close(1)


async def test_the_live_call_never_waits() -> None:
    store, index = MemoryStore(), MemoryIndex()
    store.gate = asyncio.Event()  # every put hangs until released
    archive, _, _ = make_archive(store, index)
    session = open_session(archive)
    assert not inspect.iscoroutinefunction(session.segment_done)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for msn in range(200):
        session.segment_done("source", segment(msn), b"init")
    assert loop.time() - started < 0.5
    assert not store.puts
    store.gate.set()
    assert await archive.flush(5)
    assert len(index.rows) == 200
    await archive.close(1)


async def test_hostile_rendition_name_is_not_recorded(caplog: pytest.LogCaptureFixture) -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, _, _ = make_archive(store, index)
    every = RecordingPolicy(enabled=True, renditions="all", source_renditions={"source"})
    session = open_session(archive, every)
    with caplog.at_level(logging.ERROR, logger="golive.record"):
        for name in ("../../../etc", "a/../../b", "source"):
            session.segment_done(name, segment(0), b"init")
            session.segment_done(name, segment(1), b"init")
    assert await archive.flush(5)
    assert {r["rendition"] for r in index.rows} == {"source"}
    assert all(k.startswith(f"{session.recording_id}/source/") for k in store.objects)
    assert len([r for r in caplog.records if "not recorded" in r.getMessage()]) == 2
    await archive.close(1)


async def test_an_ended_session_waits_for_storage_at_most_the_flush_timeout() -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, finished, _ = make_archive(store, index, flush_timeout=0.2)
    session = open_session(archive)
    await asyncio.sleep(0.01)  # the recording's row is made
    store.down = True
    for msn in range(3):
        session.segment_done("source", segment(msn), b"init")
    session.end()
    assert await archive.flush(5)
    assert finished and finished[0].status == "failed"  # nothing could be stored
    assert archive.stats.segments_dropped == 3
    assert archive.stats.recordings_in_progress == 0
    await archive.close(1)


async def test_close_is_bounded_while_storage_is_down() -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, _, _ = make_archive(store, index)
    session = open_session(archive)
    store.down = True
    session.segment_done("source", segment(0), b"init")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await archive.close(0.2)
    assert loop.time() - started < 1.0


async def test_resumed_session_continues_the_sequence() -> None:
    store, index = MemoryStore(), MemoryIndex()
    index.created.append("r" * 16)
    archive, _, _ = make_archive(store, index)
    session = archive.open(
        "r" * 16,
        channel="demo",
        stream_id="s1",
        started_at=0.0,
        records_rendition=POLICY.records_rendition,
        next_sequences={"source": 12},
    )
    session.segment_done("source", segment(40), b"init")
    session.segment_done("audio", segment(40), b"init")
    assert await archive.flush(5)
    assert index.created == ["r" * 16]  # no second row
    assert [(r["rendition"], r["sequence"]) for r in index.rows] == [("source", 12), ("audio", 0)]
    await archive.close(1)


async def test_a_session_on_a_new_timeline_marks_its_first_segments() -> None:
    store, index = MemoryStore(), MemoryIndex()
    index.created.append("n" * 16)
    archive, _, _ = make_archive(store, index)
    session = archive.open(
        "n" * 16,
        channel="demo",
        stream_id="s2",
        started_at=0.0,
        records_rendition=POLICY.records_rendition,
        next_sequences={"source": 7, "audio": 7},
        new_timeline=True,
    )
    for msn in range(3):  # a new live stream: its packager starts over, no discontinuity
        session.segment_done("source", segment(msn), b"init")
        session.segment_done("audio", segment(msn), b"init")
    assert await archive.flush(5)
    rows = [(r["rendition"], r["sequence"], r["discontinuity"]) for r in index.rows]
    assert sorted(rows) == [
        ("audio", 7, True),
        ("audio", 8, False),
        ("audio", 9, False),
        ("source", 7, True),
        ("source", 8, False),
        ("source", 9, False),
    ]
    await archive.close(1)


async def test_a_loss_is_reported_once_per_recording_and_the_recording_goes_on() -> None:
    store, index = MemoryStore(), MemoryIndex()
    losses: list[RecordingLoss] = []
    archive, finished, _ = make_archive(store, index, buffer_bytes=MIB, on_loss=losses.append)
    session = open_session(archive)
    other = open_session(archive)
    await asyncio.sleep(0.01)  # their rows are made
    size = 100 * 1024
    other.segment_done("source", segment(0, size=size), b"init")
    assert await archive.flush(5)
    store.down = True
    for msn in range(1, 40):  # 4 MB while storage is down, 1 MiB bound: many dropped
        session.segment_done("source", segment(msn, size=size), b"init")
        await asyncio.sleep(0)
    assert archive.stats.segments_dropped > 1
    assert len(losses) == 1  # once, not once per dropped segment
    (loss,) = losses
    assert loss.recording_id == session.recording_id and loss.channel == "demo"
    assert loss.rendition == "source"
    assert "buffer full" in loss.reason and "storage is down" in loss.reason
    # The first one dropped: segment 1 is in flight (retried), never dropped.
    assert loss.lost_from == segment(2).program_date_time
    assert not finished  # the recording goes on
    store.down = False
    assert await archive.flush(5)
    session.segment_done("source", segment(40, size=size), b"init")
    session.end()
    other.end()
    assert await archive.flush(5)
    assert [s.status for s in finished] == ["ready", "ready"]
    assert len(losses) == 1  # the other recording lost nothing
    assert any(r["gap_before"] for r in index.rows)
    await archive.close(1)


async def test_segments_given_up_at_the_end_are_a_loss() -> None:
    store, index = MemoryStore(), MemoryIndex()
    losses: list[RecordingLoss] = []
    archive, _, _ = make_archive(store, index, flush_timeout=0.2, on_loss=losses.append)
    session = open_session(archive)
    session.segment_done("source", segment(0), b"init")
    assert await archive.flush(5)
    store.down = True
    session.segment_done("source", segment(1), b"init")
    session.end()
    assert await archive.flush(5)
    (loss,) = losses
    assert "after the stream ended" in loss.reason and "storage is down" in loss.reason
    await archive.close(1)


# -- concurrency: sessions upload side by side, each in its own order ------------------------


class KeyedStore(MemoryStore):
    """Puts whose key starts with a held prefix hang; ``in_flight`` counts puts under way."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, asyncio.Event] = {}
        self.in_flight = 0
        self.peak = 0
        self.delay = 0.0

    async def put(self, key: str, data: bytes | memoryview) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for prefix, gate in self.held.items():
                if key.startswith(prefix):
                    await gate.wait()
            await asyncio.sleep(self.delay)
            await super().put(key, data)
        finally:
            self.in_flight -= 1


async def test_a_hanging_session_does_not_hold_up_another() -> None:
    store, index = KeyedStore(), MemoryIndex()
    archive, finished, _ = make_archive(store, index)
    stuck, moving = open_session(archive), open_session(archive)
    gate = store.held[f"{stuck.recording_id}/"] = asyncio.Event()
    for msn in range(10):
        for session in (stuck, moving):
            session.segment_done("source", segment(msn), b"init")
            session.segment_done("audio", segment(msn, size=100), b"a-init")
        await asyncio.sleep(0)
    moving.end()
    for _ in range(200):  # the other session's storage hangs: this one is stored and finished
        if finished:
            break
        await asyncio.sleep(0.01)
    assert [f.id for f in finished] == [moving.recording_id]
    assert not [r for r in index.rows if r["recording_id"] == stuck.recording_id]
    assert not archive._idle.is_set()
    gate.set()
    stuck.end()
    assert await archive.flush(5)
    for session in (stuck, moving):
        mine = [r for r in index.rows if r["recording_id"] == session.recording_id]
        for rendition in ("source", "audio"):
            rows = [r for r in mine if r["rendition"] == rendition]
            assert [r["sequence"] for r in rows] == list(range(10))
            # Each sequence number holds the segment that came in that place.
            assert [store.objects[r["storage_key"]][0] for r in rows] == list(range(10))
    assert sorted(f.id for f in finished) == sorted([stuck.recording_id, moving.recording_id])
    assert archive.stats.queued_bytes == 0 and archive.stats.recordings_in_progress == 0
    await archive.close(1)


async def test_sessions_upload_in_parallel_up_to_the_bound() -> None:
    store, index = KeyedStore(), MemoryIndex()
    store.delay = 0.02  # a slow object store: 20 ms a put
    archive, _, _ = make_archive(store, index, max_concurrent=4)
    sessions = [open_session(archive) for _ in range(12)]
    for msn in range(5):
        for session in sessions:
            session.segment_done("source", segment(msn), b"init")
    assert await archive.flush(10)
    # 12 sessions with work, 4 slots: 4 puts at a time, never more, never fewer while
    # there was work for 4 (one worker for the process would have kept it at 1).
    assert store.peak == 4
    for session in sessions:
        rows = [r for r in index.rows if r["recording_id"] == session.recording_id]
        assert [r["sequence"] for r in rows] == list(range(5))
        assert [store.objects[r["storage_key"]][0] for r in rows] == list(range(5))
    # The order of each session's puts: its init, then its segments one after another.
    for session in sessions:
        puts = [k for k in store.puts if k.startswith(f"{session.recording_id}/")]
        assert puts == [init_key(session.recording_id, "source", 0)] + [
            segment_key(session.recording_id, "source", n) for n in range(5)
        ]
    await archive.close(1)


async def test_the_buffer_bound_covers_every_session_together() -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, _, _ = make_archive(store, index, buffer_bytes=MIB)
    a, b = open_session(archive), open_session(archive)
    await asyncio.sleep(0.01)  # both rows made
    store.down = True
    size = 100 * 1024
    peak = 0
    for msn in range(20):  # 4 MB across two sessions, 1 MiB bound
        a.segment_done("source", segment(msn, size=size), b"init")
        b.segment_done("source", segment(msn, size=size), b"init")
        peak = max(peak, archive.stats.queued_bytes)
        await asyncio.sleep(0)
    assert peak <= MIB
    store.down = False
    assert await archive.flush(5)
    for session in (a, b):
        rows = [r for r in index.rows if r["recording_id"] == session.recording_id]
        msns = [store.objects[r["storage_key"]][0] for r in rows]
        assert msns[0] == 0 and msns[-1] == 19 and msns == sorted(msns)
        assert [r["gap_before"] for r in rows] == [False, True] + [False] * (len(rows) - 2)
    assert len(index.rows) + archive.stats.segments_dropped == 40
    await archive.close(1)


# -- fencing --------------------------------------------------------------------------------


def fenced_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "continues on another node" in r.getMessage()]


async def test_a_session_whose_recording_was_taken_over_stops_writing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, index = MemoryStore(), MemoryIndex()
    losses: list[RecordingLoss] = []
    archive, finished, _ = make_archive(store, index, on_loss=losses.append)
    rid = new_recording_id()

    def open_with(token: int, next_sequences: dict[str, int] | None) -> ArchiveSession:
        return archive.open(
            rid,
            channel="demo",
            stream_id="s1",
            started_at=0.0,
            records_rendition=POLICY.records_rendition,
            next_sequences=next_sequences,
            fence_token=token,
        )

    stale = open_with(5, None)
    for msn in range(2):
        stale.segment_done("source", segment(msn), b"init")
    assert await archive.flush(5)
    assert index.tokens[rid] == 5 and [r["fence_token"] for r in index.rows] == [5, 5]
    # This node is paused with three segments on their way; another node takes the channel
    # over with token 7 and continues the recording where its index ends.
    store.gate = asyncio.Event()
    for msn in range(2, 5):
        stale.segment_done("source", segment(msn), b"init")
    index.tokens[rid] = 7
    fresh = open_with(7, {"source": 2})
    with caplog.at_level(logging.INFO, logger="golive.record"):
        store.gate.set()  # the paused node wakes up
        assert await archive.flush(5)
        stale.segment_done("source", segment(5), b"init")  # ignored from now on
        for msn in range(100, 102):
            fresh.segment_done("source", segment(msn), b"init")
        stale.end(1.0)
        assert await archive.flush(5)
    # One write was tried and refused; nothing more of it was tried, counted as a storage
    # failure or reported as a loss (the recording goes on elsewhere).
    assert index.refused == ["row"] and stale.fenced and not fresh.fenced
    assert len(fenced_lines(caplog)) == 1
    assert archive.stats.storage_errors == 0 and losses == []
    assert not any("storage failing" in r.getMessage() for r in caplog.records)
    assert [(r["sequence"], r["fence_token"]) for r in index.rows] == [
        (0, 5),
        (1, 5),
        (2, 7),
        (3, 7),
    ]
    # Its segments queued behind the refused one were let go, not stored.
    assert not any(segment_key(rid, "source", n, 5) in store.objects for n in (3, 4, 5))
    # The upload it had in flight landed in its own token folder, beside the new holder's
    # object of the same sequence number, not on it; the index names the holder's.
    assert store.objects[segment_key(rid, "source", 2, 5)] == segment(2).data
    assert store.objects[segment_key(rid, "source", 2, 7)] == segment(100).data
    assert index.rows[2]["storage_key"] == segment_key(rid, "source", 2, 7)
    assert index.finished == [] and finished == []  # the stale end finished nothing
    fresh.end(2.0)
    assert await archive.flush(5)
    assert index.finished == [rid] and [s.status for s in finished] == ["ready"]
    assert archive.stats.recordings_in_progress == 0 and archive.stats.queued_bytes == 0
    await archive.close(1)


async def test_a_stale_end_does_not_finish_the_recording(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, finished, _ = make_archive(store, index)
    session = archive.open(
        new_recording_id(),
        channel="demo",
        stream_id="s1",
        started_at=0.0,
        records_rendition=POLICY.records_rendition,
        fence_token=5,
    )
    for msn in range(3):
        session.segment_done("source", segment(msn), b"init")
    assert await archive.flush(5)
    index.tokens[session.recording_id] = 7  # taken over
    before = set(store.objects)
    with caplog.at_level(logging.INFO, logger="golive.record"):
        session.end(1.0)
        assert await archive.flush(5)
    assert index.refused == ["claim"] and session.fenced  # tried once, not retried
    # No VOD playlist, MPD or thumbnail of a recording another node is still writing.
    assert set(store.objects) == before
    assert index.finished == [] and finished == []
    assert len(fenced_lines(caplog)) == 1 and archive.stats.storage_errors == 0
    assert archive.stats.recordings_in_progress == 0
    await archive.close(1)


async def test_a_single_process_writes_with_token_zero() -> None:
    store, index = MemoryStore(), MemoryIndex()
    archive, finished, _ = make_archive(store, index)
    session = open_session(archive)  # no fence_token: a single process
    session.segment_done("source", segment(0), b"init")
    session.end(1.0)
    assert await archive.flush(5)
    assert index.tokens[session.recording_id] == 0
    assert [r["fence_token"] for r in index.rows] == [0] and index.refused == []
    assert [s.status for s in finished] == ["ready"]
    await archive.close(1)
