"""Accounts against a running server, through its real HTTP stack: sign-up, sign-in and
sign-out, cookie flags, CSRF and cross-origin refusals on forms and JSON, the sign-in rate
limit, and the chat socket recognising the session."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from golive.app import GoliveServer
from tests.support.server import http_client, running_server
from tests.support.web_accounts import csrf_token, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with running_server(tmp_path / "data") as s:
        yield s


def session_cookie(response: httpx.Response) -> str:
    return next(c for c in response.headers.get_list("set-cookie") if "golive_session=" in c)


async def test_signup_cookie_flags_dashboard_and_logout(server: GoliveServer) -> None:
    async with http_client(server) as client:
        token = await csrf_token(client)
        r = await client.post(
            "/signup", data={"username": "alice", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        cookie = session_cookie(r)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP, no https public URL
        stolen = client.cookies["golive_session"]
        page = await client.get("/dashboard")
        assert page.status_code == 200 and "alice" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert server.users is not None
        user = await server.users.by_name("alice")
        assert user is not None and (user.password_hash or "").startswith("$argon2id$")
        session_token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        r = await client.post("/logout", data={"csrf": session_token})
        assert r.status_code == 303
        assert (await client.get("/dashboard")).status_code == 303
    # The session is gone on the server too: replaying the old cookie gets nobody.
    async with http_client(server) as replay:
        replay.cookies.set("golive_session", stolen)
        assert (await replay.get("/web/session")).json()["user"] is None


async def test_sign_in_after_sign_up(server: GoliveServer) -> None:
    async with http_client(server) as client:
        await sign_up(client, "bob")
    async with http_client(server) as client:
        token = await csrf_token(client, "/login")
        r = await client.post(
            "/login",
            data={"username": "bob", "password": "correct horse", "csrf": token, "next": "/demo"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/demo"
        assert "HttpOnly" in session_cookie(r)
        assert (await client.get("/web/session")).json()["user"]["name"] == "bob"


async def test_forms_and_json_refuse_forgeries(server: GoliveServer) -> None:
    async with http_client(server) as client:
        token = await csrf_token(client)
        data = {"username": "mallory", "password": "correct horse"}
        assert (await client.post("/signup", data=data)).status_code == 403
        assert (await client.post("/signup", data={**data, "csrf": "f" * 43})).status_code == 403
        r = await client.post(
            "/signup", data={**data, "csrf": token}, headers={"origin": "http://evil.example"}
        )
        assert r.status_code == 403
        assert server.users is not None and await server.users.by_name("mallory") is None
        await sign_up(client, "carol")
        csrf = (await client.get("/web/session")).json()["csrf"]
        body = {"name": "carol-tv"}
        assert (await client.post("/web/channels", json=body)).status_code == 403
        r = await client.post(
            "/web/channels",
            json=body,
            headers={"x-csrf-token": csrf, "origin": "http://evil.example"},
        )
        assert r.status_code == 403
        # A cross-site form can only send form types: refused before the token matters.
        r = await client.post(
            "/web/channels",
            content=json.dumps(body),
            headers={"x-csrf-token": csrf, "content-type": "text/plain"},
        )
        assert r.status_code == 415
        assert server.channels is not None and await server.channels.get("carol-tv") is None
        r = await client.post("/web/channels", json=body, headers={"x-csrf-token": csrf})
        assert r.status_code == 201 and r.json()["stream_key"].startswith("live_")


async def test_failed_sign_ins_are_rate_limited(server: GoliveServer) -> None:
    async with http_client(server) as client:
        await sign_up(client, "dave")
    async with http_client(server) as client:
        token = await csrf_token(client, "/login")
        for _ in range(5):
            r = await client.post(
                "/login", data={"username": "dave", "password": "wrong pass", "csrf": token}
            )
            assert r.status_code == 401
        r = await client.post(
            "/login", data={"username": "dave", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 300
        assert not any("golive_session=" in c for c in r.headers.get_list("set-cookie"))


async def test_chat_socket_knows_the_signed_in_user(server: GoliveServer) -> None:
    async with http_client(server) as client:
        session = await sign_up(client, "erin", display="Erin")
    url = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/demo/chat"
    for cookie, expected in ((f"golive_session={session}", "erin"), ("", None)):
        headers = {"cookie": cookie} if cookie else {}
        async with websockets.connect(url, additional_headers=headers) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert hello["type"] == "hello"
            assert (hello["user"] or {}).get("name") == expected


async def test_secure_cookies_behind_an_https_public_url(tmp_path: Path) -> None:
    public = "https://live.example"
    async with (
        running_server(tmp_path / "data", public_url=public) as server,
        http_client(server) as client,
    ):
        page = await client.get("/signup")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        anonymous = next(c for c in page.headers.get_list("set-cookie") if "golive_csrf=" in c)
        assert "Secure" in anonymous
        # httpx keeps Secure cookies off plain HTTP, as a browser would: the test plays the
        # TLS-terminating proxy, which forwards the browser's cookie and Origin.
        r = await client.post(
            "/signup",
            data={"username": "frank", "password": "correct horse", "csrf": token},
            headers={"origin": public, "cookie": f"golive_csrf={token}"},
        )
        assert r.status_code == 303
        assert "Secure" in session_cookie(r)
