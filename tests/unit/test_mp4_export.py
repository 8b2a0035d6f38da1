"""The MP4 export job: progress parsing, timelines, and the state machine over a real ledger
(SQLite) and an in-memory object store, with a stand-in ffmpeg that reports progress, copies
its inputs, fails or hangs on demand."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from golive.config import Settings
from golive.db.engine import Database
from golive.db.recordings import RecordingStore
from golive.db.vod_exports import VodExportStore
from golive.record import mp4_export
from golive.record.ffmpeg_progress import FfmpegProgress
from golive.record.mp4_export import Mp4Exports, timelines
from golive.store.object_store import ObjectStoreError
from tests.support.fake_recordings import MemoryStore, recorded

T0 = 1_700_000_000.0
VOD = "v" * 16

# Reads the concat list (the last-but-N "-i" argument), writes the parts one after the other
# to the output (the last argument), and reports progress as ffmpeg's -progress does.
FAKE = r"""
import os, sys, time
args = sys.argv[1:]
if os.environ.get("FAKE_EXIT"):
    sys.stderr.write("Invalid data found when processing input\n")
    sys.exit(int(os.environ["FAKE_EXIT"]))
if os.environ.get("FAKE_HANG"):
    time.sleep(3600)
listing = args[args.index("-i") + 1]
folder = os.path.dirname(listing)
parts = [l.split("'")[1] for l in open(listing) if l.startswith("file")]
with open(args[-1], "wb") as out:
    for p in parts:
        out.write(open(os.path.join(folder, p), "rb").read())
for us in ("N/A", 500000, 1000000, 2000000):
    print(f"frame=1\nout_time_us={us}\nprogress=continue", flush=True)
    time.sleep(float(os.environ.get("FAKE_DELAY", "0")))
