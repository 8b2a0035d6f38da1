"""The recordings index in SQLite and PostgreSQL: finishing, closing after a crash,
resuming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.clips import ClipExportLedger, ClipStore
from golive.db.engine import Database
from golive.db.recordings import RecordingStore, segment_row_writer
from golive.db.users import UserStore
from tests.support.postgres_server import fresh_database_url

T0 = 1_700_000_000.0


@pytest.fixture(
    params=[("sqlite", "engine"), ("sqlite", "sqlite_row_writer"), ("postgresql", "engine")],
    ids=["sqlite-engine", "sqlite-row-writer", "postgresql-engine"],
)
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RecordingStore]:
    """Every case runs with rows inserted through the engine on SQLite and on PostgreSQL,
    and through the SQLite writer."""
    backend, path = request.param
    database_url = fresh_database_url(backend, request, tmp_path)
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    database = await Database.open(settings)
    writer = segment_row_writer(database_url) if path == "sqlite_row_writer" else None
    if path == "sqlite_row_writer":
        assert writer is not None
    if backend == "postgresql":
        # The direct writer is for a SQLite file only: PostgreSQL rows go through the engine.
        assert segment_row_writer(database_url) is None
    recordings = RecordingStore(database.sessionmaker, row_writer=writer)
    try:
        channels = ChannelStore(database.sessionmaker)
        await channels.add("demo")
        await channels.update("demo", title="Friday night")
        yield recordings
    finally:
        await recordings.close()
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
    assert closed.gaps == 0
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
    # Its stored media ends with segment 3: at T0 + 4 on the wall clock, 4 s into its timeline.
    assert point.last_end == pytest.approx(T0 + 4) and point.media_end == pytest.approx(4.0)
    assert await store.resume_point("demo", "other") is None
    empty = "z" * 16
    await store.create(empty, channel="demo", stream_id="s9", started_at=T0)
    nothing = await store.continuation(empty)
    assert (nothing.next_sequences, nothing.last_end, nothing.media_end) == ({}, None, 0.0)
    await store.finish(rid, ended_at=None)
    assert await store.resume_point("demo", "s1") is None


async def test_rows_arriving_together_share_a_transaction(store: RecordingStore) -> None:
    rids = [c * 16 for c in "efgh"]
    for rid in rids:
        await store.create(rid, channel="demo", stream_id=rid, started_at=T0)
    before = store.transactions
    await asyncio.gather(
        *(
            add(store, rid, rendition, seq, 1.0)
            for rid in rids
            for rendition in ("source", "audio")
            for seq in range(5)
        )
    )
    # 40 rows handed over before the writer first ran: one transaction, not 40.
    assert store.transactions - before == 1
    for rid in rids:
        rows = await store.segments(rid)
        assert [(r.rendition, r.sequence) for r in rows] == [
            (rendition, seq) for rendition in ("audio", "source") for seq in range(5)
        ]


async def test_a_bad_row_fails_only_its_caller(store: RecordingStore) -> None:
    rid = "i" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    await add(store, rid, "source", 0, 1.0)
    results = await asyncio.gather(
        add(store, rid, "source", 1, 1.0),
        add(store, rid, "source", 0, 1.0),  # the same sequence again: refused
        add(store, rid, "source", 2, 1.0),
        add(store, "j" * 16, "source", 0, 1.0),  # no such recording: refused
        add(store, rid, "audio", 0, 1.0),
        return_exceptions=True,
    )
    assert [isinstance(r, Exception) for r in results] == [False, True, False, True, False]
    rows = await store.segments(rid)
    assert [(r.rendition, r.sequence) for r in rows] == [
        ("audio", 0),
        ("source", 0),
        ("source", 1),
        ("source", 2),
    ]


async def test_rows_arriving_within_the_batch_delay_share_a_transaction(
    store: RecordingStore,
) -> None:
    # A long delay (the default is 50 ms) so a loaded machine cannot split the batch.
    store._batch_delay = 1.0
    rid = "k" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    before = store.transactions

    async def later(seq: int) -> None:
        await asyncio.sleep(0.01 * seq)
        await add(store, rid, "source", seq, 1.0)

    await asyncio.gather(*(later(seq) for seq in range(3)))
    assert store.transactions - before == 1
    assert [r.sequence for r in await store.segments(rid)] == [0, 1, 2]


async def test_finish_counts_the_gaps_of_the_most_affected_rendition(
    store: RecordingStore,
) -> None:
    rid = "y" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    for seq in range(6):
        for rendition in ("source", "audio"):
            await store.add_segment(
                rid,
                rendition=rendition,
                sequence=seq,
                media_start=seq * 90_000,
                timescale=90_000,
                duration=1.0,
                byte_size=1000,
                program_date_time=T0 + seq,
                storage_key=f"{rid}/{rendition}/{seq}.m4s",
                init_key=f"{rid}/{rendition}/init-0.mp4",
                discontinuity=False,
                gap_before=seq in ((2, 4) if rendition == "source" else (2,)),
            )
    done = await store.finish(rid, ended_at=None)
    assert done.status == "ready" and done.gaps == 2


async def test_a_clip_window_reads_only_its_rows(store: RecordingStore) -> None:
    rid = "k" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    assert await store.stored_end(rid) is None
    for seq in range(10):
        await add(store, rid, "source", seq, 1.0)
        await add(store, rid, "audio", seq, 1.0)
    assert await store.stored_end(rid) == pytest.approx(T0 + 10)
    window = await store.segments_since(rid, T0 + 7)
    assert [(r.rendition, r.sequence) for r in window] == [
        (rendition, seq) for rendition in ("audio", "source") for seq in (7, 8, 9)
    ]
    assert await store.duration_before(rid, "source", 7) == pytest.approx(7.0)
    assert await store.duration_before(rid, "source", 0) == 0.0


async def test_a_clip_outlives_its_recording(store: RecordingStore) -> None:
    sessionmaker = store._sessionmaker
    clips = ClipStore(sessionmaker)
    user = await UserStore(sessionmaker).add("viewer")
    rid = "m" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)
    await store.finish(rid, ended_at=T0 + 60)
    made = await clips.create(
        "n" * 16,
        recording_id=rid,
        channel="demo",
        channel_id=None,
        creator_id=user.id,
        title="a clip",
        visibility="public",
        start=12.0,
        duration=30.0,
        status="ready",
        size=1234,
    )
    assert (made.creator, made.views, made.recording_id) == ("viewer", 0, rid)
    await clips.count_view(made.id)
    await store.delete(rid)
    kept = await clips.get(made.id)
    assert kept is not None and kept.views == 1 and kept.recording_id is None
    ledger = ClipExportLedger(sessionmaker)
    assert await ledger.get(made.id) is None
    await ledger.put(made.id, status="running", progress=0.5)
    assert await ledger.interrupt_unfinished("stopped") == 1
    state = await ledger.get(made.id)
    assert state is not None and state.status == "failed"
    assert await clips.delete(made.id) and await clips.get(made.id) is None
