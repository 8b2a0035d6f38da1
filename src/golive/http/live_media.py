"""The media routes of the origin: playlists (with LL-HLS blocking reload), init, segments, parts.

Everything is served from the in-memory live window. URLs are matched against one strict
pattern, so nothing outside the served set (no file path, no dot segments) can be named.

DVR (``dvr.m3u8``, ``<rendition>/dvr.m3u8``, ``dvr.mpd``; see store.dvr_history): the same
playlists with the recorded past before them; a segment or init segment the live window no
longer holds is answered from the DVR history: its bytes while the recording has not stored
them yet, else the recording's object in the object store.

DASH reads the same segments through its MPD (``manifest.mpd``). A segment that is still
being built is sent part by part as the parts are made (chunked transfer encoding), which
is what low-latency DASH's availabilityTimeOffset relies on; ``/live/utc`` is the clock
the MPD's UTCTiming points players to.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from golive.http.channel_forwarding import EDGE_HEADER, ChannelForwarder
from golive.store.dvr_history import ChannelDvr
from golive.store.live_window import LiveStore, PlaylistSnapshot, RenditionWindow, StoredSegment
from golive.store.object_store import ObjectNotFound, ObjectStoreError
from golive.store.viewer_sessions import CMCD_SESSION, ViewerSessions, session_id

_MEDIA_PATH = re.compile(
    r"/live/(?P<channel>[a-z0-9][a-z0-9_-]{0,31})/"
    r"(?:(?P<presence>presence)"
    r"|(?P<multivariant>index\.m3u8|dvr\.m3u8)|(?P<mpd>manifest\.mpd|dvr\.mpd)"
    r"|(?P<rendition>[a-z0-9][a-z0-9_-]{0,31})/"
    r"(?:(?P<playlist>index\.m3u8|dvr\.m3u8)"
    r"|(?P<token>[0-9a-f]{8})/"
    r"(?:init-(?P<init>\d{1,6})\.mp4|(?P<msn>\d{1,12})(?:\.(?P<part>\d{1,6}))?\.m4s)))"
)
_NUMBER = re.compile(r"\d{1,12}")

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MPD_TYPE = "application/dash+xml"
MEDIA_TYPE = "video/mp4"
UTC_PATH = "/live/utc"

CORS = {"access-control-allow-origin": "*", "access-control-expose-headers": "age, date"}
IMMUTABLE = "public, max-age=31536000, immutable"
# A playlist without blocking parameters changes every part: let caches hold it only briefly.
LIVE_PLAYLIST = "public, max-age=1"
NO_CACHE = "no-cache"
# Waiting for a stream that is starting (first segment not yet complete).
_STARTUP_WAIT = 6.0

Headers = list[tuple[bytes, bytes]]


def _headers(content_type: str, cache_control: str) -> Headers:
    """A response's headers, encoded once (content-length is added when sent)."""
    fields = {"content-type": content_type, **CORS, "cache-control": cache_control}
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fields.items()]


_MEDIA_HEADERS = _headers(MEDIA_TYPE, IMMUTABLE)
_LIVE_PLAYLIST_HEADERS = _headers(PLAYLIST_TYPE, LIVE_PLAYLIST)
_MPD_HEADERS = _headers(MPD_TYPE, LIVE_PLAYLIST)
_ERROR_HEADERS = _headers("text/plain; charset=utf-8", NO_CACHE)
_UTC_HEADERS = _headers("text/plain; charset=utf-8", "no-store")
_PRESENCE_HEADERS = [
    *((name.encode("latin-1"), value.encode("latin-1")) for name, value in CORS.items()),
    (b"cache-control", b"no-store"),
]
_EDGE = EDGE_HEADER.encode("latin-1")
_OPTIONS_HEADERS = [
    *((name.encode("latin-1"), value.encode("latin-1")) for name, value in CORS.items()),
    (b"access-control-max-age", b"86400"),
]
_blocking_headers: dict[int, Headers] = {}


def _blocking_playlist_headers(target: int) -> Headers:
    # Once a requested part exists, this URL always yields this playlist: cacheable.
    headers = _blocking_headers.get(target)
    if headers is None:
        cache = f"public, max-age={max(2, 3 * target)}"
        headers = _blocking_headers[target] = _headers(PLAYLIST_TYPE, cache)
    return headers


