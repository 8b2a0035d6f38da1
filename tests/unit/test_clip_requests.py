"""Clip requests against a real index (SQLite and PostgreSQL) and an in-memory object store: the copy is
whole and only under clips/<id>/, the refusals, and the rate limit under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from golive.accounts.attempt_store import AttemptCounter, LocalAttemptStore
from golive.clip_requests import Clipper, ClipRefused, ClipRequests
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.clips import ClipStore, ClipSummary
from golive.db.engine import Database
from golive.db.recordings import RecordingStore
from golive.db.users import UserStore
from tests.support.fake_recordings import MemoryStore
from tests.support.postgres_server import DATABASE_BACKENDS, fresh_database_url

T0 = 1_700_000_000.0
VOD = "v" * 16


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or one on the PostgreSQL server."""
    return fresh_database_url(request.param, request, tmp_path)


@pytest.fixture
async def database(tmp_path: Path, database_url: str) -> AsyncIterator[Database]:
    database = await Database.open(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        yield database
    finally:
        await database.close()


async def make(
    database: Database, *, rate: AttemptCounter | None = None
) -> tuple[ClipRequests, MemoryStore, list[ClipSummary], Clipper]:
    sessions = database.sessionmaker
    channels = ChannelStore(sessions)
    await channels.add("demo")
    recordings = RecordingStore(sessions)
    user = await UserStore(sessions).add("viewer")
    objects = MemoryStore()
    await recordings.create(VOD, channel="demo", stream_id="s", started_at=T0)
    for rendition in ("source", "audio"):
        objects.objects[f"{VOD}/{rendition}/init-0.mp4"] = b"init"
        for seq in range(20):
            key = f"{VOD}/{rendition}/{seq}.m4s"
            objects.objects[key] = f"{rendition}{seq}".encode()
            await recordings.add_segment(
                VOD,
                rendition=rendition,
                sequence=seq,
                media_start=seq * 90_000,
                timescale=90_000,
                duration=1.0,
                byte_size=10,
                program_date_time=T0 + seq,
                storage_key=key,
                init_key=f"{VOD}/{rendition}/init-0.mp4",
                discontinuity=False,
                gap_before=False,
            )
    await recordings.finish(VOD, ended_at=T0 + 20)
    created: list[ClipSummary] = []
    service = ClipRequests(
        recordings=recordings,
        clips=ClipStore(sessions),
        channels=channels,
        store=objects,
        is_live=lambda channel: False,
        rate=rate,
        on_created=created.append,
    )
    return service, objects, created, Clipper(user.id, user.username, False)


async def test_a_vod_clip_is_a_whole_copy_under_its_own_keys(database: Database) -> None:
    service, objects, created, user = await make(database)
    clip = await service.from_vod(user, VOD, start=4.2, duration=5, title=" a  title ")
    assert (clip.start, clip.duration, clip.title, clip.creator) == (4.0, 5.0, "a title", "viewer")
    assert created == [clip]
    own = sorted(k for k in objects.objects if k.startswith(f"clips/{clip.id}/"))
    assert own == sorted(
        [f"clips/{clip.id}/{r}/{n}.m4s" for r in ("source", "audio") for n in range(5)]
        + [f"clips/{clip.id}/{r}/init-0.mp4" for r in ("source", "audio")]
        + [f"clips/{clip.id}/{r}/index.m3u8" for r in ("source", "audio")]
        + [f"clips/{clip.id}/index.m3u8", f"clips/{clip.id}/manifest.mpd"]
    )
    assert objects.objects[f"clips/{clip.id}/source/0.m4s"] == b"source4"
    assert objects.objects[f"clips/{clip.id}/audio/4.m4s"] == b"audio8"
    # Deleting the clip removes its objects only.
    before = {k for k in objects.objects if not k.startswith("clips/")}
    await service.delete(clip)
    assert set(objects.objects) == before


@pytest.mark.parametrize(
    ("start", "duration", "status", "code"),
    [
        (0, 0, 422, "invalid_clip"),
        (0, 61, 422, "invalid_clip"),
        ("5", 10, 422, "invalid_clip"),
        (18, 10, 422, "clip_out_of_range"),
        (-1, 10, 422, "clip_out_of_range"),
    ],
)
async def test_refusals(
    database: Database, start: object, duration: object, status: int, code: str
) -> None:
    service, objects, created, user = await make(database)
    with pytest.raises(ClipRefused) as refused:
        await service.from_vod(user, VOD, start=start, duration=duration, title="")
    assert (refused.value.status, refused.value.code) == (status, code)
    assert not created and not any(k.startswith("clips/") for k in objects.objects)
    with pytest.raises(ClipRefused) as refused:
        await service.from_live(user, "demo", start_pdt=None, duration=30, title="")
    assert (refused.value.status, refused.value.code) == (409, "channel_not_live")


async def test_concurrent_requests_do_not_pass_the_rate_limit(database: Database) -> None:
    service, _, created, user = await make(
        database, rate=LocalAttemptStore().counter("clip", limit=10, window=60.0)
    )
    results = await asyncio.gather(
        *(service.from_vod(user, VOD, start=0, duration=5, title="") for _ in range(15)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, ClipRefused)]
    assert len(created) == 10 and len(refused) == 5
    assert {r.code for r in refused} == {"clip_rate_limited"}
