"""MSB-first bit reading for codec configuration records (SPS, AudioSpecificConfig)."""

from __future__ import annotations


class BitReader:
    """Reads big-endian bit fields; running past the end raises ``error(truncated_message)``.

    The whole record becomes one int, so reading a field is a shift and a mask: these
    records are tens of bytes long and parsed once per stream.
    """

    __slots__ = ("_bits", "_error", "_message", "_pos", "_value")

    def __init__(self, data: bytes, error: type[ValueError], truncated_message: str) -> None:
        self._value = int.from_bytes(data, "big")
        self._bits = len(data) * 8
        self._pos = 0
        self._error = error
        self._message = truncated_message

    def u(self, n: int) -> int:
        end = self._pos + n
        if end > self._bits:
            raise self._error(self._message)
        self._pos = end
        return (self._value >> (self._bits - end)) & ((1 << n) - 1)

    def flag(self) -> bool:
        return self.u(1) == 1

    def ue(self) -> int:
        """Unsigned exp-Golomb code (H.264 9.1)."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise self._error("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Signed exp-Golomb code (H.264 9.1.1)."""
        k = self.ue()
        return (k + 1) >> 1 if k & 1 else -(k >> 1)