@dataclass(slots=True)
class MediaAnswer:
    """What a media request is answered: status, headers (without content-length) and a body,
    or a stream of chunks for a segment that is still growing."""

    status: int
    headers: Headers
    body: bytes | memoryview = b""
    stream: AsyncIterator[bytes] | None = None


def _error(status: int, message: str) -> MediaAnswer:
    return MediaAnswer(status, _ERROR_HEADERS, (message + "\n").encode())


def _media(data: bytes | memoryview) -> MediaAnswer:
    # Parts are views into their segment's buffer: sent as they are, without a copy.
    return MediaAnswer(200, _MEDIA_HEADERS, data)


class LiveMediaEndpoint:
    """Serves ``/live/...`` from a LiveStore."""

    def __init__(
        self,
        store: LiveStore,
        viewers: ViewerSessions | None = None,
        forwarder: ChannelForwarder | None = None,
    ) -> None:
        self._store = store
        self.viewers = viewers
        # In a cluster: channels another node serves are answered by that node.
        self.forwarder = forwarder
        self.waiting = 0  # requests blocked until a playlist or part exists (a metric)

    def _count_viewer(
        self,
        query: Mapping[str, str],
        headers: Sequence[tuple[bytes, bytes]],
        client: str,
        channel: str,
        stream_token: str,
        *,
        beacon: bool = False,
    ) -> None:
        """Players reload a media playlist (DASH: the MPD) all along: each is a viewer. So
        is a watch page's presence ``beacon``. A playlist request an edge sent without a
        player's CMCD session is not: it stands for all the players behind it, who send
        beacons through the edge."""
        viewers = self.viewers
        if viewers is None:
            return
        cmcd_session: str | None = None
        user_agent = ""
        from_edge = False
        # Like Starlette's Headers.get: the first field of each name.
        for name, value in headers:
            if name == b"cmcd-session" and cmcd_session is None:
                cmcd_session = value.decode("latin-1")
            elif name == b"user-agent" and not user_agent:
                user_agent = value.decode("latin-1")
            elif name == _EDGE:
                from_edge = True
        sid = session_id(query.get("CMCD"), cmcd_session, client, user_agent)
        if from_edge and not beacon and not sid.startswith(CMCD_SESSION):
            return
        viewers.seen(channel, stream_token, sid)

    async def handle(self, request: Request, path: str | None = None) -> Response:
        """The Starlette route (requests the lean path in front leaves to the full stack);
        ``path``: the media path when it is not the request's (after a ``/p/<token>``)."""
        answer = await self.answer(
            request.method,
            request.url.path if path is None else path,
            request.query_params,
            request.scope.get("headers", []),
            request.client.host if request.client is not None else "",
        )
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in answer.headers
        }
        if answer.stream is not None:
            return StreamingResponse(answer.stream, status_code=answer.status, headers=headers)
        return Response(bytes(answer.body), status_code=answer.status, headers=headers)

    async def answer(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Sequence[tuple[bytes, bytes]],
        client: str,
    ) -> MediaAnswer:
        """Answer one request for ``path`` (``headers`` as in an ASGI scope; ``client`` the
        client's address as the origin decided it)."""
        if method == "OPTIONS":
            return MediaAnswer(204, _OPTIONS_HEADERS)
        if path == UTC_PATH:
            return _utc_now()
        match = _MEDIA_PATH.fullmatch(path)
        if match is None:
            return _error(404, "not found")
        presence = match["presence"] is not None
        if (method == "POST") != presence:
            return _error(405, "POST is for presence beacons only, and they are POSTed")
        media = self._store.get(match["channel"])
        if media is None:
            if self.forwarder is not None:
                elsewhere = await self.forwarder.forward(
                    match["channel"], method, path, query, headers, client
                )
                if elsewhere is not None:
                    return MediaAnswer(elsewhere.status, elsewhere.headers, stream=elsewhere.body)
            return _error(404, "channel is not live")
        if presence:
            self._count_viewer(
                query, headers, client, media.channel, media.stream_token, beacon=True
            )
            return MediaAnswer(204, _PRESENCE_HEADERS)
        multivariant = match["multivariant"]
        if multivariant:
            text = await media.wait_multivariant(_STARTUP_WAIT)
            if multivariant == "dvr.m3u8":
                text = media.dvr_multivariant if media.has_dvr else None
                if text is None:
                    return _error(404, "this stream has no DVR")
            if text is None:
                return _error(404, "stream is starting")
            return MediaAnswer(200, _LIVE_PLAYLIST_HEADERS, text)
        if match["mpd"]:
            self._count_viewer(query, headers, client, media.channel, media.stream_token)
            # Published together with the multivariant playlist.
            await media.wait_multivariant(_STARTUP_WAIT)
            if match["mpd"] == "dvr.mpd":
                mpd = media.dvr_mpd if media.has_dvr else None
                if mpd is None:
                    return _error(404, "this stream has no DVR")
            else:
                mpd = media.dash_manifest
            if mpd is None:
                return _error(404, "stream is starting")
            return MediaAnswer(200, _MPD_HEADERS, mpd)
        rendition = match["rendition"]
        window = media.renditions.get(rendition)
        if window is None:
            return _error(404, "no such rendition")
        dvr = media.dvr
        if match["playlist"]:
            self._count_viewer(query, headers, client, media.channel, media.stream_token)
            if match["playlist"] == "dvr.m3u8":
                if dvr is None or rendition not in dvr.histories:
                    return _error(404, "this rendition has no DVR")
                return await self._playlist(query, window, _dvr_body)
            return await self._playlist(query, window, _live_body)
        if match["token"] != window.stream_token:
            return _error(404, "segment is not in the live window")
        if match["init"] is not None:
            init_id = int(match["init"])
            init = window.init_segments.get(init_id)
            if init is None and dvr is not None:
                history = dvr.histories.get(rendition)
                init = history.init_segments.get(init_id) if history is not None else None
            if init is None:
                return _error(404, "no such init segment")
            return _media(init)
        msn = int(match["msn"])
        if match["part"] is not None:
            return await self._part(window, msn, int(match["part"]))
        seg = window.segments.get(msn)
        if seg is not None and seg.complete:
            return _media(seg.data)
        if seg is None and dvr is not None:
            answer = await _recorded_segment(dvr, rendition, msn)
            if answer is not None:
                return answer
        return await self._growing_segment(window, msn)

    async def _playlist(
        self,
        query: Mapping[str, str],
        window: RenditionWindow,
        body_of: Callable[[PlaylistSnapshot, bool], bytes],
    ) -> MediaAnswer:
        raw_msn, raw_part = query.get("_HLS_msn"), query.get("_HLS_part")
        raw_skip = query.get("_HLS_skip")
        if raw_msn is not None and not _NUMBER.fullmatch(raw_msn):
            return _error(400, "_HLS_msn must be a non-negative integer")
        if raw_part is not None and not _NUMBER.fullmatch(raw_part):
            return _error(400, "_HLS_part must be a non-negative integer")
        if raw_part is not None and raw_msn is None:
            return _error(400, "_HLS_part requires _HLS_msn")
        if raw_skip is not None and raw_skip not in ("YES", "v2"):
            return _error(400, "_HLS_skip must be YES or v2")
        skip = raw_skip is not None
        msn = int(raw_msn) if raw_msn is not None else None
        part = int(raw_part) if raw_part is not None else None

        if msn is None:
            if window.latest is None and not window.ended:
                await window.wait_changed(_STARTUP_WAIT)
            elif not window.ended and window.part_target:
                # Answered with the next part, not with one up to a part old: a player dates
                # the live edge from when it loads the playlist (hls.js: edge + age) and picks
                # its start, and so for good its latency, from that. Costs at most one part.
                await window.wait_changed(window.part_target + 0.1)
            snapshot = window.latest
            if snapshot is None:
                return _error(404, "stream is starting")
            return MediaAnswer(200, _LIVE_PLAYLIST_HEADERS, body_of(snapshot, skip))

        # Blocking playlist reload (RFC 8216bis 6.2.5.2).
        pos = window.last_position
        if pos is not None and msn > pos[0] + 2:
            return _error(400, "_HLS_msn is too far ahead of the live edge")
        if part is not None and part > 1000:
            return _error(400, "_HLS_part is too far ahead of the live edge")
        target = window.target_duration or 2
        if window.has_reached(msn, part) and not window.ended:
            # Behind the live edge already (a player tuning in, or switching to this rendition
            # with an older rendition report): the newest playlist, not the one that first
            # satisfied the request, or the player walks up to the edge one round trip per
            # part while its buffer drains. Any playlist at least as new is a valid answer
            # (RFC 8216bis 6.2.5.2); this one changes with every part: cached briefly.
            latest = window.latest
            if latest is not None:
                return MediaAnswer(200, _LIVE_PLAYLIST_HEADERS, body_of(latest, skip))
        deadline = time.monotonic() + 3 * target
        self.waiting += 1
        try:
            while not window.has_reached(msn, part):
                if not await window.wait_changed(deadline - time.monotonic()):
                    return _error(503, "the requested part did not appear in time")
        finally:
            self.waiting -= 1
        snapshot = window.snapshot_for(msn, part)
        if snapshot is None:
            return _error(503, "the requested part did not appear in time")
        # The playlist that first satisfied a request that waited for it: this URL always
        # yields it from now on, so it is cacheable.
        return MediaAnswer(200, _blocking_playlist_headers(target), body_of(snapshot, skip))

    async def _part(self, window: RenditionWindow, msn: int, index: int) -> MediaAnswer:
        found = window.find_part(msn, index)
        if found is None and window.part_is_pending(msn, index):
            # A preload hint: hold the request until the part exists (RFC 8216bis 6.2.6).
            deadline = time.monotonic() + 3 * max(window.part_target, 0.2) + 1.0
            self.waiting += 1
            try:
                while found is None and window.part_is_pending(msn, index):
                    if not await window.wait_changed(deadline - time.monotonic()):
                        break
                    found = window.find_part(msn, index)
            finally:
                self.waiting -= 1
        if found is None:
            return _error(404, "part is not in the live window")
        return _media(found.data)

    async def _growing_segment(self, window: RenditionWindow, msn: int) -> MediaAnswer:
        """A segment still being built (or about to start), sent part by part as they come."""
        seg = window.segments.get(msn)
        if seg is None:
            if not window.segment_is_pending(msn):
                return _error(404, "segment is not in the live window")
            deadline = time.monotonic() + 2 * (window.target_duration or 2) + 1.0
            self.waiting += 1
            try:
                while seg is None and window.segment_is_pending(msn):
                    if not await window.wait_changed(deadline - time.monotonic()):
                        break
                    seg = window.segments.get(msn)
            finally:
                self.waiting -= 1
            if seg is None:
                return _error(404, "segment is not in the live window")
        if seg.complete:
            return _media(seg.data)
        # The bytes are the complete segment's, whenever they are read.
        return MediaAnswer(200, _MEDIA_HEADERS, stream=_parts_as_made(window, seg))


