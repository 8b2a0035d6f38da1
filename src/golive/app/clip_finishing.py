"""What follows a new clip: its webhook and metric at once; its thumbnail, then its MP4, in
the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import Counter

from golive.config import Settings
from golive.db.clips import ClipSummary
from golive.record.clip_index import ClipIndex
from golive.record.clip_thumbnail import make_thumbnail
from golive.record.mp4_export import Mp4Exports
from golive.record.storage_keys import clip_thumbnail_key
from golive.store.object_store import ObjectStore
from golive.transcode.ffmpeg_child import child_setup
from golive.transcode.service import ffmpeg_binary
from golive.webhooks.clip_events import ClipEventNotifier

log = logging.getLogger("golive")


class ClipFinishing:
    def __init__(
        self,
        store: ObjectStore,
        exports: Mp4Exports,
        events: ClipEventNotifier,
        created: Counter,
        *,
        settings: Callable[[], Settings],
    ) -> None:
        """``store`` holds the clips' copies, ``exports`` makes their MP4s, ``created``
        counts them."""
        self._store = store
        self._exports = exports
        self._events = events
        self._created = created
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def created(self, clip: ClipSummary) -> None:
        self._created.inc()
        self._events.created(clip)
        task = asyncio.create_task(self._finish(clip), name=f"clip-{clip.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _finish(self, clip: ClipSummary) -> None:
        s = self._settings()
        try:
            rows = await ClipIndex(self._store).segments(clip.id)
            if rows:
                await make_thumbnail(
                    self._store,
                    ffmpeg=ffmpeg_binary(s.transcode_ffmpeg),
                    init_key=rows[0].init_key,
                    segment_key=rows[0].storage_key,
                    output_key=clip_thumbnail_key(clip.id),
                    preexec=child_setup(s.transcode_nice),
                )
            await self._exports.start(clip.id, clip.duration)
        except Exception:
            log.exception("clip %s: thumbnail or MP4 not started", clip.id)
