"""The site's routes in-process (no server, no media): sign-up, sign-in, CSRF on forms and
JSON, rate limits, escaping of hostile text, the dashboard's channel actions, redirects."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from golive.accounts.attempt_store import LocalAttemptStore
from golive.accounts.web_sessions import BrowserSessions
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.db.users import UserStore
from golive.db.web_sessions import WebSessionStore
from golive.http.api.services import LiveStreamInfo
from golive.http.web import web_routes

pytestmark = pytest.mark.timeout(60)

HOSTILE = "<img src=x onerror=window.__xss=1>"
ESCAPED = "&lt;img src=x onerror=window.__xss=1&gt;"
BASE = "http://live.example"


@dataclass
class FakeLive:
    """The live layer's view, as the site reads it (no media involved)."""

    streams: dict[str, LiveStreamInfo] = field(default_factory=dict)
    stopped: list[tuple[str, str]] = field(default_factory=list)

    def list(self) -> list[LiveStreamInfo]:
        return list(self.streams.values())

    def get(self, channel: str) -> LiveStreamInfo | None:
        return self.streams.get(channel)

    def stop(self, channel: str, reason: str, *, end: bool) -> bool:
        self.stopped.append((channel, reason))
        return channel in self.streams

    def go_live(self, channel: str, viewers: int | None = 3) -> None:
        self.streams[channel] = LiveStreamInfo(
            channel=channel,
            stream_id="s1",
            state="live",
            started_at=time.time(),
            publishes=1,
            viewers=viewers,
            peak_viewers=viewers,
            health={"bitrate_bps": 2_500_000.0, "fps": 30.0, "video_codec": HOSTILE},
        )


@dataclass
class Site:
    db: Database
    channels: ChannelStore
    users: UserStore
    live: FakeLive
    app: Starlette

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE, follow_redirects=False
        )


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(data_dir=tmp_path / "data")
    db = await Database.open(settings)
    channels = ChannelStore(db.sessionmaker)
    users = UserStore(db.sessionmaker)
    live = FakeLive()
    routes = web_routes(
        channels=channels,
        users=users,
        sessions=BrowserSessions(WebSessionStore(db.sessionmaker)),
        live=live,
        settings=lambda: settings,
        ingest_url=lambda: "rtmp://live.example/live",
        signup_limit=LocalAttemptStore().counter("sign-up", limit=4, window=3600),
        max_channels_per_user=2,
    )
    try:
        yield Site(db, channels, users, live, Starlette(routes=routes))
    finally:
        await db.close()


def form_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match[1]


async def sign_up(client: httpx.AsyncClient, name: str, display: str = "") -> str:
    """Signs up through the form; returns the session's CSRF token (from /web/session)."""
    token = form_token((await client.get("/signup")).text)
    r = await client.post(
        "/signup",
        data={
            "username": name,
            "password": "correct horse",
            "display_name": display,
            "csrf": token,
        },
    )
    assert r.status_code == 303, r.text
    session = (await client.get("/web/session")).json()
    assert session["user"]["name"] == name
    return str(session["csrf"])


