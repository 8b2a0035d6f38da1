"""Hardening of the HTTP front against a running server: sign-in and sign-up limits under
concurrency, the bounded password queue, closed and invite-only sign-up, request body and
head limits, client addresses behind trusted proxies, the chat Origin check against
public_url, and security headers on every response."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from argon2 import PasswordHasher

from golive.accounts import password_hashing
from golive.app import GoliveServer
from golive.db.invites import InviteStore
from tests.support.server import http_client, running_server
from tests.support.web_accounts import csrf_token, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


class CountingHasher(PasswordHasher):
    """argon2's hasher, counting the checks it makes (optionally each slowed down)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.checks = 0
        self.delay = delay
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.checks += 1
        if self.delay:
            time.sleep(self.delay)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._count()
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._count()
        return super().hash(password, salt=salt)


async def login(
    client: httpx.AsyncClient, token: str, username: str, password: str, **headers: str
) -> int:
    r = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token},
        headers=headers,
    )
    return r.status_code


# -- item 9: limits under concurrency, the password queue, closed and invite-only sign-up ---


async def test_forty_concurrent_wrong_passwords_get_five_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_server(tmp_path / "data") as server, http_client(server) as client:
        await sign_up(client, "victim")
        client.cookies.delete("golive_session")
        token = await csrf_token(client, "/login")
        hasher = CountingHasher()
        monkeypatch.setattr(password_hashing, "_HASHER", hasher)
        statuses = await asyncio.gather(
            *(login(client, token, "victim", f"guess {i}") for i in range(40))
        )
        assert Counter(statuses) == {401: 5, 429: 35}
        assert hasher.checks == 5


async def test_twenty_five_concurrent_signups_from_one_address_ten_succeed(
    tmp_path: Path,
) -> None:
    async with running_server(tmp_path / "data") as server, http_client(server) as client:
        token = await csrf_token(client)

        async def signup(i: int) -> int:
            r = await client.post(
                "/signup",
                data={"username": f"user{i}", "password": "correct horse", "csrf": token},
            )
            return r.status_code

        statuses = await asyncio.gather(*(signup(i) for i in range(25)))
        assert Counter(statuses) == {303: 10, 429: 15}
        assert server.users is not None
        assert len(await server.users.list()) == 10


async def test_full_password_queue_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        running_server(tmp_path / "data", password_hash_queue=2) as server,
        http_client(server) as client,
    ):
        token = await csrf_token(client, "/login")
        hasher = CountingHasher(delay=1.0)
        monkeypatch.setattr(password_hashing, "_HASHER", hasher)
        refused_after: list[float] = []
        t0 = time.perf_counter()

        async def attempt(i: int) -> int:
            status = await login(client, token, f"nobody{i}", "wrong password")
            if status == 429:
                refused_after.append(time.perf_counter() - t0)
            return status

        statuses = await asyncio.gather(*(attempt(i) for i in range(12)))
        assert Counter(statuses) == {401: 2, 429: 10}
        assert hasher.checks == 2
        # Refused without waiting for the two slow checks ahead of them.
        assert max(refused_after) < 0.9, refused_after


async def test_closed_signup_refuses_with_a_clear_page(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path / "data", signup="closed") as server,
        http_client(server) as client,
    ):
        page = await client.get("/signup")
        assert page.status_code == 403 and "Sign-up is closed" in page.text
        assert 'name="password"' not in page.text
        token = await csrf_token(client, "/login")
        assert 'href="/signup' not in (await client.get("/login")).text
        r = await client.post(
            "/signup", data={"username": "eve", "password": "correct horse", "csrf": token}
        )
        assert r.status_code == 403 and "Sign-up is closed" in r.text
        assert server.users is not None and await server.users.by_name("eve") is None


async def test_invite_only_signup_needs_an_unused_code(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path / "data", signup="invite") as server,
        http_client(server) as client,
    ):
        assert server.db is not None
        code = await InviteStore(server.db.sessionmaker).create()
        page = await client.get("/signup")
        assert page.status_code == 200 and 'name="invite"' in page.text
        token = await csrf_token(client)

        async def signup(username: str, invite: str) -> httpx.Response:
            client.cookies.delete("golive_session")
            return await client.post(
                "/signup",
                data={
                    "username": username,
                    "password": "correct horse",
                    "invite": invite,
                    "csrf": token,
                },
            )

        assert (await signup("nocode", "")).status_code == 403
        assert (await signup("badcode", "gli_not-a-code")).status_code == 403
        assert (await signup("invited", code)).status_code == 303
        r = await signup("second", code)  # used up
        assert r.status_code == 403 and "already used" in r.text
        assert server.users is not None
        assert [u.username for u in await server.users.list()] == ["invited"]
        invites = await InviteStore(server.db.sessionmaker).list()
        assert [i.used for i in invites] == [True]


async def test_invite_survives_a_failed_signup(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path / "data", signup="invite") as server,
        http_client(server) as client,
    ):
        assert server.db is not None and server.users is not None
        await server.users.add("taken")
        code = await InviteStore(server.db.sessionmaker).create()
        token = await csrf_token(client)
        data = {"password": "correct horse", "invite": code, "csrf": token}
        r = await client.post("/signup", data={**data, "username": "taken"})
        assert r.status_code == 409
        r = await client.post("/signup", data={**data, "username": "fresh"})
        assert r.status_code == 303


# -- item 10: request body and head limits --------------------------------------------------


