"""Annex-B byte streams <-> length-prefixed NAL units (H.264 annex B, 14496-15 5.3.2).

MPEG-TS (and raw ``.h264``/``.hevc`` files) carry video as an Annex-B byte stream: NAL units
separated by ``00 00 01`` / ``00 00 00 01`` start codes. ISO BMFF and FLV carry each access unit
as NAL units each preceded by its big-endian length. Both H.264 and HEVC use the same framing,
and emulation prevention guarantees that ``00 00 01`` never occurs inside a NAL unit, so
splitting is a plain search. The functions here only frame; they never look inside a NAL unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

__all__ = ["Buffer", "split_annexb", "to_annexb", "to_length_prefixed"]

Buffer: TypeAlias = bytes | bytearray | memoryview

_START = b"\x00\x00\x01"


def split_annexb(
    data: bytes | bytearray, start: int = 0, end: int | None = None
) -> list[memoryview]:
    """The NAL units of an Annex-B byte stream in ``data[start:end]``, as views (no copy).

    Bytes before the first start code are ignored. Zero bytes just before a start code (the
    ``zero_byte`` of a four-byte start code, or ``trailing_zero_8bits``) are not part of the
    NAL unit: a NAL unit never ends in 0x00 (H.264 7.4.1, H.265 7.4.2). Empty units are
    skipped.
    """
    view = memoryview(data)
    stop = len(data) if end is None else min(end, len(data))
    out: list[memoryview] = []
    find = data.find
    i = find(_START, start, stop)
    while i >= 0:
        first = i + 3
        j = find(_START, first, stop)
        last = stop if j < 0 else j
        while last > first and data[last - 1] == 0:
            last -= 1
        if last > first:
            out.append(view[first:last])
        i = j
    return out


def to_length_prefixed(nal_units: Iterable[Buffer], length_size: int = 4) -> bytes:
    """Join NAL units, each preceded by its length in ``length_size`` big-endian bytes."""
    if length_size not in (1, 2, 4):
        raise ValueError(f"NAL length size must be 1, 2 or 4, not {length_size}")
    limit = 1 << (8 * length_size)
    parts: list[Buffer] = []
    for nal in nal_units:
        size = len(nal)
        if size >= limit:
            raise ValueError(f"NAL unit of {size} bytes does not fit a {length_size}-byte length")
        parts.append(size.to_bytes(length_size, "big"))
        parts.append(nal)
    return b"".join(parts)


def to_annexb(data: Buffer, length_size: int = 4) -> bytes:
    """Turn a length-prefixed access unit back into an Annex-B byte stream (4-byte codes).

    Raises ValueError when a length runs past the end of ``data``.
    """
    if length_size not in (1, 2, 4):
        raise ValueError(f"NAL length size must be 1, 2 or 4, not {length_size}")
    view = memoryview(data)
    parts: list[Buffer] = []
    pos = 0
    n = len(view)
    while pos < n:
        if pos + length_size > n:
            raise ValueError(f"truncated NAL length at offset {pos}")
        size = int.from_bytes(view[pos : pos + length_size], "big")
        pos += length_size
        if pos + size > n:
            raise ValueError(f"NAL unit of {size} bytes at offset {pos} runs past the end")
        if size:
            parts.append(b"\x00\x00\x00\x01")
            parts.append(view[pos : pos + size])
        pos += size
    return b"".join(parts)
