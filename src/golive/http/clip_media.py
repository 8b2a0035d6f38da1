"""The media routes of clips, ``/clip/<id>/...``: the VOD endpoint (``vod_media``) over the
clips' objects (``clips/<id>/`` in the recordings' store), with ``thumbnail.jpg`` too.

- ``/clip/<id>/index.m3u8`` (multivariant), ``/clip/<id>/manifest.mpd``;
- ``/clip/<id>/<rendition>/index.m3u8``, ``.../<n>.m4s``, ``.../init-<n>.mp4`` (Range, HEAD);
- ``/clip/<id>/thumbnail.jpg`` once made, ``/clip/<id>/download.mp4`` once exported.

Same strict path pattern, caching (immutable) and private rule as VODs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request

from golive.db.clips import ClipSummary
from golive.http.vod_media import MediaSpace, StoredMediaEndpoint, media_path_pattern
from golive.store.object_store import ObjectStore

__all__ = ["PREFIX", "ClipMediaEndpoint", "clip_download_name"]

PREFIX = "/clip/"
KEY_PREFIX = "clips/"


def clip_download_name(clip: ClipSummary) -> str:
    """``<channel>-clip-<id>.mp4`` (only safe characters)."""
    channel = re.sub(r"[^A-Za-z0-9_-]", "_", clip.channel) or "clip"
    return f"{channel}-clip-{clip.id}.mp4"


class ClipMediaEndpoint(StoredMediaEndpoint[ClipSummary]):
    def __init__(
        self,
        store: ObjectStore,
        clips: Callable[[str], Awaitable[ClipSummary | None]],
        may_watch_private: Callable[[Request, ClipSummary], Awaitable[bool]] | None = None,
    ) -> None:
        space = MediaSpace(
            PREFIX,
            KEY_PREFIX,
            media_path_pattern(PREFIX, thumbnail=True),
            clip_download_name,
            "clip",
        )
        super().__init__(store, clips, may_watch_private, space)
