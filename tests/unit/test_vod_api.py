"""The VOD API over a real index and an in-memory object store that can fail: a delete during a
storage outage answers 503 and loses nothing; the retry finishes it. Also who may do what."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from golive.config import Settings
from golive.db.api_tokens import ApiTokenStore
from golive.db.channels import ChannelStore
from golive.db.chat_replay import ChatReplay
from golive.db.engine import Database
from golive.db.recordings import RecordingStore
from golive.db.users import UserStore
from golive.db.webhook_deliveries import WebhookDeliveryLog
from golive.http.api.app import create_api
from golive.http.api.services import ApiServices, LiveStreamInfo
from tests.support.fake_recordings import MemoryStore, recorded

T0 = 1_700_000_000.0
VOD = "v" * 16


class NoLiveStreams:
    def list(self) -> list[LiveStreamInfo]:
        return []

    def get(self, channel: str) -> LiveStreamInfo | None:
        return None

    def stop(self, channel: str, reason: str, *, end: bool) -> bool:
        return False


@dataclass
class Api:
    client: httpx.AsyncClient
    recordings: RecordingStore
    objects: MemoryStore
    owner: dict[str, str]
    stranger: dict[str, str]
    admin: dict[str, str]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, public_url="https://tv.example")
    database = await Database.open(settings)
    sessions = database.sessionmaker
    users, tokens, channels = UserStore(sessions), ApiTokenStore(sessions), ChannelStore(sessions)
    recordings, objects = RecordingStore(sessions), MemoryStore()
    headers = {}
    for name, scopes, admin in (
        ("owner", ["write"], False),
        ("stranger", ["write"], False),
        ("root", ["admin"], True),
    ):
        user = await users.add(name, is_admin=admin)
        _, secret = await tokens.create(user, scopes)
        headers[name] = {"authorization": f"Bearer {secret}"}
        if name == "owner":
            await channels.add("show", owner_id=user.id)
    await recorded(recordings, objects, VOD, "show", T0)
    await recordings.finish(VOD, ended_at=T0 + 2)
    app = create_api(
        ApiServices(
            channels=channels,
            users=users,
            tokens=tokens,
            deliveries=WebhookDeliveryLog(sessions),
            live=NoLiveStreams(),
            settings=lambda: settings,
            recordings=recordings,
            recording_objects=objects,
            chat_replay=ChatReplay(sessions),
        )
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(
                client,
                recordings,
                objects,
                headers["owner"],
                headers["stranger"],
                headers["root"],
            )
    finally:
        await database.close()


async def test_a_delete_during_a_storage_outage_answers_503_and_keeps_the_vod(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api.objects.broken = True
    with caplog.at_level(logging.WARNING, logger="golive.api"):
        r = await api.client.delete(f"/vods/{VOD}", headers=api.owner)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "storage_unavailable"
    assert "retry" in r.json()["error"]["message"]
    assert any(VOD in rec.getMessage() for rec in caplog.records)
    assert await api.recordings.get(VOD) is not None
    assert len(await api.recordings.segments(VOD)) == 1
    assert len(api.objects.objects) == 2
    assert (await api.client.get(f"/vods/{VOD}", headers=api.owner)).status_code == 200

    api.objects.broken = False
    assert (await api.client.delete(f"/vods/{VOD}", headers=api.owner)).status_code == 204
    assert api.objects.objects == {}
    assert await api.recordings.get(VOD) is None
    r = await api.client.get(f"/vods/{VOD}", headers=api.owner)
    assert r.status_code == 404 and r.json()["error"]["code"] == "vod_not_found"


async def test_urls_are_absolute_and_fields_as_documented(api: Api) -> None:
    r = await api.client.get("/channels/show/vods", headers=api.stranger)
    assert r.status_code == 200, r.text
    [vod] = r.json()
    assert vod["playlist_url"] == f"https://tv.example/vod/{VOD}/index.m3u8"
    assert vod["dash_url"] == f"https://tv.example/vod/{VOD}/manifest.mpd"
    assert (vod["status"], vod["visibility"], vod["views"]) == ("ready", "public", 0)
    assert vod["duration"] == 2.0 and vod["bytes"] == 500


async def test_strangers_get_403_on_writes_and_404_once_private(api: Api) -> None:
    r = await api.client.patch(f"/vods/{VOD}", json={"title": "mine"}, headers=api.stranger)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_vod_owner"
    assert (await api.client.delete(f"/vods/{VOD}", headers=api.stranger)).status_code == 403
    r = await api.client.patch(
        f"/vods/{VOD}", json={"title": "  Best of  ", "visibility": "private"}, headers=api.owner
    )
    assert r.status_code == 200 and r.json()["title"] == "Best of"
    for method in ("GET", "PATCH", "DELETE"):
        body = {"title": "x"} if method == "PATCH" else None
        r = await api.client.request(method, f"/vods/{VOD}", json=body, headers=api.stranger)
        assert r.status_code == 404, (method, r.text)
        assert r.json()["error"]["code"] == "vod_not_found"
    assert (await api.client.get("/channels/show/vods", headers=api.stranger)).json() == []
    assert len((await api.client.get("/channels/show/vods", headers=api.admin)).json()) == 1
    assert len(api.objects.objects) == 2  # nothing deleted by the stranger


@pytest.mark.parametrize(
    "body",
    [
        '{"title": "%s"}' % ("x" * 201),
        r'{"title": "bell\u0007"}',
        r'{"title": "\ud800"}',
        '{"visibility": "secret"}',
        '{"title": 5}',
    ],
)
async def test_bad_updates_are_refused(api: Api, body: str) -> None:
    headers = {**api.owner, "content-type": "application/json"}
    r = await api.client.patch(f"/vods/{VOD}", content=body, headers=headers)
    assert r.status_code == 422, r.text
    vod = await api.recordings.get(VOD)
    assert vod is not None and vod.title == "" and vod.visibility == "public"


async def test_a_recording_in_progress_cannot_be_deleted(api: Api) -> None:
    live = "l" * 16
    await recorded(api.recordings, api.objects, live, "show", T0 + 100)
    r = await api.client.delete(f"/vods/{live}", headers=api.owner)
    assert r.status_code == 409 and r.json()["error"]["code"] == "recording_in_progress"
    assert await api.recordings.get(live) is not None
    # Nor is it listed, though it can be read by id.
    listed = (await api.client.get("/channels/show/vods", headers=api.owner)).json()
    assert [v["id"] for v in listed] == [VOD]
    assert (await api.client.get(f"/vods/{live}", headers=api.owner)).json()["status"] == (
        "recording"
    )


async def test_chat_replay_follows_the_vods_visibility_and_checks_its_range(api: Api) -> None:
    url = f"/vods/{VOD}/chat"
    for who in (api.owner, api.stranger, api.admin):
        r = await api.client.get(f"{url}?from=0&to=10", headers=who)
        assert r.status_code == 200 and r.json() == {"messages": []}
    assert (await api.client.get(url)).status_code == 401
    for query in ("from=-1", "from=5&to=5", "from=0&to=600.5", "from=x"):
        r = await api.client.get(f"{url}?{query}", headers=api.owner)
        assert r.status_code == 422, query
        assert r.json()["error"]["code"] == "invalid_request"
    await api.recordings.update(VOD, visibility="private")
    r = await api.client.get(url, headers=api.stranger)
    assert r.status_code == 404 and r.json()["error"]["code"] == "vod_not_found"
    assert (await api.client.get(url, headers=api.owner)).status_code == 200
    assert (await api.client.get(url, headers=api.admin)).status_code == 200
