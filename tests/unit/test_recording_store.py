"""The recordings index in SQLite: finishing, closing after a crash, resuming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.db.recordings import RecordingStore

T0 = 1_700_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RecordingStore]:
    database = await Database.open(Settings(data_dir=tmp_path))
    try:
        channels = ChannelStore(database.sessionmaker)
        await channels.add("demo")
        await channels.update("demo", title="Friday night")
        yield RecordingStore(database.sessionmaker)
    finally:
        await database.close()


async def add(store: RecordingStore, rid: str, rendition: str, seq: int, dur: float) -> None:
    await store.add_segment(
        rid,
        rendition=rendition,
        sequence=seq,
        media_start=seq * 90_000,
        timescale=90_000,
        duration=dur,
        byte_size=1000,
        program_date_time=T0 + seq,
        storage_key=f"{rid}/{rendition}/{seq}.m4s",
        init_key=f"{rid}/{rendition}/init-0.mp4",
        discontinuity=False,
        gap_before=False,
    )


async def test_finish_sums_the_longest_rendition(store: RecordingStore) -> None:
    rid = "a" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    created = await store.get(rid)
    assert created is not None and created.title == "Friday night"
    assert created.status == "recording"
    for seq in range(3):
        await add(store, rid, "source", seq, 1.0)
        await add(store, rid, "audio", seq, 0.99)
    done = await store.finish(rid, ended_at=T0 + 5)
    assert (done.status, done.duration, done.bytes, done.ended_at) == ("ready", 3.0, 6000, T0 + 5)


async def test_a_recording_left_open_ends_with_its_last_segment(store: RecordingStore) -> None:
    rid, empty = "b" * 16, "c" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    await store.create(empty, channel="demo", stream_id="s2", started_at=T0 + 100)
    await add(store, rid, "source", 0, 1.0)
    await add(store, rid, "source", 1, 1.5)
    assert {r.id for r in await store.unfinished()} == {rid, empty}
    closed = await store.finish(rid, ended_at=None)
    assert closed.status == "ready" and closed.ended_at == pytest.approx(T0 + 2.5)
    failed = await store.finish(empty, ended_at=None)
    assert failed.status == "failed" and failed.ended_at == pytest.approx(T0 + 100)
    assert await store.unfinished() == []


async def test_resume_point_continues_each_rendition(store: RecordingStore) -> None:
    rid = "d" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    for seq in range(4):
        await add(store, rid, "source", seq, 1.0)
    await add(store, rid, "audio", 0, 1.0)
    point = await store.resume_point("demo", "s1")
    assert point is not None
    assert point.recording_id == rid and point.next_sequences == {"source": 4, "audio": 1}
    assert await store.resume_point("demo", "other") is None
    await store.finish(rid, ended_at=None)
    assert await store.resume_point("demo", "s1") is None
