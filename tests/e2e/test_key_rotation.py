"""Rotating a stream key disconnects the live publisher that used the old key (API,
dashboard, and `golive channel rotate-key` against a running server); the old key is then
refused. The dashboard's "Stop stream" button disconnects the publisher. Failed publishes
from one address are rate-limited."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from golive.app import GoliveServer
from tests.support.api_tokens import bearer, user_token
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import csrf_token, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SOURCE_ONLY = [{"name": "source", "kind": "source"}]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with running_server(
        tmp_path / "data", reconnect_grace=5.0, transcode_ladder=SOURCE_ONLY
    ) as s:
        yield s


async def wait_live(client: httpx.AsyncClient, channel: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await client.get(f"/live/{channel}/source/index.m3u8")
        if r.status_code == 200 and "#EXT-X-PART:" in r.text:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{channel} never went live")


async def assert_disconnected(proc: asyncio.subprocess.Process, within: float) -> None:
    """The publisher was cut off mid-stream (it would run 60 s otherwise)."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(proc.wait(), within)
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"the publisher was still connected {within} s later") from None
    assert proc.returncode != 0
    assert time.monotonic() - started < within


async def assert_refused(server: GoliveServer, key: str) -> str:
    proc = await start_publisher(rtmp_url(server, key), seconds=10)
    code, err = await finish(proc, 15)
    assert code != 0, "a publish with a dead key was accepted"
    return err


async def test_api_rotation_disconnects_the_publisher(server: GoliveServer) -> None:
    alice = await user_token(server, "alice", ["write"])
    async with http_client(server) as client:
        r = await client.post("/api/v1/channels", json={"name": "alice"}, headers=bearer(alice))
        old_key = r.json()["stream_key"]
        proc = await start_publisher(rtmp_url(server, old_key), seconds=60)
        try:
            await wait_live(client, "alice")
            r = await client.post("/api/v1/channels/alice/stream-key", headers=bearer(alice))
            assert r.status_code == 200
            new_key = r.json()["stream_key"]
            await assert_disconnected(proc, within=3.0)
        finally:
            if proc.returncode is None:
                proc.kill()
            await finish(proc, 10)
        await assert_refused(server, old_key)
        # The new key takes the stream back.
        proc = await start_publisher(rtmp_url(server, new_key), seconds=4)
        code, err = await finish(proc, 30)
        assert code == 0, err


async def test_cli_rotation_against_a_running_server(server: GoliveServer) -> None:
    assert server.demo_key is not None
    old_key = server.demo_key
    proc = await start_publisher(rtmp_url(server, old_key), seconds=60)
    try:
        async with http_client(server) as client:
            await wait_live(client, "demo")
        data_dir = str(server.settings.data_dir)
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "golive",
                "channel",
                "rotate-key",
                "demo",
                "--data-dir",
                data_dir,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # The server notices the changed key within a second or so.
        await assert_disconnected(proc, within=4.0)
    finally:
        if proc.returncode is None:
            proc.kill()
        await finish(proc, 10)
    await assert_refused(server, old_key)


async def dashboard_post(client: httpx.AsyncClient, path: str) -> httpx.Response:
    token = await csrf_token(client, "/dashboard")
    return await client.post(path, data={"csrf": token})


async def test_dashboard_rotation_and_stop_button(server: GoliveServer) -> None:
    async with http_client(server) as client:
        await sign_up(client, "carol")
        r = await client.post(
            "/dashboard/channels",
            data={"name": "carol", "csrf": await csrf_token(client, "/dashboard")},
        )
        assert r.status_code == 200, r.text
        match = re.search(r'class="stream-key"[^>]*value="([^"]+)"', r.text)
        assert match, r.text
        key = match[1]
        assert 'class="stop-form" hidden' in r.text  # not live: no stop button

        proc = await start_publisher(rtmp_url(server, key), seconds=60)
        try:
            await wait_live(client, "carol")
            page = await client.get("/dashboard")
            assert 'action="/dashboard/channels/carol/stop" class="stop-form">' in page.text
            r = await dashboard_post(client, "/dashboard/channels/carol/stop")
            assert r.status_code == 200 and "Stream of carol stopped" in r.text
            await assert_disconnected(proc, within=3.0)
        finally:
            if proc.returncode is None:
                proc.kill()
            await finish(proc, 10)

        # Stopped, not locked out: the same key publishes again; rotating kicks it for good.
        proc = await start_publisher(rtmp_url(server, key), seconds=60)
        try:
            await wait_live(client, "carol")
            r = await dashboard_post(client, "/dashboard/channels/carol/rotate-key")
            assert r.status_code == 200 and "New stream key issued" in r.text
            await assert_disconnected(proc, within=3.0)
        finally:
            if proc.returncode is None:
                proc.kill()
            await finish(proc, 10)
        await assert_refused(server, key)
        r = await dashboard_post(client, "/dashboard/channels/carol/stop")
        assert r.status_code == 409 and "is not live" in r.text


async def test_failed_publishes_are_rate_limited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running_server(
        tmp_path / "data",
        publish_max_failures=3,
        publish_failure_cooldown=600.0,
        transcode_ladder=SOURCE_ONLY,
    ) as server:
        assert server.demo_key is not None
        for _ in range(3):
            await assert_refused(server, "live_" + "x" * 32)
        assert "failed 3 times within 60 s: refusing it for 600 s" in caplog.text
        # Even the right key is refused from that address during the cool-down.
        err = await assert_refused(server, server.demo_key)
        assert "cooling down after too many failed publish attempts" in caplog.text, err
        assert server.registry.hub("demo") is None
