"""Where a moment of a live stream falls on its VOD's timeline (chat replay's clock).

**The two clocks.** A chat message's ``media_time`` is stamped by the server when it is sent:
seconds since the stream's hub started (``time.time() - hub.started_at``, app.py), so
``recording.started_at + media_time`` is the wall-clock moment it was sent (the recording's
``started_at`` is the hub's, and a stream that reconnects within the grace period, or is
restored after a graceful restart, keeps its hub's start and its recording). A recorded
segment carries its program date-time: the wall clock of its first frame (the packager
anchors it on the wall clock when a timeline's first keyframe arrives and counts media time
from there). The VOD's timeline, the one a player's ``currentTime`` runs on, is the sum of
its segments' durations in playlist order: position 0 is the first segment's start; each
publisher reconnect (a discontinuity) continues where the previous timeline ended.

**The mapping.** A wall-clock moment ``w`` inside segment ``i`` (``pdt_i <= w < pdt_i +
dur_i``) is at ``offset_i + (w - pdt_i)``, where ``offset_i`` is the summed duration of the
segments before ``i``. A moment between segments (the publisher was away, a reconnect; or
segments lost while storage was down) is at the end of the segment before it, which is
the start of the next one: chat sent while the stream was down replays just where the
picture comes back. Before the first segment is 0, after the last the VOD's end. Program
date-times never run backwards (the packager anchors a new timeline no earlier than the
previous one's end), so the mapping is non-decreasing and continuous, and the messages
whose VOD time lies in ``[a, b)`` are exactly those sent in ``[wall_from(a), wall_from(b))``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["VodTimeline"]


@dataclass(frozen=True, slots=True)
class VodTimeline:
    """A rendition's segments as ``(program date-time, duration)``, in playlist order."""

    starts: tuple[float, ...]  # wall clock of each segment's first frame
    offsets: tuple[float, ...]  # VOD time of each segment's start
    durations: tuple[float, ...]
    ends: tuple[float, ...]  # VOD time of each segment's end

    @classmethod
    def of(cls, segments: Iterable[tuple[float, float]]) -> VodTimeline:
        starts: list[float] = []
        offsets: list[float] = []
        durations: list[float] = []
        position = 0.0
        for pdt, duration in segments:
            # Never backwards (see the module's note); a stray row cannot break the order.
            starts.append(max(pdt, starts[-1] + durations[-1]) if starts else pdt)
            offsets.append(position)
            durations.append(max(0.0, duration))
            position += max(0.0, duration)
        ends = tuple(o + d for o, d in zip(offsets, durations, strict=True))
        return cls(tuple(starts), tuple(offsets), tuple(durations), ends)

    @property
    def duration(self) -> float:
        return self.ends[-1] if self.ends else 0.0

    def vod_time(self, wall: float) -> float:
        """The VOD position of wall-clock moment ``wall``."""
        i = bisect.bisect_right(self.starts, wall) - 1
        if i < 0:
            return 0.0
        return self.offsets[i] + min(max(0.0, wall - self.starts[i]), self.durations[i])

    def wall_from(self, position: float) -> float:
        """The first wall-clock moment whose VOD position is ``position`` or later:
        ``-inf`` for 0 or before, ``+inf`` past the end."""
        if position <= 0.0 or not self.offsets:
            return -math.inf if position <= 0.0 else math.inf
        if position > self.duration:
            return math.inf
        # The segment whose span (offset, offset + duration] holds the position.
        i = bisect.bisect_left(self.ends, position)
        return self.starts[i] + (position - self.offsets[i])
