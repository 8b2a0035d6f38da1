"""Saving a live stream's packaged state to the data directory, and loading it back.

At shutdown each stream's complete segments (the live playlist's), init segments and the
numbers that let the next run continue it (stream id and token, next media sequence number,
discontinuity sequence, timeline end) are written under ``<data_dir>/streams/<channel>/``,
next to a plain media playlist of those segments: ended with EXT-X-ENDLIST when the stream
will not be resumed. A restarted server that finds a resumable stream saved less than the
reconnect grace ago takes it back: same URIs, the media sequence goes on, and the returning
publisher's media follows a discontinuity.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from golive.live.hub import StreamHub
from golive.packager.hls_playlist import MediaPlaylistWriter
from golive.packager.hls_rendition import HlsRendition
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import StoredPart, StoredSegment

log = logging.getLogger("golive.resume")

STATE_FILE = "state.json"
FORMAT_VERSION = 1


@dataclass(slots=True)
class SavedPart:
    index: int
    duration: float
    independent: bool
    size: int


@dataclass(slots=True)
class SavedSegment:
    msn: int
    init_id: int
    discontinuity: bool
    program_date_time: float
    duration: float
    independent: bool
    frame_count: int
    parts: list[SavedPart]


@dataclass(slots=True)
class SavedRendition:
    name: str
    target_duration: int
    part_target: float
    discontinuity_sequence: int
    init_ids: list[int]
    segments: list[SavedSegment]


@dataclass(slots=True)
class SavedStream:
    channel: str
    stream_id: str
    started_at: float
    timeline_end: float
    publishes: int
    saved_at: float
    resumable: bool
    multivariant: str | None
    renditions: list[SavedRendition]
    # Loaded or about to be written: relative path -> bytes (segments and init segments).
    files: dict[str, bytes] = field(default_factory=dict, repr=False)


def _packagers(hub: StreamHub) -> list[HlsStreamPackager]:
    return [c for c in hub.consumers if isinstance(c, HlsStreamPackager)]


def capture(hub: StreamHub, *, resumable: bool, now: float | None = None) -> SavedStream | None:
    """What to save of one stream; None if it has no complete segment to save."""
    packagers = _packagers(hub)
    if not packagers:
        return None
    packager = packagers[0]
    saved = SavedStream(
        channel=hub.channel,
        stream_id=hub.stream_id,
        started_at=hub.started_at,
        timeline_end=hub.timeline_end,
        publishes=hub.publishes,
        saved_at=time.time() if now is None else now,
        resumable=resumable,
        multivariant=(
            packager.media.multivariant.decode() if packager.media.multivariant else None
        ),
        renditions=[],
    )
    for rendition in packager.renditions.values():
        captured = _capture_rendition(rendition, saved.files, ended=not resumable)
        if captured is not None:
            saved.renditions.append(captured)
    return saved if saved.renditions else None


def _capture_rendition(
    rendition: HlsRendition, files: dict[str, bytes], *, ended: bool
) -> SavedRendition | None:
    window = rendition.window
    segments = [s for s in rendition.playlist_segments() if s.complete]
    if not segments or not window.target_duration:
        return None
    init_ids = sorted({s.init_id for s in segments})
    for init_id in init_ids:
        files[f"{rendition.name}/init-{init_id}.mp4"] = bytes(window.init_segments[init_id])
    saved_segments = []
    for seg in segments:
        files[f"{rendition.name}/{seg.msn}.m4s"] = bytes(seg.data)
        saved_segments.append(
            SavedSegment(
                msn=seg.msn,
                init_id=seg.init_id,
                discontinuity=seg.discontinuity,
                program_date_time=seg.program_date_time,
                duration=seg.duration,
                independent=seg.independent,
                frame_count=seg.frame_count,
                parts=[
                    SavedPart(p.index, p.duration, p.independent, len(p.data)) for p in seg.parts
                ],
            )
        )
    playlist = MediaPlaylistWriter(uri_prefix="").render(
        # The saved playlist lists whole segments only: parts are not saved as files.
        [replace(s, parts=[]) for s in segments],
        target_duration=window.target_duration,
        part_target=window.part_target,
        discontinuity_sequence=rendition.discontinuity_sequence,
        preload_hint=None,
        ended=ended,
    )
    assert playlist is not None
    files[f"{rendition.name}/index.m3u8"] = playlist.encode()
    return SavedRendition(
        name=rendition.name,
        target_duration=window.target_duration,
        part_target=window.part_target,
        discontinuity_sequence=rendition.discontinuity_sequence,
        init_ids=init_ids,
        segments=saved_segments,
    )


def write(root: Path, saved: SavedStream) -> Path:
    """Write one saved stream under ``root/<channel>/`` (blocking: run it in a thread)."""
    target = root / saved.channel
    staging = root / f".{saved.channel}.saving"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for relative, data in saved.files.items():
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    state = asdict(saved)
    del state["files"]
    state["format"] = FORMAT_VERSION
    (staging / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def load_all(root: Path) -> list[SavedStream]:
    """Every saved stream under ``root`` (blocking: run it in a thread); bad ones are skipped."""
    if not root.is_dir():
        return []
    found = []
    for directory in sorted(root.iterdir()):
        if not directory.is_dir() or directory.name.startswith("."):
            continue
        try:
            found.append(_load(directory))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring saved stream in %s: %s", directory, exc)
    return found


def _load(directory: Path) -> SavedStream:
    state: dict[str, Any] = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    if state.pop("format", None) != FORMAT_VERSION:
        raise ValueError("unknown format version")
    renditions = []
    files: dict[str, bytes] = {}
    for r in state.pop("renditions"):
        segments = [
            SavedSegment(**{**s, "parts": [SavedPart(**p) for p in s["parts"]]})
            for s in r.pop("segments")
        ]
        rendition = SavedRendition(**r, segments=segments)
        for init_id in rendition.init_ids:
            name = f"{rendition.name}/init-{init_id}.mp4"
            files[name] = (directory / name).read_bytes()
        for seg in segments:
            name = f"{rendition.name}/{seg.msn}.m4s"
            files[name] = (directory / name).read_bytes()
        renditions.append(rendition)
    return SavedStream(**state, renditions=renditions, files=files)


def discard(root: Path, channel: str) -> None:
    """Forget a saved stream (blocking)."""
    shutil.rmtree(root / channel, ignore_errors=True)


def restore_into(packager: HlsStreamPackager, saved: SavedStream) -> None:
    """Load the saved segments into a fresh packager of the same stream."""
    for saved_rendition in saved.renditions:
        rendition = packager.renditions.get(saved_rendition.name)
        if rendition is None:
            # Renditions other than the source are created by the transcoder when the
            # publisher is back; only renditions that exist from the start are restored.
            continue
        name = saved_rendition.name
        segments = []
        for s in saved_rendition.segments:
            data = saved.files[f"{name}/{s.msn}.m4s"]
            view = memoryview(data)
            parts = []
            offset = 0
            for p in s.parts:
                parts.append(
                    StoredPart(p.index, p.duration, p.independent, view[offset : offset + p.size])
                )
                offset += p.size
            segments.append(
                StoredSegment(
                    msn=s.msn,
                    init_id=s.init_id,
                    discontinuity=s.discontinuity,
                    program_date_time=s.program_date_time,
                    parts=parts,
                    duration=s.duration,
                    complete=True,
                    independent=s.independent,
                    data=data,
                    frame_count=s.frame_count,
                )
            )
        inits = {i: saved.files[f"{name}/init-{i}.mp4"] for i in saved_rendition.init_ids}
        rendition.restore(
            segments,
            inits,
            target_duration=saved_rendition.target_duration,
            part_target=saved_rendition.part_target,
            discontinuity_sequence=saved_rendition.discontinuity_sequence,
        )
    restored = {r.name for r in saved.renditions if r.name in packager.renditions}
    if saved.multivariant is not None and _names_only(saved.multivariant, restored):
        packager.media.set_multivariant(saved.multivariant.encode())


def _names_only(multivariant: str, renditions: set[str]) -> bool:
    """Whether every playlist the multivariant playlist names is one of ``renditions``.

    A ladder's encoded renditions are not restored: a multivariant playlist naming them waits
    until the packager writes a new one.
    """
    uris = [line for line in multivariant.splitlines() if line and not line.startswith("#")]
    uris += re.findall(r'URI="([^"]+)"', multivariant)
    return all(uri.split("/", 1)[0] in renditions for uri in uris)
