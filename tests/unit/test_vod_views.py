"""VOD view counts: written in batches (one transaction a period), memory bounded; on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from golive.config import Settings
from golive.db.engine import Database
from golive.db.recordings import RecordingStore
from golive.db.vod_views import VodViews

T0 = 1_700_000_000.0


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


@pytest.fixture
async def db(tmp_path: Path, database_url: str) -> AsyncIterator[Database]:
    database = await Database.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
    store = RecordingStore(database.sessionmaker)
    for rid in ("views-a-0000000001", "views-b-0000000001", "views-c-0000000001"):
        await store.create(rid, channel="demo", stream_id="s", started_at=T0)
    try:
        yield database
    finally:
        await database.close()


async def views_of(store: RecordingStore, rid: str) -> int:
    found = await store.get(rid)
    assert found is not None
    return found.views


async def test_views_are_written_in_one_transaction_per_period(db: Database) -> None:
    recordings = RecordingStore(db.sessionmaker)
    views = VodViews(db.sessionmaker, flush_every=0.2)
    for _ in range(50):
        views.add("views-a-0000000001")
    views.add("views-b-0000000001")
    assert await views_of(recordings, "views-a-0000000001") == 0
    await asyncio.sleep(0.6)
    assert await views_of(recordings, "views-a-0000000001") == 50
    assert await views_of(recordings, "views-b-0000000001") == 1
    assert views.transactions == 1
    views.add("views-a-0000000001")
    await views.close()  # shutdown writes what is left
    assert await views_of(recordings, "views-a-0000000001") == 51
    assert views.transactions == 2


async def test_at_most_max_pending_vods_wait(db: Database) -> None:
    recordings = RecordingStore(db.sessionmaker)
    views = VodViews(db.sessionmaker, flush_every=3600, max_pending=2)
    for rid in ("views-a-0000000001", "views-b-0000000001", "views-c-0000000001"):
        views.add(rid)
    views.add("views-a-0000000001")  # already waiting: counted
    assert views.dropped == 1
    await views.close()
    assert await views_of(recordings, "views-a-0000000001") == 2
    assert await views_of(recordings, "views-c-0000000001") == 0
