"""golive on PostgreSQL: a server whose database is a real PostgreSQL server on loopback.
A channel is created through the API, a few seconds are published with ffmpeg, and the
finished VOD is listed with its duration: the recording index rows went through the async
engine into PostgreSQL (no SQLite file anywhere)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.db.recordings import RecordingStore, RecordingSummary
from tests.support.api_tokens import bearer, user_token
from tests.support.postgres_server import PostgresServer
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SECONDS = 4
CHANNEL = "pgshow"


async def wait_for_recording(store: RecordingStore) -> RecordingSummary:
    deadline = time.monotonic() + 30
    while True:
        found = await store.for_channel(CHANNEL)
        if len(found) == 1 and found[0].status != "recording":
            return found[0]
        assert time.monotonic() < deadline, f"the recording never finished: {found}"
        await asyncio.sleep(0.2)


async def test_a_stream_is_recorded_and_listed_on_postgresql(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    data = tmp_path / "data"
    database_url = postgres_server.url(postgres_server.create_database())
    async with (
        running_server(
            data,
            database_url=database_url,
            reconnect_grace=0.0,
            channel_ladders={CHANNEL: "passthrough"},
        ) as server,
        http_client(server) as client,
    ):
        assert server.recordings is not None
        owner = bearer(await user_token(server, "owner", ["write"]))
        r = await client.post(
            "/api/v1/channels", json={"name": CHANNEL, "title": "On Postgres"}, headers=owner
        )
        assert r.status_code == 201, r.text
        key = r.json()["stream_key"]
        assert r.json()["channel"]["owner"] == "owner"

        publisher = await start_publisher(rtmp_url(server, key), seconds=SECONDS, size="320x180")
        code, err = await finish(publisher)
        assert code == 0, err
        server.registry.stop(CHANNEL, "test over", end=True)
        recording = await wait_for_recording(server.recordings)
        assert recording.status == "ready" and recording.title == "On Postgres"

        r = await client.get(f"/api/v1/channels/{CHANNEL}/vods", headers=owner)
        assert r.status_code == 200, r.text
        [vod] = r.json()
        assert vod["id"] == recording.id and vod["status"] == "ready"
        assert vod["duration"] == pytest.approx(SECONDS, abs=2.5)
        assert vod["bytes"] == recording.bytes > 0

        # The index rows are in PostgreSQL: every stored segment, the sequences unbroken and
        # the durations adding up to the VOD's (its longest rendition).
        rows = await server.recordings.segments(recording.id)
        assert rows
        per_rendition: dict[str, list[int]] = {}
        for row in rows:
            per_rendition.setdefault(row.rendition, []).append(row.sequence)
        for sequences in per_rendition.values():
            assert sequences == list(range(len(sequences)))
        longest = max(
            sum(row.duration for row in rows if row.rendition == rendition)
            for rendition in per_rendition
        )
        assert longest == pytest.approx(vod["duration"], abs=0.01)
        assert sum(row.byte_size for row in rows) == vod["bytes"]
        r = await client.get(f"/vod/{recording.id}/index.m3u8")
        assert r.status_code == 200 and "#EXTM3U" in r.text

    assert not (data / "golive.db").exists()  # nothing went to a SQLite file


async def test_the_engine_reconnects_after_a_database_outage(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Pooled connections die with a PostgreSQL restart: the next query after it must get a
    fresh connection rather than fail on a dead one."""
    database_url = postgres_server.url(postgres_server.create_database())
    db = await Database.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
    try:
        channels = ChannelStore(db.sessionmaker)
        _, key = await channels.add("before")
        postgres_server.stop()
        try:
            with pytest.raises((OSError, DBAPIError)):
                await channels.add("during")
        finally:
            postgres_server.start()
        found = await channels.authenticate(key)
        assert found is not None and found.name == "before"
        await channels.add("after")
        assert [c.name for c in await channels.list()] == ["after", "before"]
    finally:
        await db.close()
