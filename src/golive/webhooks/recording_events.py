"""A finished recording to its webhook event: recording.ready, or recording.failed."""

from __future__ import annotations

from collections.abc import Callable

from golive.db.models import RECORDING_READY as READY
from golive.record.recording_index import RecordingSummary
from golive.webhooks.dispatcher import WebhookDispatcher
from golive.webhooks.events import RECORDING_FAILED, RECORDING_READY
from golive.webhooks.stream_events import iso_time


class RecordingEventNotifier:
    """Queues the event (never blocks). ``vod_url`` gives a recording's HLS VOD playlist URL."""

    def __init__(self, dispatcher: WebhookDispatcher, *, vod_url: Callable[[str], str]) -> None:
        self._dispatcher = dispatcher
        self._vod_url = vod_url

    def finished(self, recording: RecordingSummary) -> None:
        ready = recording.status == READY
        data: dict[str, object] = {
            "recording_id": recording.id,
            "stream_id": recording.stream_id,
            "title": recording.title,
            "status": recording.status,
            "started_at": iso_time(recording.started_at),
            "ended_at": iso_time(recording.ended_at) if recording.ended_at is not None else None,
            "duration": recording.duration,
            "bytes": recording.bytes,
        }
        if ready:
            data["playlist_url"] = self._vod_url(recording.id)
        self._dispatcher.emit(
            RECORDING_READY if ready else RECORDING_FAILED, recording.channel, data
        )
