"""Media requests for a channel this node does not serve, sent on to the node that does.

In a cluster (docs/scale-out.md) one node packages a channel: the one holding its publish
lease. Any node answers for any channel, so an edge cache or a load balancer can send a
request anywhere: when the channel is not live here, the locator says which node serves it
and the request goes on to that node, its answer streamed back as it arrives (a blocking
playlist reload stays blocking, a growing part stays chunked). One hop at most: a forwarded
request carries ``FORWARDED_HEADER`` and is never forwarded again, so two nodes that
disagree for a moment about where a channel is answer 404 rather than loop. A WHEP offer
goes on the same way (http/whep_endpoint.py): the answer names the serving node's ICE
candidates, so the viewer's media flows from that node directly.

Cookies never go on. A private channel's request was admitted here (the owner's session, or
a playback token checked at this node's door), so it goes on under a short-lived playback
token for that channel (``/p/<token>/live/...``, http/playback_gate.py) that the serving
node checks like any other: the nodes share the signing secret (docs/scale-out.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlencode

import httpx

__all__ = [
    "EDGE_HEADER",
    "FORWARDED_HEADER",
    "ChannelForwarder",
    "ChannelLocator",
    "ChannelSigner",
    "ForwardedAnswer",
]

log = logging.getLogger("golive.http")

# Marks a request one node sent to another (the value: the sending node's id).
FORWARDED_HEADER = "x-golive-forwarded-by"
# Set by the shipped edge configurations (deploy/edge/) on the requests the edge sends: one
# such request stands for any number of players, who are counted by their page's presence
# beacon instead (docs/viewers.md). Passed on, so the serving node knows it too.
EDGE_HEADER = "x-golive-edge"

# The base URL of the node serving a channel, or None when no other node does.
ChannelLocator = Callable[[str], Awaitable[str | None]]
# A playback token for a private channel's forwarded request; None for a channel anyone may
# watch (its requests go on as they are).
ChannelSigner = Callable[[str], str | None]

# Request headers worth passing on: what conditions or shapes the answer, and what the serving
# node tells viewers apart by (CMCD session, user agent; the address goes in X-Forwarded-For,
# which it believes when this node is among its trusted_proxies).
_PASSED_REQUEST = frozenset(
    {
        "range",
        "if-none-match",
        "if-modified-since",
        "accept-encoding",
        "user-agent",
        "cmcd-session",
        "content-type",
        EDGE_HEADER,
    }
)
# Answer headers not passed back: hop-by-hop, or set again by this node's server.
_DROPPED_ANSWER = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
)
# A blocking playlist reload may wait up to about three part durations at the serving node
# (RFC 8216bis 6.2.5.2); generous, so a slow answer is the serving node's, not ours.
_READ_TIMEOUT = 30.0


class ForwardedAnswer:
    """The serving node's answer: status, headers, and its body as it arrives."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: AsyncIterator[bytes]):
        self.status = status
        self.headers = headers
        self.body = body


class ChannelForwarder:
    """Sends ``/live/<channel>/...`` requests on to the node the locator names."""

    def __init__(
        self,
        locate: ChannelLocator,
        node_id: str,
        *,
        sign: ChannelSigner | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._locate = locate
        self._node_id = node_id
        self._sign = sign
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(5.0, read=_READ_TIMEOUT),
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
        )
        self.forwarded = 0  # requests sent on (a metric)
        self.failed = 0  # serving node unreachable

    async def forward(
        self,
        channel: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Sequence[tuple[bytes, bytes]],
        client: str = "",
        *,
        body: bytes | None = None,
        sign: bool = True,
    ) -> ForwardedAnswer | None:
        """The serving node's answer, or None when this request may not or need not go on
        (already forwarded once, or no node serves ``channel``). ``body``: the request's
        (a WHEP offer); ``sign``: False for a request that needs no playback token even on a
        private channel (a WHEP session's DELETE, whose id is its credential)."""
        if any(name == FORWARDED_HEADER.encode() for name, _ in headers):
            return None
        base = await self._locate(channel)
        if base is None:
            return None
        token = self._sign(channel) if self._sign is not None and sign else None
        if token is not None:
            path = f"/p/{token}{path}"
        url = base.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        sent = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in headers
            if name.decode("latin-1").lower() in _PASSED_REQUEST
        }
        sent[FORWARDED_HEADER] = self._node_id
        if client:
            sent["x-forwarded-for"] = client
        try:
            answer = await self._client.send(
                self._client.build_request(method, url, headers=sent, content=body),
                stream=True,
            )
        except httpx.HTTPError as exc:
            self.failed += 1
            log.warning("channel %s: node at %s did not answer (%s)", channel, base, exc)
            return None
        self.forwarded += 1
        kept = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers.multi_items()
            if name.lower() not in _DROPPED_ANSWER
        ]
        return ForwardedAnswer(answer.status_code, kept, _body(answer))

    async def aclose(self) -> None:
        await self._client.aclose()


async def _body(answer: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    finally:
        await answer.aclose()
