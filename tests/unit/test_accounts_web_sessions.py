"""Browser sessions over a real SQLite and PostgreSQL database: 256-bit cookie, only its SHA-256 stored,
cookie flags, expiry, sign-out."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import Response

from golive.accounts.web_sessions import SESSION_COOKIE, BrowserSessions
from golive.db.engine import Database
from golive.db.models import User, WebSession, utcnow
from golive.db.users import UserStore
from golive.db.web_sessions import WebSessionStore

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


@pytest.fixture
async def alice(db: Database) -> User:
    return await UserStore(db.sessionmaker).add("alice", display_name="Alice")


def request(cookie: str | None = None, scheme: str = "http") -> Request:
    headers = [(b"host", b"live.example")]
    if cookie is not None:
        headers.append((b"cookie", f"{SESSION_COOKIE}={cookie}".encode()))
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": scheme,
            "path": "/",
            "query_string": b"",
            "headers": headers,
            "server": ("live.example", 443 if scheme == "https" else 80),
        }
    )


def set_cookie(response: Response) -> str:
    headers = [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]
    assert len(headers) == 1, headers
    return headers[0]


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


async def test_session_cookie_is_random_hashed_and_resolves(db: Database, alice: User) -> None:
    sessions = BrowserSessions(WebSessionStore(db.sessionmaker))
    response = Response()
    await sessions.start(request(), response, alice)
    header = set_cookie(response)
    value = cookie_value(header)
    assert len(value) == 43  # 32 random bytes, URL-safe base64
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header
    assert "Secure" not in header
    assert f"Max-Age={int(sessions.lifetime)}" in header
    async with db.sessionmaker() as s:
        rows = list(await s.scalars(select(WebSession)))
    assert len(rows) == 1
    assert rows[0].session_hash == hashlib.sha256(value.encode()).hexdigest()
    assert value not in (rows[0].session_hash, rows[0].csrf_token)
    user = await sessions.user(request(value))
    assert user is not None and user.username == "alice" and user.shown_name == "Alice"
    assert user.csrf_token == rows[0].csrf_token


async def test_each_sign_in_gets_a_new_session(db: Database, alice: User) -> None:
    sessions = BrowserSessions(WebSessionStore(db.sessionmaker))
    values = set()
    for _ in range(3):
        response = Response()
        await sessions.start(request(), response, alice)
        values.add(cookie_value(set_cookie(response)))
    assert len(values) == 3


async def test_secure_flag_over_tls_or_when_forced(db: Database, alice: User) -> None:
    plain = BrowserSessions(WebSessionStore(db.sessionmaker))
    response = Response()
    await plain.start(request(scheme="https"), response, alice)
    assert "Secure" in set_cookie(response)
    forced = BrowserSessions(WebSessionStore(db.sessionmaker), force_secure=lambda: True)
    response = Response()
    await forced.start(request(), response, alice)
    assert "Secure" in set_cookie(response)


async def test_unknown_malformed_and_expired_sessions_are_nobody(db: Database, alice: User) -> None:
    sessions = BrowserSessions(WebSessionStore(db.sessionmaker))
    assert await sessions.user(request()) is None
    assert await sessions.user(request("x" * 43)) is None
    assert await sessions.user(request("short")) is None
    assert await sessions.user(request("' OR 1=1 --" + "a" * 40)) is None
    response = Response()
    await sessions.start(request(), response, alice)
    value = cookie_value(set_cookie(response))
    async with db.sessionmaker() as s, s.begin():
        await s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await sessions.user(request(value)) is None


async def test_sign_out_deletes_the_session_and_the_cookie(db: Database, alice: User) -> None:
    sessions = BrowserSessions(WebSessionStore(db.sessionmaker))
    response = Response()
    await sessions.start(request(), response, alice)
    value = cookie_value(set_cookie(response))
    out = Response()
    await sessions.end(request(value), out)
    header = set_cookie(out)
    assert header.startswith(f'{SESSION_COOKIE}="";') and "Max-Age=0" in header
    assert await sessions.user(request(value)) is None
    async with db.sessionmaker() as s:
        assert list(await s.scalars(select(WebSession))) == []
