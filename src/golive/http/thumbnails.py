"""``/live/<channel>/thumbnail.jpg``: a still of the stream for the home page.

One JPEG per channel, made from the newest complete segment of the source rendition (init
segment + segment: its first frame is a keyframe) by an ffmpeg child, at most once per
``refresh`` seconds and only when asked for: concurrent requests share one job, so the cost
does not grow with viewers. The child gets a timeout and is always reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from golive.store.live_window import LiveStore

__all__ = ["ThumbnailEndpoint"]

log = logging.getLogger("golive.http")


@dataclass(slots=True)
class _Thumbnail:
    stream_token: str
    msn: int
    jpeg: bytes
    made_at: float


class ThumbnailEndpoint:
    def __init__(
        self,
        store: LiveStore,
        ffmpeg: str,
        *,
        refresh: float = 10.0,
        width: int = 480,
        timeout: float = 10.0,
    ) -> None:
        self._store = store
        self._ffmpeg = ffmpeg
        self.refresh = refresh
        self.width = width
        self.timeout = timeout
        self._cache: dict[str, _Thumbnail] = {}
        self._jobs: dict[str, asyncio.Task[_Thumbnail | None]] = {}
        self.made = 0  # ffmpeg runs (for tests and metrics)

    async def handle(self, request: Request) -> Response:
        channel = request.path_params["channel"]
        thumb = await self.thumbnail(channel)
        if thumb is None:
            return Response(
                "no thumbnail: the channel is not live\n",
                404,
                media_type="text/plain",
                headers={"cache-control": "no-cache"},
            )
        return Response(
            thumb, media_type="image/jpeg", headers={"cache-control": f"max-age={self.refresh:.0f}"}
        )

    async def thumbnail(self, channel: str) -> bytes | None:
        media = self._store.get(channel)
        window = None if media is None else media.renditions.get("source")
        if media is None or window is None:
            self._cache.pop(channel, None)
            return None
        cached = self._cache.get(channel)
        fresh = (
            cached is not None
            and cached.stream_token == media.stream_token
            and time.monotonic() - cached.made_at < self.refresh
        )
        if fresh:
            assert cached is not None
            return cached.jpeg
        job = self._jobs.get(channel)
        if job is None:
            job = self._jobs[channel] = asyncio.create_task(self._make(channel))
            job.add_done_callback(lambda _: self._jobs.pop(channel, None))
        made = await asyncio.shield(job)
        if made is not None:
            self._cache[channel] = made
            return made.jpeg
        return cached.jpeg if cached is not None else None

    async def _make(self, channel: str) -> _Thumbnail | None:
        media = self._store.get(channel)
        window = None if media is None else media.renditions.get("source")
        if media is None or window is None:
            return None
        complete = [s for s in window.segments.values() if s.complete]
        if not complete:
            return None
        segment = max(complete, key=lambda s: s.msn)
        init = window.init_segments.get(segment.init_id)
        if init is None:
            return None
        data = init + bytes(segment.data)
        proc = await asyncio.create_subprocess_exec(
            self._ffmpeg,
            *("-hide_banner", "-loglevel", "error", "-f", "mp4", "-i", "pipe:0"),
            *("-frames:v", "1", "-vf", f"scale={self.width}:-2", "-q:v", "4"),
            *("-f", "image2", "-c:v", "mjpeg", "pipe:1"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self.timeout):
                jpeg, err = await proc.communicate(data)
        except TimeoutError:
            log.warning("thumbnail of %s: ffmpeg took longer than %.0f s", channel, self.timeout)
            return None
        finally:
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(Exception):
                    await proc.wait()
        self.made += 1
        if proc.returncode != 0 or not jpeg.startswith(b"\xff\xd8"):
            log.warning("thumbnail of %s failed: %s", channel, err.decode(errors="replace")[-200:])
            return None
        return _Thumbnail(media.stream_token, segment.msn, jpeg, time.monotonic())
