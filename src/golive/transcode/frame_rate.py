"""The source's frame rate, estimated from its decode times, for the encoder's rate control.

golive's child reads FLV on a pipe, where nothing says how many frames a second come. Told
nothing, ffmpeg hands libx264 a rate of 1000 frames a second (the output time base), and its
rate control then spends about half the rung's bitrate (1.5 instead of 3 Mb/s measured at
720p): the renditions look worse than configured. The child's FLV therefore starts with an
``onMetaData`` whose ``framerate`` comes from here.
"""

from __future__ import annotations

from collections import deque
from statistics import median

__all__ = ["FrameRateEstimate"]

_DELTAS = 16  # recent frame intervals; the median ignores a stall or a burst among them


class FrameRateEstimate:
    """Frames per second from the intervals between consecutive decode times."""

    __slots__ = ("_deltas", "_last", "_timescale")

    def __init__(self) -> None:
        self._deltas: deque[int] = deque(maxlen=_DELTAS)
        self._last: int | None = None
        self._timescale = 0

    def add(self, dts: int, timescale: int) -> None:
        last = self._last
        self._last = dts
        if timescale != self._timescale:
            self._timescale = timescale
            self._deltas.clear()
        elif last is not None and dts > last:
            self._deltas.append(dts - last)

    @property
    def fps(self) -> float | None:
        """The rate, once two intervals are known (None before)."""
        if len(self._deltas) < 2:
            return None
        return self._timescale / median(self._deltas)
