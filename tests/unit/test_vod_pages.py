"""The VOD pages and their JSON in-process (no server, no media): what past broadcasts
lists to whom, paging, escaping of hostile titles, private VODs, views, chat replay and the
MP4 download's JSON (session, CSRF, owner only)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from golive.accounts.web_sessions import BrowserSessions
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.chat_replay import ChatReplay
from golive.db.chat_store import ChatStore
from golive.db.engine import Database
from golive.db.models import is_valid_channel_name
from golive.db.recordings import RecordingStore
from golive.db.users import UserStore
from golive.db.vod_views import VodViews
from golive.db.web_sessions import WebSessionStore
from golive.http.web import VodSite, web_routes
from golive.http.web.vod_pages import clock_text
from tests.support.fake_recordings import MemoryStore, recorded
from tests.support.web_accounts import sign_up
from tests.unit.test_accounts_web_site import ESCAPED, HOSTILE, FakeLive

pytestmark = pytest.mark.timeout(60)

BASE = "http://live.example"
T0 = 1_700_000_000.0


@dataclass
class ExportState:
    status: str
    progress: float = 0.0
    size: int = 0
    error: str = ""


@dataclass
class FakeExports:
    states: dict[str, ExportState] = field(default_factory=dict)

    async def start(self, recording_id: str, duration: float) -> ExportState | None:
        state = self.states.setdefault(recording_id, ExportState("running", 0.25))
        return state

    async def state(self, recording_id: str) -> ExportState | None:
        return self.states.get(recording_id)


@dataclass
class Site:
    db: Database
    channels: ChannelStore
    users: UserStore
    recordings: RecordingStore
    chat: ChatStore
    exports: FakeExports
    views: VodViews
    app: Starlette

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(data_dir=tmp_path / "data")
    db = await Database.open(settings)
    channels = ChannelStore(db.sessionmaker)
    users = UserStore(db.sessionmaker)
    recordings = RecordingStore(db.sessionmaker)
    exports = FakeExports()
    views = VodViews(db.sessionmaker, flush_every=3600)
    routes = web_routes(
        channels=channels,
        users=users,
        sessions=BrowserSessions(WebSessionStore(db.sessionmaker)),
        live=FakeLive(),
        settings=lambda: settings,
        vods=VodSite(recordings, ChatReplay(db.sessionmaker), views, exports),
    )
    try:
        yield Site(
            db,
            channels,
            users,
            recordings,
            ChatStore(db.sessionmaker),
            exports,
            views,
            Starlette(routes=routes),
        )
    finally:
        await views.close()
        await db.close()


async def owned_channel(site: Site, client: httpx.AsyncClient, name: str = "show") -> int:
    """Sign ``owner`` up on ``client`` and give them channel ``name``; its id."""
    await sign_up(client, "owner")
    owner = await site.users.by_name("owner")
    assert owner is not None
    channel, _ = await site.channels.add(name, owner_id=owner.id)
    return channel.id


async def vod(
    site: Site, rid: str, started: float, *, title: str = "", visibility: str = "public"
) -> None:
    await recorded(site.recordings, MemoryStore(), rid, "show", started)
    await site.recordings.finish(rid, ended_at=started + 2)
    await site.recordings.update(rid, title=title or None, visibility=visibility)


def listed(html: str) -> list[str]:
    return re.findall(r'data-vod="([^"]+)"', html)


def test_videos_is_a_reserved_channel_name() -> None:
    assert not is_valid_channel_name("videos")


def test_clock_text() -> None:
    assert clock_text(0) == "0:00"
    assert clock_text(65.9) == "1:05"
    assert clock_text(3723) == "1:02:03"


async def test_past_broadcasts_lists_public_vods_newest_first_and_private_to_the_owner(
    site: Site,
) -> None:
    async with site.client() as owner:
        await owned_channel(site, owner)
        await vod(site, "vod-public-old-0001", T0, title=HOSTILE)
        await vod(site, "vod-public-new-0002", T0 + 100)
        await vod(site, "vod-unlisted-00003", T0 + 200, visibility="unlisted")
        await vod(site, "vod-private-000004", T0 + 300, visibility="private")
        await site.recordings.create(
            "vod-recording-0005", channel="show", stream_id="s", started_at=T0 + 400
        )
        page = await owner.get("/show/videos")
        assert page.status_code == 200
        assert listed(page.text) == [
            "vod-private-000004",
            "vod-public-new-0002",
            "vod-public-old-0001",
        ]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert HOSTILE not in page.text and ESCAPED in page.text
        assert "/vod/vod-public-new-0002/thumbnail.jpg" in page.text
        assert 'href="/videos/vod-public-new-0002"' in page.text
        assert "0:02" in page.text and "0 views" in page.text
    async with site.client() as stranger:
        page = await stranger.get("/show/videos")
        assert listed(page.text) == ["vod-public-new-0002", "vod-public-old-0001"]
        assert "<script>" not in page.text
        assert (await stranger.get("/nobody/videos")).status_code == 404
        assert (await stranger.get("/Bad..Name/videos")).status_code == 404


async def test_past_broadcasts_pages(site: Site) -> None:
    async with site.client() as client:
        await owned_channel(site, client)
        for i in range(30):
            await vod(site, f"vod-page-{i:011d}", T0 + i)
        first = await client.get("/show/videos")
        ids = listed(first.text)
        assert len(ids) == 24 and ids[0] == "vod-page-00000000029"
        older = re.search(r'id="older" href="([^"]+)"', first.text)
        assert older is not None
        second = await client.get(older[1].replace("&amp;", "&"))
        assert listed(second.text) == [f"vod-page-{i:011d}" for i in range(5, -1, -1)]
        assert 'id="older"' not in second.text


async def test_the_vod_page_counts_views_and_escapes(site: Site) -> None:
    async with site.client() as client:
        await owned_channel(site, client)
        await vod(site, "vod-watched-000001", T0, title=HOSTILE)
        page = await client.get("/videos/vod-watched-000001")
        assert page.status_code == 200
        assert HOSTILE not in page.text and ESCAPED in page.text
        assert 'data-vod="vod-watched-000001"' in page.text
        assert "/static/dist/vod-page.js" in page.text
        assert 'href="/show"' in page.text and 'href="/show/videos"' in page.text
        assert 'id="mp4-start"' in page.text  # the owner's download button
        await client.get("/videos/vod-watched-000001")
        await client.head("/videos/vod-watched-000001")  # not a view
    async with site.client() as stranger:
        page = await stranger.get("/videos/vod-watched-000001")
        assert 'id="mp4-start"' not in page.text
    # Counted in memory, written in one batch.
    before = await site.recordings.get("vod-watched-000001")
    assert before is not None and before.views == 0
    await site.views.flush()
    found = await site.recordings.get("vod-watched-000001")
    assert found is not None and found.views == 3 and site.views.transactions == 1
    async with site.client() as client:
        assert "4 views" in (await client.get("/videos/vod-watched-000001")).text
    async with site.client() as client:
        assert (await client.get("/videos/no-such-vod-000001")).status_code == 404
        assert (await client.get("/videos/..%2F..%2Fetc")).status_code == 404


async def test_a_private_vod_is_a_404_to_all_but_its_owner(site: Site) -> None:
    async with site.client() as owner:
        await owned_channel(site, owner)
        await vod(site, "vod-secret-0000001", T0, visibility="private")
        assert (await owner.get("/videos/vod-secret-0000001")).status_code == 200
        assert (
            await owner.get("/web/vods/vod-secret-0000001/chat?from=0&to=10")
        ).status_code == 200
    async with site.client() as stranger:
        await sign_up(stranger, "stranger")
        assert (await stranger.get("/videos/vod-secret-0000001")).status_code == 404
        r = await stranger.get("/web/vods/vod-secret-0000001/chat?from=0&to=10")
        assert r.status_code == 404
    async with site.client() as anonymous:
        assert (await anonymous.get("/videos/vod-secret-0000001")).status_code == 404
    await site.views.flush()
    found = await site.recordings.get("vod-secret-0000001")
    assert found is not None and found.views == 1


async def test_chat_replay_json(site: Site) -> None:
    async with site.client() as client:
        channel_id = await owned_channel(site, client)
        await vod(site, "vod-chatty-0000001", T0, visibility="unlisted")
        owner = await site.users.by_name("owner")
        assert owner is not None
        for mid, text, media_time in (("a", HOSTILE, 0.5), ("b", "later", 1.5)):
            site.chat.save_message(
                channel_id,
                owner.id,
                {
                    "id": mid,
                    "text": text,
                    "time": 0,
                    "stream_id": "s-vod-chatty-0000001",
                    "media_time": media_time,
                },
            )
        await site.chat.flush()
    async with site.client() as anonymous:  # unlisted: anyone with the link
        r = await anonymous.get("/web/vods/vod-chatty-0000001/chat?from=0&to=1")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        assert r.json() == {
            "messages": [
                {"id": "a", "user": "owner", "display_name": "owner", "text": HOSTILE, "t": 0.5}
            ]
        }
        r = await anonymous.get("/web/vods/vod-chatty-0000001/chat?from=1")
        assert [m["id"] for m in r.json()["messages"]] == ["b"]
        for query in ("from=0&to=601", "from=5&to=1", "from=-1&to=5", "from=x", "from=inf"):
            r = await anonymous.get(f"/web/vods/vod-chatty-0000001/chat?{query}")
            assert r.status_code == 400, query
            assert r.json()["error"]["code"] == "bad_range"


async def test_mp4_download_json_needs_the_owners_session_and_csrf(site: Site) -> None:
    async with site.client() as owner:
        await owned_channel(site, owner)
        await vod(site, "vod-download-00001", T0)
        csrf = (await owner.get("/web/session")).json()["csrf"]
        url = "/web/vods/vod-download-00001/mp4"
        assert (await owner.get(url)).status_code == 404  # none asked for yet
        assert (await owner.post(url)).status_code == 403  # no CSRF token
        r = await owner.post(url, headers={"x-csrf-token": csrf})
        assert r.status_code == 202
        assert r.json() == {
            "status": "running",
            "progress": 0.25,
            "size": None,
            "url": None,
            "error": None,
        }
        site.exports.states["vod-download-00001"] = ExportState("ready", 1.0, 1234)
        r = await owner.get(url)
        assert r.json()["url"] == "/vod/vod-download-00001/download.mp4"
        assert r.json()["size"] == 1234
    async with site.client() as stranger:
        assert (await stranger.post(url)).status_code == 401
        await sign_up(stranger, "stranger")
        csrf = (await stranger.get("/web/session")).json()["csrf"]
        assert (await stranger.post(url, headers={"x-csrf-token": csrf})).status_code == 403
        assert (await stranger.get(url)).status_code == 403
