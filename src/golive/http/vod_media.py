"""The media routes of finished recordings (VODs): ``/vod/<id>/...``, from the object store.

What is served is what the archive stored (``record/vod_publisher.py`` writes the playlists
once, when the recording is finished):

- ``/vod/<id>/index.m3u8`` the multivariant playlist, ``/vod/<id>/manifest.mpd`` the DASH MPD;
- ``/vod/<id>/<rendition>/index.m3u8`` a media playlist;
- ``/vod/<id>/<rendition>/<n>.m4s`` a segment, ``.../init-<n>.mp4`` an init segment, with
  HTTP Range (one range: 206, or 416 when it cannot be satisfied) and HEAD;
- ``/vod/<id>/download.mp4`` the MP4 download once it is made (``record/mp4_export.py``),
  with Range and HEAD too, as an attachment named ``<channel>-<date>.mp4``;
- ``/vod/<id>/thumbnail.jpg`` the VOD's still (``record/vod_thumbnail.py``; 404 if none
  could be made).

**Nothing else can be named.** The request path, exactly as sent (percent-encoding
included, so no encoded slash or dot gets through), must match one strict pattern; the
storage key is then the path after ``/vod/``, made of a recording id, a rendition name and
fixed file names, the same shape the archive's keys have. No dot segment, no other file.

**Who may watch.** Only recordings whose status is ``ready`` are served; ``public`` and
``unlisted`` ones to anyone, ``private`` ones to the channel owner's browser session (the
``may_watch_private`` check the composition root gives) or through a signed playback token
(``/p/<token>/vod/<id>/...``, http/playback_gate.py checks it and calls ``serve`` with the
token's claim), and 404 to everyone else, as for an unknown id (a private VOD's existence
is not disclosed).

**Caching.** A VOD never changes: public and unlisted answers are
``public, max-age=31536000, immutable``; private ones are ``private`` (kept by the owner's
browser, never by a shared cache); through a token ``public`` with a max-age the token
outlives. Errors are ``no-cache``.

**Clips** (``/clip/<id>/...``) are served by the same endpoint with a different
``MediaSpace``: the URL prefix ``/clip/``, objects under ``clips/`` in the store, their
``thumbnail.jpg`` too, their own lookup and download name. A clip's status is ``ready``
once its copy is whole; its visibility is that of the VOD it was cut from.

**Failures.** The object store or the database failing is a 503 with a log line (a client
retries), never a 500; a stored object missing (a recording finished before VODs existed, or
deleted meanwhile) is a 404.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from golive.db.recordings import RecordingSummary
from golive.store.object_store import ObjectNotFound, ObjectStore, ObjectStoreError

log = logging.getLogger("golive.http")

PREFIX = "/vod/"


def media_path_pattern(prefix: str, *, thumbnail: bool = False) -> re.Pattern[str]:
    """The only paths served under ``prefix`` (``/vod/`` or ``/clip/``)."""
    still = r"|(?P<thumbnail>thumbnail\.jpg)" if thumbnail else ""
    return re.compile(
        re.escape(prefix) + r"(?P<id>[A-Za-z0-9_-]{16,32})/"
        r"(?:(?P<multivariant>index\.m3u8)|(?P<mpd>manifest\.mpd)|(?P<download>download\.mp4)"
        + still
        + r"|(?P<rendition>[a-z0-9][a-z0-9_-]{0,31})/"
        # A segment or init segment may sit in its writer's token folder (storage_keys.py).
        r"(?:(?P<playlist>index\.m3u8)"
        r"|(?P<segment>(?:t\d{1,20}/)?\d{1,12}\.m4s)|(?P<init>(?:t\d{1,20}/)?init-\d{1,12}\.mp4)))"
    )


_VOD_PATH = media_path_pattern(PREFIX, thumbnail=True)
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MPD_TYPE = "application/dash+xml"
INIT_TYPE = "video/mp4"
SEGMENT_TYPE = "video/iso.segment"
JPEG_TYPE = "image/jpeg"

SERVED = frozenset({"public", "unlisted"})
READY = "ready"
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, max-age=3600"
NO_CACHE = "no-cache"
STREAM_CHUNK = 1 << 20  # bytes read from storage at a time for a large answer
CORS = {"access-control-allow-origin": "*", "access-control-expose-headers": "content-range"}


class ServedMedia(Protocol):
    """What the endpoint needs of a VOD or a clip."""

    @property
    def status(self) -> str: ...
    @property
    def visibility(self) -> str: ...


M = TypeVar("M", bound=ServedMedia)


@dataclass(frozen=True, slots=True)
class MediaSpace(Generic[M]):
    """One kind of stored media: its URL prefix, the key prefix of its objects in the
    store, the path pattern, and its download's file name."""

    url_prefix: str
    key_prefix: str
    pattern: re.Pattern[str]
    download_name: Callable[[M], str]
    label: str


RecordingLookup = Callable[[str], Awaitable[RecordingSummary | None]]
PrivateCheck = Callable[[Request, RecordingSummary], Awaitable[bool]]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        message + "\n",
        status_code=status,
        media_type="text/plain; charset=utf-8",
        headers={**CORS, "cache-control": NO_CACHE, **(headers or {})},
    )


