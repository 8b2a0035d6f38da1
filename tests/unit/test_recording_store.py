"""The recordings index in SQLite and PostgreSQL: finishing, closing after a crash,
resuming, fencing a writer whose publish lease was taken over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.clips import ClipExportLedger, ClipStore
from golive.db.engine import Database
from golive.db.models import Recording
from golive.db.recordings import RecordingStore, StaleWriter, segment_row_writer
from golive.db.users import UserStore
from golive.record.recording_index import is_stale_writer
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


async def add(
    store: RecordingStore, rid: str, rendition: str, seq: int, dur: float, token: int = 0
) -> None:
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
        fence_token=token,
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


# -- fencing: a node taking a channel over continues its recording with a larger token -----


async def stored_token(store: RecordingStore, rid: str) -> int:
    async with store._sessionmaker() as session:
        row = await session.get(Recording, rid)
        assert row is not None
        return int(row.fence_token)


async def test_a_stale_writer_is_refused_after_a_takeover(store: RecordingStore) -> None:
    rid = "p" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0, fence_token=5)
    for seq in range(3):
        await add(store, rid, "source", seq, 1.0, token=5)
    # Node B takes the channel (token 7) and claims the recording before reading where it
    # continues: nothing of node A's lands after that.
    assert await store.claim(rid, 7)
    point = await store.continuation(rid)
    assert point.next_sequences == {"source": 3}
    # Node A wakes up from its pause and goes on writing: refused, row and end.
    with pytest.raises(StaleWriter) as refused:
        await add(store, rid, "source", 3, 1.0, token=5)
    assert refused.value.recording_id == rid and is_stale_writer(refused.value)
    with pytest.raises(StaleWriter):
        await store.finish(rid, ended_at=T0 + 3, fence_token=5)
    unfinished = await store.get(rid)
    assert unfinished is not None and unfinished.status == "recording"
    assert unfinished.ended_at is None
    # Node B's rows and end go through.
    for seq in range(3, 5):
        await add(store, rid, "source", seq, 1.0, token=7)
    done = await store.finish(rid, ended_at=T0 + 9, fence_token=7)
    assert (done.status, done.duration, done.ended_at) == ("ready", 5.0, T0 + 9)
    assert [r.sequence for r in await store.segments(rid)] == [0, 1, 2, 3, 4]
    assert await stored_token(store, rid) == 7


async def test_a_stale_row_racing_a_takeover_waits_for_it_and_is_refused(
    store: RecordingStore,
) -> None:
    """The check and the insert are one: a stale row arriving while the takeover's
    transaction is open waits for it, then sees the new token (checked first and inserted
    after the takeover committed, it would land behind the new holder's resume point)."""
    rid = "v" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0, fence_token=5)
    await add(store, rid, "source", 0, 1.0, token=5)
    async with store._sessionmaker() as session, session.begin():
        # The claim's statement, its transaction held open.
        await session.execute(update(Recording).where(Recording.id == rid).values(fence_token=7))
        writing = asyncio.create_task(add(store, rid, "source", 1, 1.0, token=5))
        await asyncio.sleep(0.3)
        assert not writing.done()  # waiting for the takeover's lock
    with pytest.raises(StaleWriter):
        await writing
    assert [r.sequence for r in await store.segments(rid)] == [0]


async def test_a_claim_with_a_smaller_token_is_refused(store: RecordingStore) -> None:
    rid = "q" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0, fence_token=5)
    assert await store.claim(rid, 7)
    assert not await store.claim(rid, 6)  # a node whose lease came before the holder's
    assert await stored_token(store, rid) == 7
    assert await store.claim(rid, 7)  # the holder again: still its own
    assert not await store.claim("x" * 16, 9)  # no such recording


async def test_a_stale_recordings_rows_fail_alone_in_their_batch(store: RecordingStore) -> None:
    store._batch_delay = 1.0  # every row below joins one batch
    stale, fresh = "r" * 16, "s" * 16
    await store.create(stale, channel="demo", stream_id="s1", started_at=T0, fence_token=5)
    await store.create(fresh, channel="demo", stream_id="s2", started_at=T0, fence_token=3)
    await add(store, stale, "source", 0, 1.0, token=5)
    assert await store.claim(stale, 7)
    before = store.transactions
    results = await asyncio.gather(
        add(store, stale, "source", 1, 1.0, token=5),
        add(store, fresh, "source", 0, 1.0, token=3),
        add(store, stale, "audio", 0, 1.0, token=5),
        add(store, fresh, "audio", 0, 1.0, token=3),
        add(store, stale, "source", 1, 1.0, token=7),  # the new holder's row, same batch
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == [
        "StaleWriter",
        "NoneType",
        "StaleWriter",
        "NoneType",
        "NoneType",
    ]
    # Refusing the stale rows did not fail the batch: one transaction wrote the others.
    assert store.transactions - before == 1
    assert [(r.rendition, r.sequence) for r in await store.segments(fresh)] == [
        ("audio", 0),
        ("source", 0),
    ]
    assert [(r.rendition, r.sequence) for r in await store.segments(stale)] == [
        ("source", 0),
        ("source", 1),
    ]
    assert (await store.finish(fresh, ended_at=None, fence_token=3)).status == "ready"


async def test_a_row_with_a_larger_token_takes_the_recording_over(store: RecordingStore) -> None:
    """The index keeps the largest token it has seen, claimed or not."""
    rid = "t" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0, fence_token=5)
    await add(store, rid, "source", 0, 1.0, token=9)
    assert await stored_token(store, rid) == 9
    with pytest.raises(StaleWriter):
        await add(store, rid, "source", 1, 1.0, token=5)
    assert not await store.claim(rid, 7)
    assert (await store.finish(rid, ended_at=None, fence_token=9)).status == "ready"


async def test_a_single_process_writes_with_token_zero(store: RecordingStore) -> None:
    rid = "u" * 16
    await store.create(rid, channel="demo", stream_id="s1", started_at=T0)  # no token: 0
    assert await stored_token(store, rid) == 0
    await add(store, rid, "source", 0, 1.0)
    # A graceful restart resumes it with token 0 again.
    point = await store.resume_point("demo", "s1")
    assert point is not None and point.next_sequences == {"source": 1}
    await add(store, rid, "source", 1, 1.0)
    assert (await store.finish(rid, ended_at=None)).status == "ready"
    assert await stored_token(store, rid) == 0
