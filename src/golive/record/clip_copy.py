"""A clip's objects: the recorded segments it covers copied under ``clips/<clip id>/``, and
its own playlists rendered over the copies (``vod_publisher.publish_playlists``).

A copy, not a playlist pointing at the recording's objects: retention and deleting the VOD
remove ``<recording id>/`` and never touch a clip, and deleting a clip removes only
``clips/<clip id>/``. A clip is at most a minute, so the copy costs little (a few MB).

Copied through the ``ObjectStore`` interface's ``copy``, at most ``parallel`` objects at a
time: on local disk a hard link (no byte copied, nothing to wait for), on S3 a server-side
``CopyObject`` (the bytes stay in the bucket; one request per object). Either way deleting
the recording's key leaves the clip's. Segments are numbered from 0 in the clip
(``<n>.m4s``); each init segment the clip uses is copied once, named after the first clip
segment that uses it (``init-<n>.mp4``). The clip's index rows keep each segment's media
time, duration and date-time, so its playlists say the same as the VOD's over the same
segments. The multivariant playlist is stored last: once it exists the clip plays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from golive.record.recording_index import IndexedSegment
from golive.record.storage_keys import clip_init_key, clip_prefix, clip_segment_key
from golive.record.vod_publisher import publish_playlists
from golive.store.object_store import ObjectStore

__all__ = ["ClipSegment", "clip_rows", "copy_clip"]

PARALLEL = 8  # objects copied at a time


@dataclass(frozen=True, slots=True)
class ClipSegment:
    """A clip's segment: the recorded segment's index row with the clip's keys
    (``IndexedSegment`` structurally); ``source_key`` and ``source_init`` are what it is a
    copy of."""

    rendition: str
    sequence: int
    media_start: int
    timescale: int
    duration: float
    byte_size: int
    program_date_time: float
    storage_key: str
    init_key: str
    discontinuity: bool
    gap_before: bool
    source_key: str
    source_init: str


def clip_rows(
    clip_id: str, renditions: Mapping[str, Sequence[IndexedSegment]]
) -> dict[str, list[ClipSegment]]:
    """The clip's segments per rendition, renumbered from 0, with their clip keys."""
    out: dict[str, list[ClipSegment]] = {}
    for name, segs in renditions.items():
        inits: dict[str, str] = {}
        rows: list[ClipSegment] = []
        for number, seg in enumerate(segs):
            if seg.init_key not in inits:
                inits[seg.init_key] = clip_init_key(clip_id, name, number)
            rows.append(
                ClipSegment(
                    rendition=name,
                    sequence=number,
                    media_start=seg.media_start,
                    timescale=seg.timescale,
                    duration=seg.duration,
                    byte_size=seg.byte_size,
                    program_date_time=seg.program_date_time,
                    storage_key=clip_segment_key(clip_id, name, number),
                    init_key=inits[seg.init_key],
                    discontinuity=number > 0 and seg.discontinuity,
                    gap_before=number > 0 and seg.gap_before,
                    source_key=seg.storage_key,
                    source_init=seg.init_key,
                )
            )
        out[name] = rows
    return out


async def copy_clip(
    store: ObjectStore,
    clip_id: str,
    renditions: Mapping[str, Sequence[IndexedSegment]],
    *,
    parallel: int = PARALLEL,
) -> dict[str, list[ClipSegment]]:
    """Copy the segments (and their init segments), then store the clip's playlists; the
    clip's rows. A storage failure raises ``ObjectStoreError`` (the caller deletes what was
    copied)."""
    rows = clip_rows(clip_id, renditions)
    copies: dict[str, str] = {}  # destination -> source
    for segs in rows.values():
        for row in segs:
            copies[row.init_key] = row.source_init
            copies[row.storage_key] = row.source_key
    gate = asyncio.Semaphore(parallel)

    async def copy(destination: str, source: str) -> None:
        async with gate:
            await store.copy(source, destination)

    try:
        async with asyncio.TaskGroup() as group:
            for destination, source in copies.items():
                group.create_task(copy(destination, source))
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    await publish_playlists(store, clip_prefix(clip_id), rows)
    return rows