def download_name(recording: RecordingSummary) -> str:
    """``<channel>-<date>.mp4`` (UTC start date; only safe characters)."""
    channel = re.sub(r"[^A-Za-z0-9_-]", "_", recording.channel) or "vod"
    day = datetime.fromtimestamp(recording.started_at, UTC).strftime("%Y-%m-%d")
    return f"{channel}-{day}.mp4"


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """The ``[start, end)`` a Range header asks of ``size`` bytes: None to send everything
    (no header, or one this server ignores: several ranges, bad syntax, other units), or
    ``"unsatisfiable"``."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match[1], match[2]
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    start = int(first)
    end = int(last) + 1 if last else size
    if last and end <= start:
        return None  # last < first: not a valid range, ignored (RFC 9110 14.1.1)
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size)


def vod_space() -> MediaSpace[RecordingSummary]:
    return MediaSpace(PREFIX, "", _VOD_PATH, download_name, "VOD")


class StoredMediaEndpoint(Generic[M]):
    """Serves one ``MediaSpace`` (``/vod/...`` or ``/clip/...``) from the object store."""

    def __init__(
        self,
        store: ObjectStore,
        lookup: Callable[[str], Awaitable[M | None]],
        may_watch_private: Callable[[Request, M], Awaitable[bool]] | None,
        space: MediaSpace[M],
    ) -> None:
        self._store = store
        self._recordings = lookup
        self._may_watch_private = may_watch_private
        self._space = space

    async def handle(self, request: Request) -> Response:
        raw = request.scope.get("raw_path")
        path = raw.decode("latin-1") if raw else request.scope["path"]
        return await self.serve(request, path.partition("?")[0])

    async def serve(
        self, request: Request, path: str, token_cache_control: str | None = None
    ) -> Response:
        """Answer ``path`` (as sent) of this space (``/vod/...`` or ``/clip/...``);
        ``token_cache_control``: the request came with a valid playback token for this VOD or
        clip, and this is the Cache-Control its answers get (private ones are then served
        too)."""
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={**CORS, "access-control-max-age": "86400"})
        space = self._space
        match = space.pattern.fullmatch(path)
        if match is None:
            return _error(404, "not found")
        try:
            recording = await self._recordings(match["id"])
        except Exception:
            log.exception("%s %s: lookup failed", space.label, match["id"])
            return _error(503, "recordings are unavailable, try again")
        if recording is None or recording.status != READY:
            return _error(404, "no such recording")
        private = recording.visibility not in SERVED
        if (
            private
            and token_cache_control is None
            and (
                self._may_watch_private is None
                or not await self._may_watch_private(request, recording)
            )
        ):
            return _error(404, "no such recording")
        key = space.key_prefix + match.group(0)[len(space.url_prefix) :]
        thumbnail = bool(match.groupdict().get("thumbnail"))
        if thumbnail:
            content_type = JPEG_TYPE
        elif match["multivariant"] or match["playlist"]:
            content_type = PLAYLIST_TYPE
        elif match["mpd"]:
            content_type = MPD_TYPE
        elif match["download"]:
            content_type = INIT_TYPE
        else:
            content_type = INIT_TYPE if match["init"] else SEGMENT_TYPE
        if token_cache_control is not None:
            cache = token_cache_control
        else:
            cache = PRIVATE if private else IMMUTABLE
        headers = {**CORS, "cache-control": cache}
        media = bool(match["segment"] or match["init"] or match["download"])
        if match["download"]:
            name = space.download_name(recording)
            headers["content-disposition"] = f'attachment; filename="{name}"'

        try:
            return await self._object(request, key, content_type, headers, ranged=media)
        except ObjectNotFound:
            return _error(404, "not stored")
        except ObjectStoreError as exc:
            log.error("%s %s: storage failed: %s", space.label, key, exc)
            return _error(503, "storage is unavailable, try again")

    async def _object(
        self,
        request: Request,
        key: str,
        content_type: str,
        headers: dict[str, str],
        *,
        ranged: bool,
    ) -> Response:
        head = request.method == "HEAD"
        if ranged:
            headers["accept-ranges"] = "bytes"
        asked = request.headers.get("range") if ranged else None
        whole_file = key.endswith("/download.mp4")  # can be gigabytes: never read whole
        if asked is None and not head and not whole_file:
            body = await self._store.get(key)
            return Response(body, media_type=content_type, headers=headers)
        size = await self._store.size(key)
        span = byte_range(asked, size)
        if span == "unsatisfiable":
            return _error(416, "range not satisfiable", {"content-range": f"bytes */{size}"})
        status = 200
        start, end = 0, size
        if isinstance(span, tuple):
            start, end = span
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        if head:
            headers["content-length"] = str(end - start)
            return Response(b"", status_code=status, media_type=content_type, headers=headers)
        if end - start > STREAM_CHUNK:
            # A download can be gigabytes: it goes out a chunk at a time, never whole in memory.
            headers["content-length"] = str(end - start)
            return StreamingResponse(
                self._chunks(key, start, end),
                status_code=status,
                media_type=content_type,
                headers=headers,
            )
        body = await self._store.get(key, start, end)
        return Response(body, status_code=status, media_type=content_type, headers=headers)

    async def _chunks(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        for offset in range(start, end, STREAM_CHUNK):
            try:
                yield await self._store.get(key, offset, min(end, offset + STREAM_CHUNK))
            except ObjectStoreError as exc:
                # The status line is gone already: the client sees a short body.
                log.error("VOD %s: storage failed while streaming: %s", key, exc)
                raise


class VodMediaEndpoint(StoredMediaEndpoint[RecordingSummary]):
    """Serves ``/vod/...`` from the recordings' object store."""

    def __init__(
        self,
        store: ObjectStore,
        recordings: RecordingLookup,
        may_watch_private: PrivateCheck | None = None,
    ) -> None:
        super().__init__(store, recordings, may_watch_private, vod_space())
