"""The REST API's authentication and authorization matrix, against a running server."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from golive.app import GoliveServer
from tests.support.api_tokens import bearer, user_token
from tests.support.server import http_client, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for path, item in openapi["paths"].items():
        concrete = re.sub(r"\{name\}", "demo", path)
        concrete = re.sub(r"\{[a-z_]+_id\}", "1", concrete)
        for method in item:
            found.append((method.upper(), "/api/v1" + concrete))
    return found


async def test_every_operation_refuses_missing_malformed_and_unknown_tokens(
    server: GoliveServer,
) -> None:
    async with http_client(server) as client:
        openapi = (await client.get("/api/v1/openapi.json")).json()
        ops = operations(openapi)
        assert len(ops) >= 15
        for method, path in ops:
            body = {} if method in ("POST", "PATCH") else None
            r = await client.request(method, path, json=body)
            assert_error(r, 401, "missing_token")
            assert r.headers["www-authenticate"] == "Bearer"
            r = await client.request(method, path, json=body, headers=bearer("glt_nope"))
            assert_error(r, 401, "invalid_token")
            r = await client.request(
                method, path, json=body, headers={"authorization": "Basic YTpi"}
            )
            assert_error(r, 401, "invalid_token")
        # Routes that do not exist answer in the same JSON shape.
        assert_error(await client.get("/api/v1/no-such-thing"), 404, "not_found")
        assert_error(await client.put("/api/v1/me"), 405, "method_not_allowed")


async def test_scopes_nest_and_are_enforced(server: GoliveServer) -> None:
    read = await user_token(server, "alice", ["read"])
    write = await user_token(server, "alice", ["write"])
    async with http_client(server) as client:
        r = await client.get("/api/v1/me", headers=bearer(read))
        assert r.status_code == 200 and r.json()["scopes"] == ["read"]
        assert (await client.get("/api/v1/channels", headers=bearer(read))).json() == []
        r = await client.post("/api/v1/channels", json={"name": "alice-1"}, headers=bearer(read))
        assert_error(r, 403, "insufficient_scope")
        r = await client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=bearer(read))
        assert_error(r, 403, "insufficient_scope")

        # write includes read
        r = await client.post("/api/v1/channels", json={"name": "alice-1"}, headers=bearer(write))
        assert r.status_code == 201, r.text
        assert r.json()["channel"]["owner"] == "alice"
        assert r.json()["stream_key"].startswith("live_")
        r = await client.get("/api/v1/channels/alice-1", headers=bearer(write))
        assert r.status_code == 200

        # A token cannot grant more than the caller has, and admin needs an administrator.
        r = await client.post("/api/v1/tokens", json={"scopes": ["admin"]}, headers=bearer(write))
        assert_error(r, 403, "insufficient_scope")
        for path in ("/api/v1/users", "/api/v1/users/1"):
            assert_error(await client.get(path, headers=bearer(write)), 403, "admin_required")
        r = await client.post("/api/v1/users", json={"username": "x"}, headers=bearer(write))
        assert_error(r, 403, "admin_required")

        # An administrator's powers need the admin scope on the token in use.
        root_read = await user_token(server, "root", ["read"], admin=True)
        assert_error(
            await client.get("/api/v1/users", headers=bearer(root_read)), 403, "admin_required"
        )
        root = await user_token(server, "root", ["admin"])
        r = await client.get("/api/v1/users", headers=bearer(root))
        assert r.status_code == 200
        assert {u["username"] for u in r.json()} == {"alice", "root"}
        r = await client.post("/api/v1/tokens", json={"scopes": ["admin"]}, headers=bearer(root))
        assert r.status_code == 201 and r.json()["secret"].startswith("glt_")

        # Validation errors have the same shape.
        r = await client.post("/api/v1/channels", json={"name": "Bad Name"}, headers=bearer(write))
        assert_error(r, 422, "invalid_request")
        r = await client.post("/api/v1/channels", json={"name": "api"}, headers=bearer(write))
        assert_error(r, 422, "invalid_channel_name")
        r = await client.post("/api/v1/channels", json={"name": "alice-1"}, headers=bearer(write))
        assert_error(r, 409, "channel_exists")


async def test_other_owners_channel_looks_like_no_channel(server: GoliveServer) -> None:
    alice = await user_token(server, "alice", ["write"])
    bob = await user_token(server, "bob", ["write"])
    root = await user_token(server, "root", ["admin"], admin=True)
    async with http_client(server) as client:
        r = await client.post("/api/v1/channels", json={"name": "alices"}, headers=bearer(alice))
        assert r.status_code == 201
        for name in ("alices", "nobody", "demo"):  # demo has no owner: administrators only
            for method, path, body in (
                ("GET", f"/api/v1/channels/{name}", None),
                ("PATCH", f"/api/v1/channels/{name}", {"title": "mine now"}),
                ("DELETE", f"/api/v1/channels/{name}", None),
                ("POST", f"/api/v1/channels/{name}/stream-key", None),
                ("GET", f"/api/v1/channels/{name}/stream", None),
                ("POST", f"/api/v1/channels/{name}/stream/stop", None),
            ):
                r = await client.request(method, path, json=body, headers=bearer(bob))
                assert_error(r, 404, "channel_not_found")
        assert (await client.get("/api/v1/channels", headers=bearer(bob))).json() == []
        r = await client.get("/api/v1/webhooks/deliveries?channel=alices", headers=bearer(bob))
        assert r.status_code == 200 and r.json() == []

        # The owner and administrators see it.
        names = [
            c["name"] for c in (await client.get("/api/v1/channels", headers=bearer(alice))).json()
        ]
        assert names == ["alices"]
        names = [
            c["name"] for c in (await client.get("/api/v1/channels", headers=bearer(root))).json()
        ]
        assert names == ["alices", "demo"]
        r = await client.patch(
            "/api/v1/channels/alices", json={"title": "T", "owner": "bob"}, headers=bearer(alice)
        )
        assert_error(r, 403, "admin_required")
        r = await client.patch(
            "/api/v1/channels/alices", json={"owner": "bob"}, headers=bearer(root)
        )
        assert r.status_code == 200 and r.json()["owner"] == "bob"
        r = await client.get("/api/v1/channels/alices", headers=bearer(bob))
        assert r.status_code == 200
        assert_error(
            await client.get("/api/v1/channels/alices", headers=bearer(alice)),
            404,
            "channel_not_found",
        )


async def test_revoked_token_stops_working_at_once(server: GoliveServer) -> None:
    alice = await user_token(server, "alice", ["write"])
    other = await user_token(server, "alice", ["read"])
    bob = await user_token(server, "bob", ["write"])
    async with http_client(server) as client:
        me = (await client.get("/api/v1/me", headers=bearer(other))).json()
        # Someone else's token is not found, not revocable.
        assert_error(
            await client.delete(f"/api/v1/tokens/{me['token_id']}", headers=bearer(bob)),
            404,
            "token_not_found",
        )
        r = await client.delete(f"/api/v1/tokens/{me['token_id']}", headers=bearer(alice))
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        assert_error(await client.get("/api/v1/me", headers=bearer(other)), 401, "invalid_token")
        listed = (await client.get("/api/v1/tokens", headers=bearer(alice))).json()
        assert {t["id"]: t["revoked_at"] is not None for t in listed}[me["token_id"]]
        assert all(not t["token_hint"].endswith(other[8:]) for t in listed)
        # A token may revoke itself.
        mine = (await client.get("/api/v1/me", headers=bearer(alice))).json()["token_id"]
        assert (
            await client.delete(f"/api/v1/tokens/{mine}", headers=bearer(alice))
        ).status_code == 200
        assert_error(await client.get("/api/v1/me", headers=bearer(alice)), 401, "invalid_token")


async def test_tokens_are_stored_hashed(server: GoliveServer) -> None:
    secret = await user_token(server, "alice", ["read"])
    assert server.db is not None
    async with server.db.engine.connect() as conn:
        from sqlalchemy import text

        rows = (await conn.execute(text("SELECT token_hash, token_hint FROM api_tokens"))).all()
    assert rows and all(secret not in (h + hint) for h, hint in rows)


async def test_channel_lifecycle_and_key_rotation(server: GoliveServer) -> None:
    alice = await user_token(server, "alice", ["write"])
    assert server.channels is not None
    async with http_client(server) as client:
        r = await client.post(
            "/api/v1/channels", json={"name": "show", "title": "Show"}, headers=bearer(alice)
        )
        first = r.json()["stream_key"]
        assert r.json()["rtmp_url"].endswith(f"/live/{first}")
        assert (await server.channels.authenticate(first)) is not None
        r = await client.post("/api/v1/channels/show/stream-key", headers=bearer(alice))
        assert r.status_code == 200
        second = r.json()["stream_key"]
        assert second != first
        assert await server.channels.authenticate(first) is None
        assert await server.channels.authenticate(second) is not None
        r = await client.patch(
            "/api/v1/channels/show", json={"title": "New"}, headers=bearer(alice)
        )
        assert r.json()["title"] == "New"
        assert (
            await client.delete("/api/v1/channels/show", headers=bearer(alice))
        ).status_code == 204
        assert await server.channels.get("show") is None


async def test_a_token_over_its_requests_per_minute_gets_429_with_retry_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_server(tmp_path / "data", api_requests_per_minute=5) as server:
        token = await user_token(server, "admin", ["read"])
        other = await user_token(server, "admin", ["read"])
        async with http_client(server) as client:
            with caplog.at_level(logging.WARNING, logger="golive.accounts"):
                answers = await asyncio.gather(
                    *(client.get("/api/v1/me", headers=bearer(token)) for _ in range(12))
                )
            assert sorted(r.status_code for r in answers) == [200] * 5 + [429] * 7
            refused = next(r for r in answers if r.status_code == 429)
            assert_error(refused, 429, "rate_limited")
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert (await client.get("/api/v1/me", headers=bearer(other))).status_code == 200
            assert any("API rate limit: token" in r.getMessage() for r in caplog.records)
