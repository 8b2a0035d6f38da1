"""What a StreamHub fans out to: packagers, transcoders, recorders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from golive.media.frame import Frame, Track


class StreamConsumer(Protocol):
    """Receives one live stream's Tracks and Frames, in order, on the event loop.

    Calls must return quickly: they run on the ingest path of the stream.
    """

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        """The stream's track set, before the first frame and whenever a codec config changes."""

    def on_frame(self, frame: Frame) -> None:
        """One access unit; dts is monotonic per track within a timeline."""

    def on_discontinuity(self) -> None:
        """The timeline broke (publisher dropped or reconnected, timestamps jumped)."""

    def on_end(self) -> None:
        """The stream is over; nothing follows."""
