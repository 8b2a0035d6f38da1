"""A finished recording becomes a VOD: its playlists are rendered once and stored beside its
segments (``vod_playlists`` says what they hold).

Rendered once, when the recording is finished, rather than on every request: a VOD never
changes, so the origin serves stored bytes (and an edge caches them for good), and the
playlists live with the segments in any backend, readable without the database.

What the multivariant playlist says of each rendition (codecs, picture size) is read from
its stored init segments with ``media.fmp4_reader``, and its frame rate from the samples of
its longest segment: the recording needs nothing kept from the live packager, so a
recording closed at start-up after a ``kill -9`` gets the same playlists. An init segment
that cannot be read leaves those attributes out (logged); a storage failure raises
``ObjectStoreError`` for the caller to retry. The multivariant playlist is written last:
once it exists, everything it names does. The thumbnail (``vod_thumbnail``) is made first,
from one stored segment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from golive.media.fmp4_reader import Mp4FormatError, fragment_samples, init_tracks
from golive.media.frame import Track, TrackKind
from golive.record.recording_index import IndexedSegment, RecordingIndex
from golive.record.storage_keys import recording_prefix
from golive.record.vod_playlists import (
    Variant,
    dash_mpd,
    media_playlist,
    multivariant_playlist,
    split_renditions,
)
from golive.record.vod_thumbnail import VodThumbnails
from golive.store.object_store import ObjectNotFound, ObjectStore

__all__ = ["publish_playlists", "publish_vod"]

log = logging.getLogger("golive.record")


async def publish_vod(
    store: ObjectStore,
    index: RecordingIndex,
    recording_id: str,
    thumbnails: VodThumbnails | None = None,
) -> bool:
    """Render and store the playlists of a recording (and its thumbnail, if ``thumbnails``:
    a failure there is only logged); False if it has no segment."""
    segments = await index.segments(recording_id)
    renditions = split_renditions(segments)
    if not renditions:
        return False
    if thumbnails is not None:
        await thumbnails.make(recording_id, segments)
    await publish_playlists(store, recording_prefix(recording_id), renditions)
    return True


async def publish_playlists(
    store: ObjectStore, prefix: str, renditions: Mapping[str, Sequence[IndexedSegment]]
) -> None:
    """Store ``<prefix><rendition>/index.m3u8`` for each rendition (its segments in order,
    their keys under ``<prefix><rendition>/``), ``<prefix>manifest.mpd`` and, last,
    ``<prefix>index.m3u8``. A VOD's prefix is ``<recording id>/``; a clip's
    ``clips/<clip id>/`` (``clip_copy``)."""
    variants = {name: await _variant(store, segs) for name, segs in renditions.items()}
    for name, segs in renditions.items():
        await store.put(f"{prefix}{name}/index.m3u8", media_playlist(segs).encode())
    await store.put(f"{prefix}manifest.mpd", dash_mpd(renditions, variants).encode())
    await store.put(f"{prefix}index.m3u8", multivariant_playlist(renditions, variants).encode())


async def _variant(store: ObjectStore, segments: Sequence[IndexedSegment]) -> Variant:
    tracks: list[Track] = []
    for key in dict.fromkeys(s.init_key for s in segments):
        try:
            tracks += init_tracks(await store.get(key))
        except (Mp4FormatError, ObjectNotFound) as exc:
            log.warning("VOD playlists: init segment %s not read (%s)", key, exc)
    if not tracks:
        return Variant()
    codecs = tuple(dict.fromkeys(t.codec for t in tracks))
    video = [t for t in tracks if t.kind is TrackKind.VIDEO]
    audio = [t for t in tracks if t.kind is TrackKind.AUDIO]
    if not video:
        return Variant(
            codecs=codecs,
            video=False,
            audio_sampling_rate=audio[0].sample_rate if audio else 0,
        )
    return Variant(
        codecs=codecs,
        width=max(t.width for t in video),
        height=max(t.height for t in video),
        frame_rate=await _frame_rate(store, segments, video[0]),
    )


async def _frame_rate(
    store: ObjectStore, segments: Sequence[IndexedSegment], track: Track
) -> float | None:
    """Video samples per second in the rendition's longest segment."""
    longest = max(segments, key=lambda s: s.duration)
    try:
        run = fragment_samples(await store.get(longest.storage_key)).get(track.id)
    except (Mp4FormatError, ObjectNotFound) as exc:
        log.warning("VOD playlists: segment %s not read (%s)", longest.storage_key, exc)
        return None
    if run is None or run.count == 0 or run.ticks <= 0 or track.timescale <= 0:
        return None
    return run.count / (run.ticks / track.timescale)
