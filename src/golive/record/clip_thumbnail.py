"""A clip's still: the first frame of its first video segment, as a JPEG beside its segments
(``clips/<id>/thumbnail.jpg``).

Made once, in the background after the copy, by an ffmpeg child at the transcoders' lowered
priority (the ``preexec`` the composition root gives): the init segment and the first
segment go in on stdin (a fragmented MP4 whose first frame is a keyframe), one scaled JPEG
comes out on stdout. The child has a timeout and is always reaped; a failure is logged and
leaves the clip without a thumbnail (its page shows none), nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from golive.store.object_store import ObjectStore

__all__ = ["make_thumbnail"]

log = logging.getLogger("golive.record")

WIDTH = 480
TIMEOUT = 20.0


async def make_thumbnail(
    store: ObjectStore,
    *,
    ffmpeg: str,
    init_key: str,
    segment_key: str,
    output_key: str,
    preexec: Callable[[], None] | None = None,
) -> bool:
    """Store the JPEG under ``output_key``; False (logged) if it could not be made."""
    try:
        media = await store.get(init_key) + await store.get(segment_key)
        proc = await asyncio.create_subprocess_exec(
            ffmpeg,
            *("-hide_banner", "-nostdin", "-v", "error", "-f", "mp4", "-i", "pipe:0"),
            *("-frames:v", "1", "-vf", f"scale={WIDTH}:-2", "-q:v", "4"),
            *("-f", "image2", "-c:v", "mjpeg", "pipe:1"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=preexec,
            start_new_session=True,
        )
    except Exception as exc:
        log.warning("clip thumbnail %s not made: %s", output_key, exc)
        return False
    try:
        async with asyncio.timeout(TIMEOUT):
            jpeg, errors = await proc.communicate(media)
    except TimeoutError:
        log.warning("clip thumbnail %s: ffmpeg took too long (killed)", output_key)
        return False
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
    if proc.returncode != 0 or not jpeg.startswith(b"\xff\xd8"):
        detail = errors.decode(errors="replace").strip()[-300:]
        log.warning(
            "clip thumbnail %s: ffmpeg failed (%s): %s", output_key, proc.returncode, detail
        )
        return False
    try:
        await store.put(output_key, jpeg)
    except Exception as exc:
        log.warning("clip thumbnail %s not stored: %s", output_key, exc)
        return False
    return True
