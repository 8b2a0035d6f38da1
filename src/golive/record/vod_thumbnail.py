"""A finished recording's thumbnail: one JPEG, ``<id>/thumbnail.jpg``, stored beside its
segments when the recording becomes a VOD (and deleted with them).

The still is the first frame (a keyframe) of one stored segment of the ``source`` rendition,
a tenth of the way in (past a black or still start; the first segment for a short VOD),
decoded by an ffmpeg child from the segment's init segment and the segment piped in, scaled
to ``width`` pixels wide. The child runs at the transcoders' lowered priority (the
``preexec`` the composition root gives, in its own session), with a timeout, and is always
reaped. **A thumbnail is a nicety:** any failure (no video, ffmpeg missing or failing,
storage) is logged and the VOD is ready all the same; the pages then show a placeholder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from golive.record.recording_index import IndexedSegment
from golive.record.storage_keys import thumbnail_key
from golive.store.object_store import ObjectStore

__all__ = ["VodThumbnails", "pick_segment"]

log = logging.getLogger("golive.record")

SOURCE = "source"
AUDIO = "audio"


def pick_segment(segments: Sequence[IndexedSegment]) -> IndexedSegment | None:
    """The segment the still is taken from: ``source``'s (else the first video-like
    rendition's, not the audio-only one), a tenth of the way in."""
    by_rendition: dict[str, list[IndexedSegment]] = {}
    for seg in segments:
        by_rendition.setdefault(seg.rendition, []).append(seg)
    chosen = by_rendition.get(SOURCE) or next(
        (segs for name, segs in sorted(by_rendition.items()) if name != AUDIO), None
    )
    if not chosen:
        return None
    chosen.sort(key=lambda s: s.sequence)
    return chosen[len(chosen) // 10]


class VodThumbnails:
    def __init__(
        self,
        store: ObjectStore,
        ffmpeg: str,
        *,
        preexec: Callable[[], None] | None = None,
        width: int = 640,
        timeout: float = 15.0,
    ) -> None:
        self._store = store
        self._ffmpeg = ffmpeg
        self._preexec = preexec
        self.width = width
        self.timeout = timeout

    async def make(self, recording_id: str, segments: Sequence[IndexedSegment]) -> bool:
        """Store the VOD's thumbnail; False (logged) if none could be made."""
        try:
            seg = pick_segment(segments)
            if seg is None:
                log.info("VOD %s: no video segment, no thumbnail", recording_id)
                return False
            data = await self._store.get(seg.init_key) + await self._store.get(seg.storage_key)
            jpeg = await self._still(recording_id, data)
            if jpeg is None:
                return False
            await self._store.put(thumbnail_key(recording_id), jpeg)
        except Exception as exc:  # a nicety: never fails the VOD
            log.warning("VOD %s: thumbnail not made: %s: %s", recording_id, type(exc).__name__, exc)
            return False
        return True

    async def _still(self, recording_id: str, data: bytes) -> bytes | None:
        proc = await asyncio.create_subprocess_exec(
            self._ffmpeg,
            *("-hide_banner", "-nostdin", "-loglevel", "error", "-f", "mp4", "-i", "pipe:0"),
            *("-frames:v", "1", "-vf", f"scale={self.width}:-2", "-q:v", "4"),
            *("-f", "image2", "-c:v", "mjpeg", "pipe:1"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=self._preexec,
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(self.timeout):
                jpeg, err = await proc.communicate(data)
        except TimeoutError:
            log.warning("VOD %s: thumbnail: ffmpeg took over %.0f s", recording_id, self.timeout)
            return None
        finally:
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(Exception):
                    await proc.wait()
        if proc.returncode != 0 or not jpeg.startswith(b"\xff\xd8"):
            log.warning(
                "VOD %s: thumbnail: ffmpeg failed: %s",
                recording_id,
                err.decode(errors="replace")[-200:].strip(),
            )
            return None
        return jpeg
