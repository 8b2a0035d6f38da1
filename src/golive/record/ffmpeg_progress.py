"""How far an ffmpeg run has got, from the ``key=value`` lines of ``-progress pipe:1``: pure.

ffmpeg writes a block of lines every half second or so, ending with ``progress=continue``
(``progress=end`` at the end); ``out_time_us`` is the output's media time in microseconds
(``N/A`` before the first packet; some versions write ``out_time_ms`` with the same value in
microseconds). The fraction done is that time over the input's known duration, clamped to
0..1 and never going back.
"""

from __future__ import annotations

__all__ = ["FfmpegProgress"]

_TIME_KEYS = ("out_time_us", "out_time_ms")


class FfmpegProgress:
    def __init__(self, duration: float) -> None:
        self._duration = duration
        self.fraction = 0.0
        self.ended = False

    def feed(self, line: str) -> bool:
        """Take one line; True if it moved ``fraction`` forward."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return False
        if key == "progress" and value == "end":
            self.ended = True
            return False
        if key not in _TIME_KEYS or self._duration <= 0:
            return False
        try:
            seconds = int(value) / 1_000_000
        except ValueError:  # N/A
            return False
        fraction = min(1.0, max(0.0, seconds / self._duration))
        if fraction <= self.fraction:
            return False
        self.fraction = fraction
        return True
