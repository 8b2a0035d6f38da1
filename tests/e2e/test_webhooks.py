"""Webhooks against a local receiver: signatures, retries with backoff, the delivery log,
and on_publish approving or refusing real publishers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from golive.app import GoliveServer
from golive.ingest.rtmp.server import PublishRefused, PublishRequest
from golive.resume import saved_stream
from golive.resume.saved_stream import SavedStream
from golive.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.support.api_tokens import bearer, user_token
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.webhook_receiver import Received, WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

SECRET = "test-secret-0123456789"


def signed_by_us(request: Received) -> bool:
    return verify(
        SECRET,
        request.body,
        timestamp=request.headers[TIMESTAMP_HEADER.lower()],
        signature_header=request.headers[SIGNATURE_HEADER.lower()],
    )


def events(received: list[Received], type_: str) -> list[Received]:
    return [r for r in received if r.headers.get(EVENT_HEADER.lower()) == type_]


def publish_request(server: GoliveServer, key: str) -> PublishRequest:
    return PublishRequest(
        app="live", stream_name=key, query="", remote_addr="127.0.0.1:1", disconnect=lambda r: None
    )


async def test_stream_events_are_signed_retried_and_logged(tmp_path: Path) -> None:
    async with WebhookReceiver() as receiver:
        # stream.started fails twice (503, then 500) before it is accepted.
        receiver.answers["/events"] = [(503, {}), (500, {}), (200, {"ok": True})]
        async with running_server(
            tmp_path / "data",
            reconnect_grace=0.2,
            webhook_url=receiver.url("/events"),
            webhook_secret=SECRET,
            webhook_retry_delay=0.1,
            webhook_max_attempts=4,
        ) as server:
            publisher = server.registry.open_publisher("demo", disconnect=lambda reason: None)
            stream_id = publisher.hub.stream_id
            publisher.on_close("test over")  # the stream ends after the grace
            await receiver.wait_for(
                lambda r: (
                    len(events(r, "stream.started")) == 3 and len(events(r, "stream.ended")) == 1
                )
            )
            started = events(receiver.received, "stream.started")
            # One event, retried: same id and body every time, each attempt freshly signed.
            assert len({r.headers[DELIVERY_HEADER.lower()] for r in started}) == 1
            assert len({r.body for r in started}) == 1
            assert all(signed_by_us(r) for r in receiver.received)
            # Backoff: the second retry waited about twice as long as the first.
            gap1, gap2 = started[1].at - started[0].at, started[2].at - started[1].at
            assert 0.09 < gap1 < 1.0 and gap2 > 1.5 * gap1 * 0.9
            body = started[0].json
            assert body["type"] == "stream.started" and body["channel"] == "demo"
            assert body["data"]["stream_id"] == stream_id
            assert body["data"]["playlist_url"].endswith("/live/demo/index.m3u8")
            ended = events(receiver.received, "stream.ended")[0].json
            assert ended["data"]["stream_id"] == stream_id and ended["data"]["duration"] >= 0

            admin = await user_token(server, "root", ["admin"], admin=True)
            async with http_client(server) as client:
                await asyncio.sleep(0.1)  # the last attempt is recorded after the response
                r = await client.get("/api/v1/webhooks/deliveries", headers=bearer(admin))
                log = {d["event"]: d for d in r.json()}
                assert log["stream.started"]["status"] == "delivered"
                assert log["stream.started"]["attempts"] == 3
                assert log["stream.started"]["response_status"] == 200
                assert log["stream.ended"]["status"] == "delivered"
                assert log["stream.started"]["payload"].encode() == started[0].body
                # The owner-less demo channel's log is for administrators only.
                alice = await user_token(server, "alice", ["read"])
                r = await client.get("/api/v1/webhooks/deliveries", headers=bearer(alice))
                assert r.json() == []


async def test_deliveries_give_up(tmp_path: Path) -> None:
    async with WebhookReceiver() as receiver:
        receiver.answers["/down"] = [(502, {})]
        async with running_server(
            tmp_path / "data",
            reconnect_grace=0.1,
            webhook_url=receiver.url("/down"),
            webhook_secret=SECRET,
            webhook_retry_delay=0.05,
            webhook_max_attempts=3,
        ) as server:
            server.registry.open_publisher("demo", disconnect=lambda reason: None)
            await receiver.wait_for(lambda r: len(events(r, "stream.started")) == 3)
            assert server.deliveries is not None
            for _ in range(50):
                rows = await server.deliveries.list(event="stream.started")
                if rows and rows[0].status == "failed":
                    break
                await asyncio.sleep(0.05)
            assert rows[0].status == "failed" and rows[0].attempts == 3
            assert rows[0].error == "HTTP 502"
            await asyncio.sleep(0.3)
            assert len(events(receiver.received, "stream.started")) == 3  # no fourth attempt
            # A receiver that refuses (4xx) is not retried.
            receiver.answers["/down"] = [(410, {})]
            server.registry.stop("demo", "test", end=True)
            await receiver.wait_for(lambda r: len(events(r, "stream.ended")) >= 1)
            await asyncio.sleep(0.3)
            assert len(events(receiver.received, "stream.ended")) == 1


async def test_on_publish_refuses_and_approves_real_publishers(tmp_path: Path) -> None:
    async with WebhookReceiver() as receiver:
        receiver.answers["/publish"] = [(403, {"reason": "channel is suspended"})]
        async with running_server(
            tmp_path / "data",
            on_publish_url=receiver.url("/publish"),
            webhook_secret=SECRET,
        ) as server:
            url = rtmp_url(server, server.demo_key or "")
            code, err = await finish(await start_publisher(url, seconds=2, realtime=False), 30)
            assert code != 0
            assert server.registry.hub("demo") is None
            [asked] = receiver.received
            assert signed_by_us(asked)
            assert asked.json["type"] == "publish.requested"
            assert asked.json["channel"] == "demo"
            assert asked.json["data"]["stream_key_hint"] == (server.demo_key or "")[:9]
            assert server.demo_key not in asked.body.decode()

            receiver.answers["/publish"] = [(204, None)]
            proc = await start_publisher(url, seconds=2, realtime=False)
            code, err = await finish(proc, 30)
            assert code == 0, err
            assert len(receiver.received) == 2
            assert server.deliveries is not None
            await asyncio.sleep(0.1)
            rows = await server.deliveries.list(event="publish.requested")
            assert [r.response_status for r in rows] == [204, 403]


async def test_on_publish_timeout_uses_the_default(tmp_path: Path) -> None:
    async with WebhookReceiver(delay=lambda path: 2.0) as receiver:
        for default, allowed in (("deny", False), ("allow", True)):
            async with running_server(
                tmp_path / f"data-{default}",
                on_publish_url=receiver.url("/slow"),
                on_publish_timeout=0.3,
                on_publish_default=default,
                webhook_secret=SECRET,
            ) as server:
                loop = asyncio.get_running_loop()
                started = loop.time()
                request = publish_request(server, server.demo_key or "")
                if allowed:
                    sink = await server.rtmp.authorize(request)
                    sink.on_close("done")
                else:
                    with pytest.raises(PublishRefused, match="unavailable"):
                        await server.rtmp.authorize(request)
                assert loop.time() - started < 1.5
                # An invalid key is refused before the webhook is asked.
                before = len(receiver.received)
                with pytest.raises(PublishRefused, match="Invalid stream key"):
                    await server.rtmp.authorize(publish_request(server, "live_wrongwrongwrong"))
                assert len(receiver.received) == before


async def test_a_saved_stream_that_came_back_too_late_is_reported_ended(tmp_path: Path) -> None:
    data = tmp_path / "data"
    late = SavedStream(
        channel="demo",
        stream_id="ab12cd34",
        started_at=time.time() - 600,
        timeline_end=30.0,
        publishes=2,
        saved_at=time.time() - 120,
        resumable=True,
        multivariant=None,
        renditions=[],
    )
    saved_stream.write(data / "streams", late)
    async with (
        WebhookReceiver() as receiver,
        running_server(
            data, reconnect_grace=60, webhook_url=receiver.url("/e"), webhook_secret=SECRET
        ) as server,
    ):
        await receiver.wait_for(lambda r: len(events(r, "stream.ended")) == 1)
        ended = events(receiver.received, "stream.ended")[0].json
        assert ended["data"]["stream_id"] == "ab12cd34"
        assert server.restored == [] and server.registry.hub("demo") is None
        assert not (data / "streams" / "demo").exists()
