"""A PostgreSQL outage under a cluster node (real PostgreSQL and Redis on loopback): the
running stream keeps being served, a new publish is refused with a clear error and a log
line, the node stays ready (the database is every node's), and publishing works again once
the database is back."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import httpx
import pytest

from tests.hls_conformance import parse_media_playlist
from tests.support.api_tokens import bearer, user_token
from tests.support.postgres_server import running_postgres_server
from tests.support.publisher import finish, start_publisher
from tests.support.redis_server import RedisServer
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def last_msn(client: httpx.AsyncClient, channel: str) -> int:
    r = await client.get(f"/live/{channel}/source/index.m3u8")
    assert r.status_code == 200, r.text
    return parse_media_playlist(r.text).segments[-1].msn


async def wait_live(client: httpx.AsyncClient, channel: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        r = await client.get(f"/live/{channel}/source/index.m3u8")
        if r.status_code == 200 and "#EXTINF" in r.text:
            return
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.2)


async def test_a_database_outage_keeps_the_stream_and_refuses_new_publishes(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.flush()
    caplog.set_level(logging.INFO)
    with running_postgres_server() as postgres:
        database_url = postgres.url(postgres.create_database())
        async with (
            running_server(
                tmp_path / "data",
                database_url=database_url,
                redis_url=redis_server.url,
                node_id="node-a",
                channel_ladders={"demo": "passthrough", "second": "passthrough"},
                reconnect_grace=0.0,
            ) as server,
            http_client(server) as client,
        ):
            owner = bearer(await user_token(server, "owner", ["write"]))
            r = await client.post("/api/v1/channels", json={"name": "second"}, headers=owner)
            assert r.status_code == 201, r.text
            second_key = r.json()["stream_key"]
            assert server.demo_key is not None
            running = await start_publisher(rtmp_url(server, server.demo_key), seconds=16)
            await wait_live(client, "demo")

            postgres.stop()
            before = await last_msn(client, "demo")
            refused = await start_publisher(rtmp_url(server, second_key), seconds=2)
            code, err = await finish(refused, timeout=20)
            assert code != 0
            assert "Database unavailable" in err
            assert "the database is unavailable" in caplog.text
            await asyncio.sleep(5)
            # The running stream goes on, and the node stays in its load balancer.
            assert await last_msn(client, "demo") >= before + 2
            assert running.returncode is None
            assert (await client.get("/readyz")).status_code == 200

            postgres.start()
            deadline = time.monotonic() + 20
            while True:
                again = await start_publisher(rtmp_url(server, second_key), seconds=4)
                try:
                    await asyncio.wait_for(again.wait(), 2.0)
                except TimeoutError:
                    break  # accepted: still publishing
                _, err = await finish(again)
                assert time.monotonic() < deadline, err
                await asyncio.sleep(0.5)
            await wait_live(client, "second")
            assert (await finish(again))[0] == 0
            assert (await finish(running))[0] == 0
