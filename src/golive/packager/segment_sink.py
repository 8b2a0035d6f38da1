"""Where the packager hands every completed segment besides the live window (the recording).

``record``'s archive session implements it structurally: neither package imports the other.
The call is made on the live path: an implementation must return at once and not raise.
"""

from __future__ import annotations

from typing import Protocol

from golive.store.live_window import StoredSegment


class SegmentSink(Protocol):
    def segment_done(self, rendition: str, segment: StoredSegment, init: bytes | None) -> None:
        """``segment`` of ``rendition`` is complete; ``init`` is its init segment's bytes."""
        ...
