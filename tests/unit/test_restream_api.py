"""/channels/{name}/restreams over a real database: validation with clear errors, the key
never answered (only its hint), who may manage what, the limit, the live status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from golive.config import Settings
from golive.db.api_tokens import ApiTokenStore
from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.db.restream_destinations import DestinationKeys, RestreamDestinationStore
from golive.db.users import UserStore
from golive.db.webhook_deliveries import WebhookDeliveryLog
from golive.http.api.app import create_api
from golive.http.api.restream_status import RestreamStatusInfo
from golive.http.api.services import ApiServices, LiveStreamInfo

KEY = "yt-key-0123456789-c0de"


class NoLiveStreams:
    def list(self) -> list[LiveStreamInfo]:
        return []

    def get(self, channel: str) -> LiveStreamInfo | None:
        return None

    def stop(self, channel: str, reason: str, *, end: bool) -> bool:
        return False


@dataclass
class FakeRestreamLive:
    statuses: dict[int, RestreamStatusInfo] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)

    def status(self, channel: str) -> Mapping[int, RestreamStatusInfo]:
        return self.statuses if channel == "show" else {}

    async def changed(self, channel: str) -> None:
        self.changes.append(channel)


@dataclass
class Api:
    client: httpx.AsyncClient
    live: FakeRestreamLive
    owner: dict[str, str]
    reader: dict[str, str]
    stranger: dict[str, str]
    admin: dict[str, str]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, restream_max_destinations=2)
    database = await Database.open(settings)
    sessions = database.sessionmaker
    users, tokens, channels = UserStore(sessions), ApiTokenStore(sessions), ChannelStore(sessions)
    headers = {}
    for name, scopes, admin in (
        ("owner", ["write"], False),
        ("reader", ["read"], False),
        ("stranger", ["write"], False),
        ("root", ["admin"], True),
    ):
        user = await users.by_name("owner") if name == "reader" else None
        if user is None:
            user = await users.add(name, is_admin=admin)
        _, secret = await tokens.create(user, scopes)
        headers[name] = {"authorization": f"Bearer {secret}"}
        if name == "owner":
            await channels.add("show", owner_id=user.id)
    live = FakeRestreamLive()
    app = create_api(
        ApiServices(
            channels=channels,
            users=users,
            tokens=tokens,
            deliveries=WebhookDeliveryLog(sessions),
            live=NoLiveStreams(),
            settings=lambda: settings,
            restreams=RestreamDestinationStore(sessions, DestinationKeys(b"z" * 32)),
            restream_live=live,
        )
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(
                client,
                live,
                headers["owner"],
                headers["reader"],
                headers["stranger"],
                headers["root"],
            )
    finally:
        await database.close()


PATH = "/channels/show/restreams"


async def test_add_list_update_delete_never_answers_the_key(api: Api) -> None:
    c = api.client
    r = await c.post(
        PATH,
        json={"url": "rtmp://a.example/live2", "key": KEY, "name": "YouTube"},
        headers=api.owner,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert KEY not in r.text
    assert made["key_hint"] == "…c0de" and made["status"] == "idle" and made["enabled"]
    assert api.live.changes == ["show"]
    api.live.statuses[made["id"]] = RestreamStatusInfo("live", bitrate_bps=2_500_000.4)
    r = await c.get(PATH, headers=api.reader)
    assert r.status_code == 200 and KEY not in r.text
    [listed] = r.json()
    assert (listed["status"], listed["bitrate_bps"]) == ("live", 2_500_000)
    api.live.statuses[made["id"]] = RestreamStatusInfo("failed", "Connection refused", 3.96)
    r = await c.get(PATH, headers=api.admin)
    [listed] = r.json()
    assert (listed["status"], listed["reason"], listed["retry_in"]) == (
        "failed",
        "Connection refused",
        4.0,
    )
    r = await c.patch(f"{PATH}/{made['id']}", json={"enabled": False}, headers=api.owner)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["status"] == "idle"  # disabled: not forwarded, whatever the stream says
    r = await c.patch(f"{PATH}/{made['id']}", json={"key": "other-key-9999"}, headers=api.owner)
    assert r.json()["key_hint"] == "…9999" and "other-key-9999" not in r.text
    assert (await c.delete(f"{PATH}/{made['id']}", headers=api.owner)).status_code == 204
    assert (await c.get(PATH, headers=api.owner)).json() == []
    assert api.live.changes == ["show"] * 4


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"url": "http://a.example/app", "key": "k"}, "invalid_restream", "rtmp:// or rtmps://"),
        ({"url": "rtmp://u:p@a.example/app", "key": "k"}, "invalid_restream", "credentials"),
        ({"url": "rtmp:///app", "key": "k"}, "invalid_restream", "no host"),
        ({"url": "rtmp://a.example/app?x=1", "key": "k"}, "invalid_restream", "query"),
        ({"url": "rtmp://a.example/app", "key": ""}, "invalid_request", "key"),
        ({"url": "rtmp://a.example/app", "key": "k" * 513}, "invalid_request", "key"),
        ({"url": "rtmp://a.example/app", "key": "a b"}, "invalid_restream", "spaces"),
        ({"url": "rtmp://a.example/app"}, "invalid_request", "key"),
        ({"url": "rtmp://a.example/" + "x" * 600, "key": "k"}, "invalid_request", "url"),
        ({"url": "rtmp://a.example/app", "key": "k", "name": "n" * 65}, "invalid_request", "name"),
    ],
)
async def test_invalid_destinations_are_refused_clearly(
    api: Api, body: dict[str, str], code: str, words: str
) -> None:
    r = await api.client.post(PATH, json=body, headers=api.owner)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code and words in error["message"]
    assert "k" * 513 not in r.text


async def test_permissions_limit_and_unknown_ids(api: Api) -> None:
    c = api.client
    body = {"url": "rtmp://a.example/app", "key": KEY}
    r = await c.post(PATH, json=body, headers=api.stranger)
    assert r.status_code == 404 and r.json()["error"]["code"] == "channel_not_found"
    r = await c.post(PATH, json=body, headers=api.reader)
    assert r.status_code == 403
    assert (await c.get(PATH, headers=api.stranger)).status_code == 404
    first = (await c.post(PATH, json=body, headers=api.owner)).json()
    assert (await c.post(PATH, json=body, headers=api.admin)).status_code == 201
    r = await c.post(PATH, json=body, headers=api.owner)
    assert r.status_code == 409 and r.json()["error"]["code"] == "restream_limit"
    r = await c.patch(f"{PATH}/{first['id']}", json={"enabled": False}, headers=api.stranger)
    assert r.status_code == 404
    r = await c.patch(f"{PATH}/9999", json={"enabled": False}, headers=api.owner)
    assert r.status_code == 404 and r.json()["error"]["code"] == "restream_not_found"
    r = await c.patch(f"{PATH}/{first['id']}", json={"url": "rtmp://x"}, headers=api.owner)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_restream"
    assert (await c.delete(f"{PATH}/9999", headers=api.owner)).status_code == 404
    assert (await c.delete(f"{PATH}/{first['id']}", headers=api.stranger)).status_code == 404
