"""The VOD API over real recordings: publish two short streams, list them, retitle and hide
one (private VODs vanish for strangers), delete it (its files and rows go), and let one
retention pass delete the other once its start is pushed into the past."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from golive.app import GoliveServer
from golive.db.models import Recording
from golive.db.recordings import RecordingStore, RecordingSummary
from tests.support.api_tokens import bearer, user_token
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SECONDS = 4


async def wait_for_recordings(store: RecordingStore, count: int) -> list[RecordingSummary]:
    deadline = time.monotonic() + 30
    while True:
        found = await store.for_channel("demo")
        if len(found) == count and all(r.status != "recording" for r in found):
            return found
        assert time.monotonic() < deadline, f"recordings never finished: {found}"
        await asyncio.sleep(0.2)


async def record_once(server: GoliveServer, count: int) -> RecordingSummary:
    """Publish a short stream, end it, and return its finished recording (the newest)."""
    publisher = await start_publisher(
        rtmp_url(server, server.demo_key or ""), seconds=SECONDS, size="320x180"
    )
    assert (await finish(publisher))[0] == 0
    server.registry.stop("demo", "test over", end=True)
    assert server.recordings is not None
    return (await wait_for_recordings(server.recordings, count))[0]


def recording_files(data: Path, recording_id: str) -> list[Path]:
    return [p for p in (data / "recordings" / recording_id).rglob("*") if p.is_file()]


async def test_vods_are_listed_changed_hidden_deleted_and_expired(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with (
        running_server(
            data, reconnect_grace=0.0, channel_ladders={"demo": "passthrough"}
        ) as server,
        http_client(server) as client,
    ):
        assert server.recordings is not None and server.channels is not None
        assert server.users is not None and server.retention is not None
        owner = bearer(await user_token(server, "owner", ["write"]))
        stranger = bearer(await user_token(server, "stranger", ["write"]))
        owner_user = await server.users.by_name("owner")
        assert owner_user is not None
        await server.channels.update("demo", owner_id=owner_user.id)

        # The channel's recording switch and retention, through the channel API.
        r = await client.get("/api/v1/channels/demo", headers=owner)
        assert (r.json()["record"], r.json()["retention_days"]) == (True, None)
        r = await client.patch(
            "/api/v1/channels/demo", json={"record": False, "retention_days": 7}, headers=owner
        )
        assert (r.json()["record"], r.json()["retention_days"]) == (False, 7)
        r = await client.patch(  # longer than the global 30 days: administrators only
            "/api/v1/channels/demo", json={"retention_days": 60}, headers=owner
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_required"
        r = await client.patch(
            "/api/v1/channels/demo", json={"record": True, "retention_days": None}, headers=owner
        )
        assert (r.json()["record"], r.json()["retention_days"]) == (True, None)
        # The channel's own size cap: set, shown, refused when negative, taken away with 0.
        assert r.json()["retention_gb"] is None
        r = await client.patch("/api/v1/channels/demo", json={"retention_gb": 50}, headers=owner)
        assert r.status_code == 200 and r.json()["retention_gb"] == 50
        r = await client.patch("/api/v1/channels/demo", json={"retention_gb": -1}, headers=owner)
        assert r.status_code == 422
        r = await client.patch("/api/v1/channels/demo", json={"retention_gb": 0}, headers=owner)
        assert r.status_code == 200 and r.json()["retention_gb"] is None

        old = await record_once(server, 1)
        kept = await record_once(server, 2)
        assert old.status == kept.status == "ready"
        assert recording_files(data, old.id) and recording_files(data, kept.id)

        # Listed, newest first, to a stranger too (public); paginated.
        r = await client.get("/api/v1/channels/demo/vods", headers=stranger)
        assert r.status_code == 200, r.text
        listed = r.json()
        assert [v["id"] for v in listed] == [kept.id, old.id]
        vod = listed[0]
        assert vod["channel"] == "demo" and vod["status"] == "ready"
        assert vod["duration"] == pytest.approx(SECONDS, abs=2.5)
        assert vod["bytes"] == kept.bytes > 0 and vod["views"] == 0
        assert vod["playlist_url"].endswith(f"/vod/{kept.id}/index.m3u8")
        assert vod["playlist_url"].startswith("http")
        assert vod["dash_url"].endswith(f"/vod/{kept.id}/manifest.mpd")
        page = await client.get(
            "/api/v1/channels/demo/vods",
            params={"limit": 1, "before": vod["started_at"]},
            headers=stranger,
        )
        assert [v["id"] for v in page.json()] == [old.id]
        assert (await client.get("/api/v1/channels/demo/vods")).status_code == 401

        # Retitled and made private: gone for the stranger, there for the owner.
        r = await client.patch(
            f"/api/v1/vods/{kept.id}",
            json={"title": "  <b>Best</b> of Friday  ", "visibility": "private"},
            headers=owner,
        )
        assert r.status_code == 200, r.text
        assert (r.json()["title"], r.json()["visibility"]) == ("<b>Best</b> of Friday", "private")
        r = await client.get(f"/api/v1/vods/{kept.id}", headers=stranger)
        assert r.status_code == 404 and r.json()["error"]["code"] == "vod_not_found"
        listed = (await client.get("/api/v1/channels/demo/vods", headers=stranger)).json()
        assert [v["id"] for v in listed] == [old.id]
        listed = (await client.get("/api/v1/channels/demo/vods", headers=owner)).json()
        assert [v["id"] for v in listed] == [kept.id, old.id]
        # Unlisted: readable by id, not listed.
        await client.patch(
            f"/api/v1/vods/{kept.id}", json={"visibility": "unlisted"}, headers=owner
        )
        assert (await client.get(f"/api/v1/vods/{kept.id}", headers=stranger)).status_code == 200
        listed = (await client.get("/api/v1/channels/demo/vods", headers=stranger)).json()
        assert [v["id"] for v in listed] == [old.id]

        # Deleted: a stranger may not; the owner does, and files and rows are gone.
        r = await client.delete(f"/api/v1/vods/{kept.id}", headers=stranger)
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_vod_owner"
        r = await client.delete(f"/api/v1/vods/{kept.id}", headers=owner)
        assert r.status_code == 204, r.text
        assert not (data / "recordings" / kept.id).exists()
        assert await server.recordings.get(kept.id) is None
        assert await server.recordings.segments(kept.id) == []
        assert (await client.get(f"/api/v1/vods/{kept.id}", headers=owner)).status_code == 404
        assert recording_files(data, old.id)  # the other one untouched

        # Retention: pushed 31 days into the past, one pass deletes it (global 30 days).
        assert server.db is not None
        async with server.db.sessionmaker() as session, session.begin():
            await session.execute(
                update(Recording)
                .where(Recording.id == old.id)
                .values(started_at=datetime.now(UTC) - timedelta(days=31))
            )
        expired = await server.retention.run_once()
        assert [e.id for e in expired] == [old.id]
        assert not (data / "recordings" / old.id).exists()
        assert await server.recordings.get(old.id) is None
        assert (await client.get("/api/v1/channels/demo/vods", headers=owner)).json() == []
        metrics = (await client.get("/metrics")).text
        assert "golive_recordings_expired_total 1.0" in metrics


async def test_every_vod_operation_needs_a_token(server: GoliveServer) -> None:
    async with http_client(server) as client:
        for method, path in (
            ("GET", "/api/v1/channels/demo/vods"),
            ("GET", f"/api/v1/vods/{'a' * 16}"),
            ("PATCH", f"/api/v1/vods/{'a' * 16}"),
            ("DELETE", f"/api/v1/vods/{'a' * 16}"),
        ):
            r = await client.request(method, path, json={} if method == "PATCH" else None)
            assert r.status_code == 401, (method, path)
        token = bearer(await user_token(server, "someone", ["read"]))
        r = await client.get("/api/v1/vods/..%2F..%2Fetc", headers=token)
        assert r.status_code in (404, 422)
        r = await client.get("/api/v1/channels/nobody/vods", headers=token)
        assert r.status_code == 404 and r.json()["error"]["code"] == "channel_not_found"
