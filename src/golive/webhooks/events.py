"""Webhook event types and the JSON body every delivery carries."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STREAM_STARTED = "stream.started"
STREAM_ENDED = "stream.ended"
# A live session's recording is finished and stored (a VOD); or nothing of it could be stored.
RECORDING_READY = "recording.ready"
RECORDING_FAILED = "recording.failed"
# A clip was made (and plays).
CLIP_CREATED = "clip.created"
EVENT_TYPES = (STREAM_STARTED, STREAM_ENDED, RECORDING_READY, RECORDING_FAILED, CLIP_CREATED)
# The approval call made before a publish starts (not queued, not retried).
PUBLISH_REQUESTED = "publish.requested"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event: ``{"id", "type", "created_at", "channel", "data"}`` as the request body."""

    type: str
    channel: str | None
    data: dict[str, Any]
    id: str = field(default_factory=lambda: "evt_" + secrets.token_hex(12))
    created_at: str = field(default_factory=_now_iso)

    def body(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "type": self.type,
                "created_at": self.created_at,
                "channel": self.channel,
                "data": self.data,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
