"""A new clip to its webhook event, ``clip.created``."""

from __future__ import annotations

from collections.abc import Callable

from golive.db.clips import ClipSummary
from golive.webhooks.dispatcher import WebhookDispatcher
from golive.webhooks.events import CLIP_CREATED
from golive.webhooks.stream_events import iso_time


class ClipEventNotifier:
    """Queues the event (never blocks). ``base_url`` gives the public HTTP base URL."""

    def __init__(self, dispatcher: WebhookDispatcher, *, base_url: Callable[[], str]) -> None:
        self._dispatcher = dispatcher
        self._base_url = base_url

    def created(self, clip: ClipSummary) -> None:
        base = self._base_url()
        self._dispatcher.emit(
            CLIP_CREATED,
            clip.channel,
            {
                "id": clip.id,
                "channel": clip.channel,
                "creator": clip.creator or None,
                "title": clip.title,
                "vod_id": clip.recording_id,
                "start": clip.start,
                "duration": clip.duration,
                "created_at": iso_time(clip.created_at),
                "url": f"{base}/clips/{clip.id}",
                "playlist_url": f"{base}/clip/{clip.id}/index.m3u8",
            },
        )