print("progress=end", flush=True)
"""


def test_progress_is_out_time_over_duration_and_never_goes_back() -> None:
    progress = FfmpegProgress(4.0)
    assert not progress.feed("out_time_us=N/A")
    assert progress.feed("out_time_us=1000000") and progress.fraction == 0.25
    assert not progress.feed("out_time_ms=500000")  # an older time: no step back
    assert not progress.feed("bitrate=100kbits/s") and not progress.feed("garbage")
    assert progress.feed("out_time_ms=3000000\n") and progress.fraction == 0.75
    assert progress.feed("out_time_us=9000000") and progress.fraction == 1.0
    assert not progress.ended
    progress.feed("progress=end")
    assert progress.ended
    assert not FfmpegProgress(0).feed("out_time_us=1000000")  # unknown duration


@dataclass(frozen=True)
class Seg:
    rendition: str
    sequence: int
    init_key: str
    storage_key: str
    discontinuity: bool = False
    media_start: int = 0
    timescale: int = 90_000
    duration: float = 1.0
    byte_size: int = 1
    program_date_time: float = 0.0
    gap_before: bool = False


def test_timelines_split_at_a_discontinuity_or_a_new_init_segment() -> None:
    a = Seg("source", 0, "i0", "0")
    segs = [
        a,
        replace(a, sequence=1, storage_key="1", gap_before=True),  # a hole: same timeline
        replace(a, sequence=2, storage_key="2", discontinuity=True),
        replace(a, sequence=3, storage_key="3", init_key="i3"),
        replace(a, sequence=4, storage_key="4", init_key="i3"),
    ]
    assert [[s.sequence for s in t] for t in timelines(segs)] == [[0, 1], [2], [3, 4]]
    assert timelines([]) == []


@dataclass
class Rig:
    exports: Mp4Exports
    objects: MemoryStore
    ledger: VodExportStore
    recordings: RecordingStore


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    database = await Database.open(Settings(data_dir=tmp_path))
    recordings = RecordingStore(database.sessionmaker)
    ledger = VodExportStore(database.sessionmaker)
    objects = MemoryStore()
    await recorded(recordings, objects, VOD, "demo", T0)
    script = tmp_path / "fake_ffmpeg.py"
    script.write_text(FAKE)
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    wrapper.chmod(0o755)
    exports = Mp4Exports(
        objects, recordings, ledger, ffmpeg=str(wrapper), work_dir=tmp_path / "work"
    )
    yield Rig(exports, objects, ledger, recordings)
    await exports.close()
    await database.close()


async def settled(rig: Rig, timeout: float = 10) -> str:
    async with asyncio.timeout(timeout):
        while True:
            state = await rig.exports.state(VOD)
            assert state is not None
            if state.status in ("ready", "failed"):
                return state.status
            await asyncio.sleep(0.02)


async def test_an_export_runs_to_ready_and_is_stored(rig: Rig, tmp_path: Path) -> None:
    assert await rig.exports.state(VOD) is None
    first = await rig.exports.start(VOD, 2.0)
    assert first is not None and first.status == "pending"
    again = await rig.exports.start(VOD, 2.0)  # idempotent while it waits or runs
    assert again is not None and again.status in ("pending", "running")
    assert await settled(rig) == "ready"
    state = await rig.exports.state(VOD)
    assert state is not None and state.progress == 1.0 and state.size == 501
    assert rig.objects.objects[f"{VOD}/download.mp4"] == b"i" + b"x" * 500
    assert rig.exports.exported == 1
    done = await rig.exports.start(VOD, 2.0)  # ready: nothing new
    assert done is not None and done.status == "ready"
    await asyncio.sleep(0.1)
    assert rig.exports.exported == 1
    assert list((tmp_path / "work").iterdir()) == []  # the temporary files are gone
    await rig.recordings.delete(VOD)  # the state goes with the VOD
    assert await rig.exports.state(VOD) is None


async def test_progress_is_written_while_ffmpeg_runs(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DELAY", "0.4")
    monkeypatch.setattr(mp4_export, "_PROGRESS_EVERY", 0.1)
    await rig.exports.start(VOD, 2.0)
    seen: list[float] = []
    async with asyncio.timeout(10):
        while (state := await rig.exports.state(VOD)) is not None and state.status != "ready":
            if state.status == "running":
                seen.append(state.progress)
            await asyncio.sleep(0.05)
    assert seen == sorted(seen)
    assert any(0 < p < 1 for p in seen), seen
    assert max(seen) <= 0.99  # 1 only once stored


async def test_an_ffmpeg_failure_is_failed_with_its_reason_and_can_be_retried(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "1")
    await rig.exports.start(VOD, 2.0)
    assert await settled(rig) == "failed"
    state = await rig.exports.state(VOD)
    assert state is not None
    assert "status 1" in state.error and "Invalid data" in state.error
    assert any("MP4 export of VOD" in r.message for r in caplog.records)
    assert f"{VOD}/download.mp4" not in rig.objects.objects
    monkeypatch.delenv("FAKE_EXIT")
    retried = await rig.exports.start(VOD, 2.0)
    assert retried is not None and retried.status == "pending" and retried.error == ""
    assert await settled(rig) == "ready"


class BrokenPut(MemoryStore):
    async def put(self, key: str, data: bytes | memoryview) -> None:
        raise ObjectStoreError("bucket unreachable")


async def test_a_storage_failure_is_failed(rig: Rig, tmp_path: Path) -> None:
    broken = BrokenPut()
    broken.objects = rig.objects.objects
    exports = Mp4Exports(
        broken,
        rig.recordings,
        rig.ledger,
        ffmpeg=str(tmp_path / "ffmpeg"),
        work_dir=tmp_path / "work",
    )
    try:
        await exports.start(VOD, 2.0)
        assert await settled(Rig(exports, broken, rig.ledger, rig.recordings)) == "failed"
        state = await exports.state(VOD)
        assert state is not None and state.error == "storage failed: bucket unreachable"
    finally:
        await exports.close()


async def test_a_vod_without_a_source_rendition_fails(rig: Rig) -> None:
    exports = Mp4Exports(
        rig.objects,
        rig.recordings,
        rig.ledger,
        ffmpeg="/nonexistent",
        work_dir=Path("/nonexistent"),
        rendition="720p",
    )
    try:
        await exports.start(VOD, 2.0)
        assert await settled(Rig(exports, rig.objects, rig.ledger, rig.recordings)) == "failed"
        state = await exports.state(VOD)
        assert state is not None and "no '720p' rendition" in state.error
    finally:
        await exports.close()


async def test_the_queue_is_bounded_and_one_runs_at_a_time(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_HANG", "1")
    others = ["w" * 16, "x" * 16]
    for rid in others:
        await recorded(rig.recordings, rig.objects, rid, "demo", T0 + 10)
    exports = Mp4Exports(
        rig.objects,
        rig.recordings,
        rig.ledger,
        ffmpeg=str(tmp_path / "ffmpeg"),
        work_dir=tmp_path / "work",
        queue_limit=2,
    )
    try:
        assert await exports.start(VOD, 2.0) is not None
        assert await exports.start(others[0], 2.0) is not None
        assert await exports.start(others[1], 2.0) is None  # full
        await asyncio.sleep(0.5)
        running = await rig.ledger.get(VOD)
        waiting = await rig.ledger.get(others[0])
        assert running is not None and running.status == "running"
        assert waiting is not None and waiting.status == "pending"
    finally:
        await exports.close()
    # The next process finds them unfinished: failed, to be asked for again.
    await exports.recover()
    for rid in (VOD, others[0]):
        row = await rig.ledger.get(rid)
        assert row is not None and row.status == "failed" and "server stopped" in row.error