async def test_signup_login_logout(site: Site) -> None:
    async with site.client() as client:
        r = await client.get("/signup")
        assert r.status_code == 200
        assert "default-src 'self'" in r.headers["content-security-policy"]
        anon_cookie = next(c for c in r.headers.get_list("set-cookie") if "golive_csrf=" in c)
        assert "HttpOnly" in anon_cookie and "SameSite=strict" in anon_cookie
        token = form_token(r.text)
        r = await client.post(
            "/signup",
            data={"username": "Alice", "password": "correct horse", "csrf": token},
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        cookie = next(c for c in r.headers.get_list("set-cookie") if "golive_session=" in c)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        user = await site.users.by_name("alice")  # user names are lowercased
        assert user is not None and (user.password_hash or "").startswith("$argon2id$")
        page = await client.get("/dashboard")
        assert page.status_code == 200 and "alice" in page.text
        # Signed in: the page's forms carry the session-bound token, not the cookie's.
        session_token = form_token(page.text)
        assert session_token != token
        assert (await client.get("/login")).status_code == 303  # already signed in
        r = await client.post("/logout", data={"csrf": token})
        assert r.status_code == 403  # the anonymous token is not this session's
        r = await client.post("/logout", data={"csrf": session_token})
        assert r.status_code == 303
        assert (await client.get("/web/session")).json() == {"user": None, "csrf": None}
        r = await client.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/dashboard"
        # Log in again, landing where "next" says (a local path only).
        token = form_token((await client.get("/login?next=/demo")).text)
        r = await client.post(
            "/login",
            data={"username": "alice", "password": "correct horse", "csrf": token, "next": "/demo"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/demo"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil", "/a b"])
async def test_no_open_redirect_after_sign_in(site: Site, target: str) -> None:
    async with site.client() as client:
        token = form_token((await client.get("/signup")).text)
        r = await client.post(
            "/signup",
            data={"username": "bob", "password": "correct horse", "csrf": token, "next": target},
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"


async def test_forms_refuse_forgeries(site: Site) -> None:
    async with site.client() as client:
        token = form_token((await client.get("/signup")).text)
        data = {"username": "mallory", "password": "correct horse"}
        assert (await client.post("/signup", data=data)).status_code == 403
        assert (await client.post("/signup", data={**data, "csrf": "x" * 43})).status_code == 403
        for headers in (
            {"origin": "http://evil.example"},
            {"origin": "null"},
            {"sec-fetch-site": "cross-site"},
        ):
            r = await client.post("/signup", data={**data, "csrf": token}, headers=headers)
            assert r.status_code == 403, headers
        # Without the cookie the token is worthless (double submit).
        client.cookies.clear()
        assert (await client.post("/signup", data={**data, "csrf": token})).status_code == 403
        assert await site.users.by_name("mallory") is None
        # Not a form at all.
        r = await client.post(
            "/signup", content=b"{}", headers={"content-type": "application/json"}
        )
        assert r.status_code == 415


async def test_failed_sign_ins_are_rate_limited_per_user_and_address(site: Site) -> None:
    async with site.client() as client:
        await sign_up(client, "bob")
    async with site.client() as client:
        token = form_token((await client.get("/login")).text)
        for _ in range(5):
            r = await client.post(
                "/login", data={"username": "bob", "password": "wrong pass", "csrf": token}
            )
            assert r.status_code == 401
            assert "Wrong username or password." in r.text
        r = await client.post(
            "/login", data={"username": "bob", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 300
        assert "golive_session" not in r.headers.get("set-cookie", "")


async def test_signups_per_address_are_limited(site: Site) -> None:
    async with site.client() as client:
        for i in range(4):
            client.cookies.delete("golive_session")
            await sign_up(client, f"user{i}")
        client.cookies.delete("golive_session")
        token = form_token((await client.get("/signup")).text)
        r = await client.post(
            "/signup", data={"username": "user9", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


async def test_signup_errors_are_shown_and_keep_the_input(site: Site) -> None:
    async with site.client() as client:
        token = form_token((await client.get("/signup")).text)
        r = await client.post(
            "/signup",
            data={"username": "ok", "password": "short", "display_name": HOSTILE, "csrf": token},
        )
        assert r.status_code == 400 and "at least 8 characters" in r.text
        assert HOSTILE not in r.text and ESCAPED in r.text
        r = await client.post(
            "/signup", data={"username": "no spaces", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 400
        await sign_up(client, "taken")
        client.cookies.delete("golive_session")
        r = await client.post(
            "/signup", data={"username": "taken", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 409 and "taken" in r.text


async def test_dashboard_channel_lifecycle_and_escaping(site: Site) -> None:
    async with site.client() as client:
        await sign_up(client, "carol", display=HOSTILE)
        dash = await client.get("/dashboard")
        token = form_token(dash.text)
        assert HOSTILE not in dash.text and ESCAPED in dash.text
        r = await client.post("/dashboard/channels", data={"name": "carol-live", "csrf": token})
        assert r.status_code == 200
        key = re.search(r'class="stream-key"[^>]* value="(live_[^"]+)"', r.text)
        assert key, r.text
        assert "rtmp://live.example/live" in r.text
        assert await site.channels.authenticate(key[1]) is not None
        # The key is shown once: not on the next visit.
        assert key[1] not in (await client.get("/dashboard")).text
        r = await client.post(
            "/dashboard/channels/carol-live",
            data={"title": HOSTILE + "\u202e\n", "category": "Just <b>chatting</b>", "csrf": token},
        )
        assert r.status_code == 303
        channel = await site.channels.get("carol-live")
        assert channel is not None and channel.title == HOSTILE  # cleaned of control characters
        assert channel.record and channel.clip_permission == "everyone"  # the defaults
        # Recording and who may clip, from the same form (no JavaScript).
        page = (await client.get("/dashboard")).text
        assert '<select name="record">' in page and '<select name="clip_permission">' in page
        r = await client.post(
            "/dashboard/channels/carol-live",
            data={
                "title": "t",
                "record": "off",
                "clip_permission": "moderators",
                "csrf": token,
            },
        )
        assert r.status_code == 303
        channel = await site.channels.get("carol-live")
        assert channel is not None and not channel.record
        assert channel.clip_permission == "moderators"
        page = (await client.get("/dashboard")).text
        assert '<option value="off" selected>' in page
        assert '<option value="moderators" selected>' in page
        r = await client.post(
            "/dashboard/channels/carol-live",
            data={"title": "t", "clip_permission": "../everyone", "csrf": token},
        )
        assert r.status_code == 400 and "clip_permission must be one of" in r.text
        r = await client.post(
            "/dashboard/channels/carol-live",
            data={
                "title": HOSTILE + "\u202e\n",
                "category": "Just <b>chatting</b>",
                "record": "on",
                "clip_permission": "everyone",
                "csrf": token,
            },
        )
        assert r.status_code == 303
        site.live.go_live("carol-live")
        for path in ("/", "/dashboard"):
            text = (await client.get(path)).text
            assert HOSTILE not in text and ESCAPED in text
            assert "<b>" not in text
        home = (await client.get("/")).text
        assert 'src="/live/carol-live/thumbnail.jpg"' in home and "3 viewers" in home
        r = await client.post("/dashboard/channels/carol-live/rotate-key", data={"csrf": token})
        new_key = re.search(r'class="stream-key"[^>]* value="(live_[^"]+)"', r.text)
        assert new_key and new_key[1] != key[1]
        assert await site.channels.authenticate(key[1]) is None
        # Someone else's channel is answered like a missing one.
        await site.channels.add("demo")
        r = await client.post("/dashboard/channels/demo/rotate-key", data={"csrf": token})
        assert r.status_code == 404
        # Bad and reserved names; the per-user channel limit (2 here).
        for name in ("Bad Name", "dashboard", "api", "x" * 33):
            r = await client.post("/dashboard/channels", data={"name": name, "csrf": token})
            assert r.status_code == 400, name
        r = await client.post("/dashboard/channels", data={"name": "demo", "csrf": token})
        assert r.status_code == 409
        r = await client.post("/dashboard/channels", data={"name": "second", "csrf": token})
        assert r.status_code == 200
        r = await client.post("/dashboard/channels", data={"name": "third", "csrf": token})
        assert r.status_code == 403 and "at most 2" in r.text


async def test_json_calls_need_session_token_json_and_ownership(site: Site) -> None:
    async with site.client() as client:
        csrf = await sign_up(client, "dave")
        await site.channels.add("dave-tv", owner_id=(await site.users.by_name("dave")).id)  # type: ignore[union-attr]
        url = "/web/channels/dave-tv/settings"
        body = {"title": HOSTILE, "category": "Music"}
        r = await client.post(url, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await client.post(url, json=body, headers={"x-csrf-token": "y" * 43})
        assert r.status_code == 403
        r = await client.post(
            url, json=body, headers={"x-csrf-token": csrf, "origin": "http://evil.example"}
        )
        assert r.status_code == 403
        r = await client.post(
            url,
            content=b'{"title":"x"}',
            headers={"x-csrf-token": csrf, "content-type": "text/plain"},
        )
        assert r.status_code == 415
        r = await client.post(
            url,
            content=b"{" * 20000,
            headers={"x-csrf-token": csrf, "content-type": "application/json"},
        )
        assert r.status_code == 413
        r = await client.post(url, json=body, headers={"x-csrf-token": csrf})
        assert r.status_code == 200 and r.json()["title"] == HOSTILE
        r = await client.post(url, json={"title": 5}, headers={"x-csrf-token": csrf})
        assert r.status_code == 400
        # The recording switch: a boolean, kept when not sent.
        r = await client.post(url, json={"record": False}, headers={"x-csrf-token": csrf})
        assert r.status_code == 200 and r.json()["record"] is False
        assert r.json()["title"] == HOSTILE
        r = await client.post(url, json={"record": "no"}, headers={"x-csrf-token": csrf})
        assert r.status_code == 400
        r = await client.post(url, json={"title": "t"}, headers={"x-csrf-token": csrf})
        assert r.json()["record"] is False
        r = await client.post(url, json=body, headers={"x-csrf-token": csrf})
        r = await client.post(
            "/web/channels/dave-tv/stream-key", headers={"x-csrf-token": csrf}, json={}
        )
        assert r.status_code == 200 and r.json()["stream_key"].startswith("live_")
        assert await site.channels.authenticate(r.json()["stream_key"]) is not None
        # Rotating kicks the publisher that used the old key; "stop" kicks it without rotating.
        assert site.live.stopped == [("dave-tv", "stream key rotated")]
        r = await client.post("/web/channels/dave-tv/stop", headers={"x-csrf-token": csrf}, json={})
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_live"
        site.live.go_live("dave-tv")
        r = await client.post("/web/channels/dave-tv/stop", headers={"x-csrf-token": csrf}, json={})
        assert r.status_code == 200 and r.json() == {"stopped": True}
        assert site.live.stopped[-1] == ("dave-tv", "stopped from the dashboard")
        r = await client.post(
            "/web/channels", json={"name": "dave-2"}, headers={"x-csrf-token": csrf}
        )
        assert r.status_code == 201 and r.json()["stream_key"].startswith("live_")
        # Public info for the watch page; health only for the owner.
        site.live.go_live("dave-tv", viewers=None)
        info = (await client.get("/web/channels/dave-tv")).json()
        assert info["title"] == HOSTILE and info["live"] is True and info["viewers"] is None
        assert info["owner"] == {"name": "dave", "display_name": "dave"}
        health = (await client.get("/web/channels/dave-tv/health")).json()
        assert health["health"]["fps"] == 30.0
    async with site.client() as other:
        assert (await other.get("/web/channels/dave-tv/health")).status_code == 401
        await sign_up(other, "eve")
        assert (await other.get("/web/channels/dave-tv/health")).status_code == 404
        eve_csrf = (await other.get("/web/session")).json()["csrf"]
        r = await other.post(
            "/web/channels/dave-tv/settings",
            json={"title": "mine"},
            headers={"x-csrf-token": eve_csrf},
        )
        assert r.status_code == 404
        listing = (await other.get("/web/channels")).json()["channels"]
        assert {c["name"] for c in listing} == {"dave-tv", "dave-2"}
        listing = (await other.get("/web/channels?live=1")).json()["channels"]
        assert [c["name"] for c in listing] == ["dave-tv"]
        assert (await other.get("/web/channels/nope")).status_code == 404
        assert (await other.get("/web/channels/Dave-TV")).status_code == 404


async def test_home_lists_live_first_by_viewers_then_offline(site: Site) -> None:
    for name in ("quiet", "busy", "off"):
        await site.channels.add(name, title=f"{name} title")
    site.live.go_live("quiet", viewers=1)
    site.live.go_live("busy", viewers=50)
    async with site.client() as client:
        r = await client.get("/")
    assert r.status_code == 200
    live = r.text.split('id="live-channels"')[1].split('id="offline-channels"')[0]
    assert live.index("busy title") < live.index("quiet title")
    assert "1 viewer<" in live and "50 viewers" in live
    offline = r.text.split('id="offline-channels"')[1]
    assert "off" in offline and "busy" not in offline
    assert 'href="/signup"' in r.text  # anonymous: sign-up link in the top bar
