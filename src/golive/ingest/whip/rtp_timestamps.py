"""RTP timestamps (32 bits, RFC 3550 5.1) extended to a count that does not wrap."""

from __future__ import annotations

__all__ = ["RtpTimestamps"]

_WRAP = 1 << 32
_HALF = 1 << 31


class RtpTimestamps:
    """Extends each 32-bit timestamp to the value nearest the previous one.

    The first timestamp is kept as given; later ones are placed within half the range of the
    last, so a wrap counts forward and a slightly late (reordered) frame stays behind.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: int | None = None

    def extend(self, timestamp: int) -> int:
        raw = timestamp & (_WRAP - 1)
        last = self._last
        if last is None:
            self._last = raw
            return raw
        delta = (raw - last) & (_WRAP - 1)
        if delta >= _HALF:
            delta -= _WRAP
        value = last + delta
        self._last = value
        return value