def _live_body(snapshot: PlaylistSnapshot, skip: bool) -> bytes:
    """``index.m3u8``: the live playlist, or its delta update if one was asked for and exists."""
    return snapshot.skipped if skip and snapshot.skipped is not None else snapshot.full


def _dvr_body(snapshot: PlaylistSnapshot, skip: bool) -> bytes:
    """``dvr.m3u8``: the DVR playlist of the same moment (the live one if it has none)."""
    body = snapshot.dvr(True) if skip else None
    if body is None:
        body = snapshot.dvr(False)
    return body if body is not None else snapshot.full


async def _recorded_segment(dvr: ChannelDvr, rendition: str, msn: int) -> MediaAnswer | None:
    """A segment that has left the live window, from the DVR history: its bytes while the
    recording has not stored them, else the stored object. None if the history has no such
    segment (it is not the DVR's business: the caller goes on)."""
    history = dvr.histories.get(rendition)
    entry = history.get(msn) if history is not None else None
    if entry is None:
        return None
    pending = entry.pending
    if pending is not None:
        return _media(pending)
    key = entry.key
    if key is None:
        return _error(404, "the recording lost this segment")
    try:
        data = await dvr.objects.get(key)
    except ObjectNotFound:
        return _error(404, "segment is no longer stored")
    except ObjectStoreError:
        return _error(503, "recording storage is unavailable")
    return _media(data)


async def _parts_as_made(window: RenditionWindow, seg: StoredSegment) -> AsyncIterator[bytes]:
    sent = 0
    wait = (window.target_duration or 2) + 1.0
    while True:
        while sent < len(seg.parts):
            yield bytes(seg.parts[sent].data)
            sent += 1
        if seg.complete or window.ended:
            return
        if not await window.wait_grown(wait):
            return  # the stream stalled: end the response rather than hang


def _utc_now() -> MediaAnswer:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return MediaAnswer(200, _UTC_HEADERS, stamp.encode())
