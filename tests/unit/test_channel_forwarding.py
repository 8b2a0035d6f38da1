"""ChannelForwarder: a request for a channel served elsewhere goes to that node, once."""

from __future__ import annotations

import httpx

from golive.http.channel_forwarding import FORWARDED_HEADER, ChannelForwarder


def _recording_client(seen: list[httpx.Request], status: int = 200) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            status,
            headers={"content-type": "application/vnd.apple.mpegurl", "cache-control": "x"},
            stream=httpx.ByteStream(b"#EXTM3U\n"),
        )

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def _located(channel: str) -> str | None:
    return "http://node-b:8080" if channel == "elsewhere" else None


async def test_forwards_to_the_serving_node_with_query_and_marker() -> None:
    seen: list[httpx.Request] = []
    forwarder = ChannelForwarder(_located, "node-a", client=_recording_client(seen))
    answer = await forwarder.forward(
        "elsewhere",
        "GET",
        "/live/elsewhere/source/index.m3u8",
        {"_HLS_msn": "12", "_HLS_part": "3"},
        [(b"user-agent", b"hls.js"), (b"range", b"bytes=0-9"), (b"cookie", b"secret")],
        "203.0.113.9",
    )
    assert answer is not None and answer.status == 200
    body = b"".join([chunk async for chunk in answer.body])
    assert body == b"#EXTM3U\n"
    assert (b"cache-control", b"x") in answer.headers
    (request,) = seen
    assert str(request.url) == (
        "http://node-b:8080/live/elsewhere/source/index.m3u8?_HLS_msn=12&_HLS_part=3"
    )
    assert request.headers[FORWARDED_HEADER] == "node-a"
    assert request.headers["range"] == "bytes=0-9"
    assert request.headers["user-agent"] == "hls.js"  # viewers are told apart by it
    assert request.headers["x-forwarded-for"] == "203.0.113.9"
    assert "cookie" not in request.headers  # nothing of the viewer's session goes on
    assert forwarder.forwarded == 1


async def test_a_forwarded_request_is_never_forwarded_again() -> None:
    seen: list[httpx.Request] = []
    forwarder = ChannelForwarder(_located, "node-b", client=_recording_client(seen))
    answer = await forwarder.forward(
        "elsewhere", "GET", "/live/elsewhere/index.m3u8", {}, [(FORWARDED_HEADER.encode(), b"a")]
    )
    assert answer is None and seen == []


async def test_no_serving_node_means_no_forward() -> None:
    seen: list[httpx.Request] = []
    forwarder = ChannelForwarder(_located, "node-a", client=_recording_client(seen))
    assert await forwarder.forward("nowhere", "GET", "/live/nowhere/index.m3u8", {}, []) is None
    assert seen == []


async def test_an_unreachable_node_is_counted_and_answers_none() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    forwarder = ChannelForwarder(_located, "node-a", client=client)
    assert await forwarder.forward("elsewhere", "GET", "/live/elsewhere/x.m4s", {}, []) is None
    assert forwarder.failed == 1


async def test_a_private_channel_goes_on_under_a_playback_token_and_without_cookies() -> None:
    seen: list[httpx.Request] = []
    forwarder = ChannelForwarder(
        _located,
        "node-a",
        sign=lambda channel: "tok.en" if channel == "elsewhere" else None,
        client=_recording_client(seen),
    )
    answer = await forwarder.forward(
        "elsewhere",
        "GET",
        "/live/elsewhere/source/index.m3u8",
        {"_HLS_msn": "4"},
        [(b"cookie", b"golive_session=owner")],
    )
    assert answer is not None and answer.status == 200
    assert seen[0].url.path == "/p/tok.en/live/elsewhere/source/index.m3u8"
    assert seen[0].url.params["_HLS_msn"] == "4"
    assert "cookie" not in seen[0].headers