async def raw_request(server: GoliveServer, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` (and ``body``) and return what the server answers within 10 s; the
    server may close while we are still sending."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        try:
            for i in range(0, len(head), 65536):
                writer.write(head[i : i + 65536])
                await writer.drain()
            if body:
                writer.write(body)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        try:
            return await asyncio.wait_for(reader.read(65536), 10)
        except (ConnectionError, OSError):
            return b""
    finally:
        writer.close()


async def test_sixty_megabyte_body_without_a_token_is_refused_unread(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as server:
        head = (
            b"POST /api/v1/channels HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 62914560\r\n\r\n"
        )
        t0 = time.perf_counter()
        answer = await raw_request(server, head, b'{"name": "')  # the rest never comes
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"missing_token" in answer
        assert time.perf_counter() - t0 < 5
        # With a (wrong) token the declared size alone is refused.
        answer = await raw_request(
            server, head.replace(b"Host: x\r\n", b"Host: x\r\nAuthorization: Bearer glt_x\r\n")
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


async def test_media_request_declaring_a_large_body_is_refused_unread(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as server:
        # Media requests take the lean path; one with a body still meets the body limit.
        head = b"GET /live/utc HTTP/1.1\r\nHost: x\r\ncontent-length: 62914560\r\n\r\n"
        answer = await raw_request(server, head, b"x")
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"x-content-type-options: nosniff" in answer


async def test_chunked_body_over_the_limit_is_cut_off(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as server, http_client(server) as client:
        sent = 0

        async def chunks() -> Any:
            nonlocal sent
            for _ in range(2048):  # up to 64 MiB, far over the 1 MiB default
                sent += 32768
                yield b" " * 32768

        try:
            r = await client.post(
                "/api/v1/channels",
                content=chunks(),
                headers={"authorization": "Bearer glt_x", "content-type": "application/json"},
            )
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            pass  # answered and closed while the client was still sending: also a refusal
        else:
            assert r.status_code == 413
            assert r.json()["error"]["code"] == "too_large"
        # The server stopped reading soon after the limit instead of taking it all.
        assert sent < 16 << 20, sent


async def test_one_megabyte_header_is_refused(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as server:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
        answer = await raw_request(server, head)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        # The server is still fine.
        async with http_client(server) as client:
            assert (await client.get("/healthz")).status_code == 200


async def test_hundred_thousand_headers_are_refused(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as server:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"a: b\r\n" * 100_000 + b"\r\n"
        answer = await raw_request(server, head)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


async def test_two_hundred_small_headers_are_refused(tmp_path: Path) -> None:
    # Under the byte limit, over the count limit (100).
    async with running_server(tmp_path / "data") as server:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"a: b\r\n" * 200 + b"\r\n"
        answer = await raw_request(server, head)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


# -- item 15: client address, Origin, CSP, headers everywhere -------------------------------


async def fail_five_times(client: httpx.AsyncClient, token: str, **headers: str) -> None:
    for i in range(5):
        assert await login(client, token, "nobody", f"guess {i}", **headers) == 401


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as server, http_client(server) as client:
        token = await csrf_token(client, "/login")
        await fail_five_times(client, token, **{"x-forwarded-for": "203.0.113.1"})
        # Another claimed address is still the same peer: locked.
        status = await login(client, token, "nobody", "guess", **{"x-forwarded-for": "203.0.113.2"})
        assert status == 429
        status = await login(client, token, "nobody", "guess", forwarded="for=203.0.113.3")
        assert status == 429


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path / "data", trusted_proxies=["127.0.0.0/8"]) as server,
        http_client(server) as client,
    ):
        token = await csrf_token(client, "/login")
        await fail_five_times(client, token, **{"x-forwarded-for": "203.0.113.1"})
        locked = await login(client, token, "nobody", "guess", **{"x-forwarded-for": "203.0.113.1"})
        assert locked == 429
        # A different client behind the same proxy has its own count.
        other = await login(client, token, "nobody", "guess", **{"x-forwarded-for": "203.0.113.2"})
        assert other == 401
        # The client cannot prepend its way out: the proxy's entry is the rightmost.
        spoof = await login(
            client, token, "nobody", "guess", **{"x-forwarded-for": "198.51.100.7, 203.0.113.1"}
        )
        assert spoof == 429


async def test_chat_origin_is_checked_against_public_url(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data", public_url="https://live.example.com") as server:
        url = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/demo/chat"
        # Behind a proxy the Host is the backend's, the Origin the public site's: accepted.
        async with websockets.connect(url, origin="https://live.example.com") as ws:  # type: ignore[arg-type]
            assert ws.response is not None and ws.response.status_code == 101
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url, origin="https://evil.example") as ws:  # type: ignore[arg-type]
                await ws.recv()
        # Same host, other port: another origin.
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url, origin="http://127.0.0.1:1") as ws:  # type: ignore[arg-type]
                await ws.recv()


async def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as server, http_client(server) as client:
        page = await client.get("/login")
        csp = page.headers["content-security-policy"]
        assert "connect-src 'self';" in csp and "ws:" not in csp and "wss:" not in csp
        paths = ("/static/site.css", "/static/no-such-file.css", "/healthz", "/no/such/path")
        # Media (the lean path in front of the site): an answer, an error, a preflight.
        media = ("/live/utc", "/live/nobody/source/index.m3u8", "OPTIONS /live/x/index.m3u8")
        for path in paths + media:
            method, _, target = path.rpartition(" ")
            r = await client.request(method or "GET", target)
            for name in (
                "content-security-policy",
                "x-content-type-options",
                "x-frame-options",
                "referrer-policy",
            ):
                assert r.headers.get(name) == page.headers[name], (path, name)
        static = await client.get("/static/site.css")
        assert static.headers.get("cache-control") != "no-store"  # still cacheable
