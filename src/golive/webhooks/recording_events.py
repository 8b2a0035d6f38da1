"""A recording's webhook events: ``recording.ready``, and ``recording.failed`` in two kinds.

- ``recording.failed`` with ``"partial": true`` and ``"status": "recording"``: sent while
  the stream is live, once per recording, when storage has failed long enough for the
  recording to lose a segment (the archive's buffer overflowed, or the stream ended while
  storage was still down). It carries the ``reason`` (the storage error) and where the hole
  starts (``lost_from``, the program date-time of the first lost segment). The recording
  goes on; once storage is back it is finished as usual.
- ``recording.failed`` with ``"partial": false`` and ``"status": "failed"``: the recording
  is finished and nothing of it could be stored (there is no VOD).
- ``recording.ready``: a VOD is there (``playlist_url``). ``gaps`` counts its holes and
  ``partial`` says whether it lost anything (a hole, or a ``recording.failed`` sent for it).

So a consumer tells "a gap happened" (a partial failure, then ``ready`` with ``partial``)
from "the whole thing failed" (``failed``, not partial, and no ``ready``).
"""

from __future__ import annotations

from collections.abc import Callable

from golive.db.models import RECORDING_READY as READY
from golive.record.recording_index import RecordingSummary
from golive.record.segment_archive import RecordingLoss
from golive.webhooks.dispatcher import WebhookDispatcher
from golive.webhooks.events import RECORDING_FAILED, RECORDING_READY
from golive.webhooks.stream_events import iso_time


class RecordingEventNotifier:
    """Queues the event (never blocks). ``vod_url`` gives a recording's HLS VOD playlist URL."""

    def __init__(self, dispatcher: WebhookDispatcher, *, vod_url: Callable[[str], str]) -> None:
        self._dispatcher = dispatcher
        self._vod_url = vod_url
        self._lossy: set[str] = set()  # recordings with a partial failure sent, until finished

    def lost(self, loss: RecordingLoss) -> None:
        """A recording in progress lost a segment: a partial ``recording.failed``."""
        self._lossy.add(loss.recording_id)
        self._dispatcher.emit(
            RECORDING_FAILED,
            loss.channel,
            {
                "recording_id": loss.recording_id,
                "stream_id": loss.stream_id,
                "status": "recording",
                "partial": True,
                "reason": loss.reason,
                "lost_from": iso_time(loss.lost_from),
                "rendition": loss.rendition,
            },
        )

    def finished(self, recording: RecordingSummary) -> None:
        ready = recording.status == READY
        lossy = recording.id in self._lossy
        self._lossy.discard(recording.id)
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
            data["gaps"] = recording.gaps
            data["partial"] = lossy or recording.gaps > 0
        else:
            data["partial"] = False
            data["reason"] = "nothing of the recording could be stored"
        self._dispatcher.emit(
            RECORDING_READY if ready else RECORDING_FAILED, recording.channel, data
        )
