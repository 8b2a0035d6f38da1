"""A clip's segment rows, read back from its stored media playlist.

A clip's segments are not indexed in the database (they are the clip's own objects, and its
playlists, written once by ``clip_copy``, list them). What reads them later (the MP4 export)
gets them from ``clips/<id>/<rendition>/index.m3u8``: the init segment of each (EXT-X-MAP),
where a new timeline starts (EXT-X-DISCONTINUITY) and the durations (EXTINF). Only names the
clip's own layout allows are taken (``<n>.m4s``, ``init-<n>.mp4``), so a playlist cannot
point a reader outside the clip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from golive.record.clip_copy import ClipSegment
from golive.record.storage_keys import clip_prefix
from golive.store.object_store import ObjectNotFound, ObjectStore

__all__ = ["ClipIndex", "parse_clip_playlist"]

_SEGMENT = re.compile(r"(\d{1,12})\.m4s")
_MAP = re.compile(r'#EXT-X-MAP:URI="(init-\d{1,12}\.mp4)"')
_EXTINF = re.compile(r"#EXTINF:([0-9.]+),")


def parse_clip_playlist(text: str, clip_id: str, rendition: str) -> list[ClipSegment]:
    base = f"{clip_prefix(clip_id)}{rendition}/"
    rows: list[ClipSegment] = []
    init = ""
    duration = 0.0
    new_timeline = False
    for line in text.splitlines():
        line = line.strip()
        if (found := _MAP.fullmatch(line)) is not None:
            init = base + found[1]
        elif line == "#EXT-X-DISCONTINUITY":
            new_timeline = True
        elif (found := _EXTINF.fullmatch(line)) is not None:
            duration = float(found[1])
        elif (found := _SEGMENT.fullmatch(line)) is not None and init:
            key = base + line
            rows.append(
                ClipSegment(
                    rendition=rendition,
                    sequence=int(found[1]),
                    media_start=0,
                    timescale=1,
                    duration=duration,
                    byte_size=0,
                    program_date_time=0.0,
                    storage_key=key,
                    init_key=init,
                    discontinuity=new_timeline,
                    gap_before=False,
                    source_key=key,
                    source_init=init,
                )
            )
            new_timeline = False
    return rows


class ClipIndex:
    """``segments(clip_id)``: the clip's ``rendition`` rows (the MP4 export's source)."""

    def __init__(self, store: ObjectStore, rendition: str = "source") -> None:
        self._store = store
        self._rendition = rendition

    async def segments(self, clip_id: str) -> Sequence[ClipSegment]:
        key = f"{clip_prefix(clip_id)}{self._rendition}/index.m3u8"
        try:
            text = (await self._store.get(key)).decode("utf-8", "replace")
        except ObjectNotFound:
            return []
        return parse_clip_playlist(text, clip_id, self._rendition)
