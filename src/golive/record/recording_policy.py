"""Which live sessions are recorded, and which of their renditions (pure rules)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

# "source": the publisher's rendition and the audio-only one; "all": every rendition.
RecordRenditions = Literal["source", "all"]


@dataclass(frozen=True, slots=True)
class RecordingPolicy:
    """The global switch, the renditions setting and the names of the source renditions."""

    enabled: bool
    renditions: RecordRenditions
    source_renditions: Collection[str]

    def records_stream(self, channel_records: bool) -> bool:
        """Whether a channel's session is recorded: both the global and its own switch on."""
        return self.enabled and channel_records

    def records_rendition(self, name: str) -> bool:
        return self.renditions == "all" or name in self.source_renditions
