"""Accounts through the real web forms: cookies, CSRF, rate limit, the dashboard, escaping."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from golive.app import GoliveServer
from tests.support.server import http_client, running_server
from tests.support.web_accounts import csrf_token, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

HOSTILE = "<img src=x onerror=window.__xss=1>"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with running_server(tmp_path / "data") as s:
        yield s


async def test_signup_sets_a_safe_session_cookie_and_logout_ends_it(server: GoliveServer) -> None:
    async with http_client(server) as client:
        token = await csrf_token(client)
        r = await client.post(
            "/signup",
            data={"username": "alice", "password": "correct horse", "csrf": token},
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        cookie = next(c for c in r.headers.get_list("set-cookie") if "golive_session=" in c)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        page = await client.get("/dashboard")
        assert page.status_code == 200 and "alice" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert server.users is not None
        user = await server.users.by_name("alice")
        assert user is not None and user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        r = await client.post("/logout", data={"csrf": token})
        assert r.status_code == 303
        assert (await client.get("/dashboard")).status_code == 303  # to the sign-in page


async def test_forms_need_the_csrf_token_and_the_same_origin(server: GoliveServer) -> None:
    async with http_client(server) as client:
        token = await csrf_token(client)
        data = {"username": "mallory", "password": "correct horse"}
        assert (await client.post("/signup", data=data)).status_code == 403
        assert (await client.post("/signup", data={**data, "csrf": "forged"})).status_code == 403
        r = await client.post(
            "/signup", data={**data, "csrf": token}, headers={"origin": "http://evil.example"}
        )
        assert r.status_code == 403
        assert server.users is not None and await server.users.by_name("mallory") is None


async def test_failed_sign_ins_are_rate_limited(server: GoliveServer) -> None:
    async with http_client(server) as client:
        await sign_up(client, "bob")
    async with http_client(server) as client:
        token = await csrf_token(client, "/login")
        for _ in range(5):
            r = await client.post(
                "/login", data={"username": "bob", "password": "wrong pass", "csrf": token}
            )
            assert r.status_code == 401
        r = await client.post(
            "/login", data={"username": "bob", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


async def test_dashboard_creates_channels_rotates_keys_and_escapes(server: GoliveServer) -> None:
    async with http_client(server) as client:
        await sign_up(client, "carol", display=HOSTILE)
        token = await csrf_token(client, "/dashboard")
        r = await client.post("/dashboard/channels", data={"name": "carol-live", "csrf": token})
        assert r.status_code == 200
        key = re.search(r'class="stream-key" readonly value="(live_[^"]+)"', r.text)
        assert key, r.text
        assert server.channels is not None
        assert await server.channels.authenticate(key[1]) is not None
        r = await client.post(
            "/dashboard/channels/carol-live",
            data={"title": HOSTILE, "category": "Just <b>chatting</b>", "csrf": token},
        )
        assert r.status_code == 303
        for path in ("/", "/dashboard"):
            text = (await client.get(path)).text
            assert HOSTILE not in text and "&lt;img src=x onerror=window.__xss=1&gt;" in text
        r = await client.post("/dashboard/channels/carol-live/rotate-key", data={"csrf": token})
        new_key = re.search(r'class="stream-key" readonly value="(live_[^"]+)"', r.text)
        assert new_key and new_key[1] != key[1]
        assert await server.channels.authenticate(key[1]) is None
        # Someone else's channel is not theirs to edit.
        r = await client.post("/dashboard/channels/demo/rotate-key", data={"csrf": token})
        assert r.status_code == 404
        info = (await client.get("/web/channels/carol-live")).json()
        assert info["title"] == HOSTILE and info["live"] is False
