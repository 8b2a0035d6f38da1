"""Where the leading rendition cut its segments, for the other renditions to cut there too.

The source rendition leads: it cuts segments at its keyframes by its own rules. Every other
rendition of the stream (the encoded ones and the shared audio rendition) follows: it cuts at
the frame nearest each of the leader's boundaries, so segments line up across renditions
(what players need to switch, and what DASH's segmentAlignment promises), takes the leader's
media sequence number for its first segment, and dates its segments with the leader's
program date time, so the same media time has the same date in every playlist.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Boundary", "SegmentBoundaries"]

log = logging.getLogger("golive.packager")


@dataclass(frozen=True, slots=True)
class Boundary:
    """The start of one leader segment."""

    msn: int
    pts: float  # presentation time of its first frame, seconds on the stream timeline
    program_date_time: float  # wall clock of that time (seconds since the epoch)
    independent: bool  # starts with a keyframe (False: cut without one, at the target)
    discontinuity: bool


class SegmentBoundaries:
    """The leader's recent segment starts, and how far its decisions reach."""

    def __init__(self, *, keep: int = 256) -> None:
        self._keep = keep
        self._boundaries: list[Boundary] = []
        self._times: list[float] = []
        self.frontier: float | None = None  # media time up to which every cut is decided
        self.target_duration = 0  # the leader's EXT-X-TARGETDURATION, once known
        self._listeners: list[Callable[[], None]] = []

    def add(self, boundary: Boundary) -> None:
        if self._times and boundary.pts < self._times[-1]:
            # Time never runs backwards on a stream's timeline; start over if it does.
            self._boundaries.clear()
            self._times.clear()
        self._boundaries.append(boundary)
        self._times.append(boundary.pts)
        if len(self._boundaries) > self._keep:
            del self._boundaries[: -self._keep]
            del self._times[: -self._keep]
        # No later cut can come before this one: everything up to it is decided.
        self.advance(boundary.pts)

    def advance(self, media_time: float) -> None:
        """The leader has decided every cut up to ``media_time``."""
        if self.frontier is None or media_time > self.frontier:
            self.frontier = media_time
            for listener in list(self._listeners):
                try:
                    listener()
                except Exception:
                    # A follower's failure must not reach the leader (the source rendition):
                    # that follower stops following, the stream goes on.
                    log.exception("a following rendition failed; it stops here")
                    self._listeners.remove(listener)

    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def latest_at(self, media_time: float) -> Boundary | None:
        """The last boundary at or before ``media_time``."""
        i = bisect.bisect_right(self._times, media_time)
        return self._boundaries[i - 1] if i else None

    def first(self) -> Boundary | None:
        return self._boundaries[0] if self._boundaries else None
