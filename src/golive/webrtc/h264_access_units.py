"""Length-prefixed H.264 access units as the NAL units an RTP packetizer sends.

FLV and ISO BMFF keep SPS and PPS out of band, in the avcC; an RTP receiver has no avcC, so
every keyframe is sent with the parameter sets in front of it (RFC 6184 lets them travel
in-band), which also lets a viewer start at any keyframe. Pure: bytes in, bytes out.
"""

from __future__ import annotations

from golive.media.annexb import Buffer
from golive.media.avc import NAL_SPS, parse_avcc

__all__ = ["AccessUnits"]


class AccessUnits:
    """Splits one video track's frames (its avcC given) into NAL units."""

    def __init__(self, avcc: bytes) -> None:
        config = parse_avcc(avcc)
        self._length_size = config.nal_length_size
        self._sets = [bytes(nal) for nal in (*config.sps, *config.pps)]

    def nal_units(self, payload: bytes, *, keyframe: bool) -> list[Buffer]:
        """The access unit's NAL units (views, no copy); a keyframe gets the SPS and PPS
        first unless it has its own. ValueError when a length runs past the end."""
        size = self._length_size
        view = memoryview(payload)
        out: list[Buffer] = []
        if keyframe and not _starts_with_sps(payload, size):
            out.extend(self._sets)
        pos, end = 0, len(payload)
        while pos < end:
            if pos + size > end:
                raise ValueError(f"truncated NAL length at offset {pos}")
            length = int.from_bytes(view[pos : pos + size], "big")
            pos += size
            if pos + length > end:
                raise ValueError(f"NAL unit of {length} bytes at offset {pos} runs past the end")
            if length:
                out.append(view[pos : pos + length])
            pos += length
        return out


def _starts_with_sps(payload: bytes, length_size: int) -> bool:
    # Encoders that repeat parameter sets put them first, after an optional AUD (type 9).
    pos = 0
    for _ in range(2):
        if pos + length_size >= len(payload):
            return False
        size = int.from_bytes(payload[pos : pos + length_size], "big")
        kind = payload[pos + length_size] & 0x1F
        if kind == NAL_SPS:
            return True
        if kind != 9:
            return False
        pos += length_size + size
    return False
