"""An FLV byte stream, fed in pieces, split into tags (sans-I/O).

The transcoder reads each rendition back from ffmpeg as FLV on a pipe; bytes arrive in
arbitrary pieces. :class:`FlvTagReader` is fed them and returns whole tags, whose bodies are
what :class:`golive.media.flv.FlvDemuxer` takes (the same bodies RTMP carries).
"""

from __future__ import annotations

from dataclasses import dataclass

from golive.media.flv import FlvFormatError

__all__ = ["FlvTag", "FlvTagReader"]

_HEADER_SIZE = 9
_TAG_HEADER_SIZE = 11
_BACK_POINTER = 4


@dataclass(frozen=True, slots=True)
class FlvTag:
    """One FLV tag: its type (8 audio, 9 video, 18 script data), timestamp and body."""

    type: int
    timestamp_ms: int
    body: bytes


class FlvTagReader:
    """Incremental FLV file parser: :meth:`feed` bytes, get the tags they complete."""

    __slots__ = ("_buffer", "_header_done", "_max_tag_size")

    def __init__(self, *, max_tag_size: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._header_done = False
        self._max_tag_size = max_tag_size

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete tag."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[FlvTag]:
        """Add bytes; return every tag now complete. Raises FlvFormatError on garbage."""
        buf = self._buffer
        buf += data
        pos = 0
        if not self._header_done:
            if len(buf) < _HEADER_SIZE:
                if buf[:3] != b"FLV"[: len(buf)]:
                    raise FlvFormatError("not an FLV stream (no FLV signature)")
                return []
            if buf[:3] != b"FLV":
                raise FlvFormatError("not an FLV stream (no FLV signature)")
            header_size = int.from_bytes(buf[5:9], "big")
            if header_size < _HEADER_SIZE:
                raise FlvFormatError(f"FLV header size {header_size} is below 9")
            if len(buf) < header_size + _BACK_POINTER:
                return []
            pos = header_size + _BACK_POINTER
            self._header_done = True
        tags: list[FlvTag] = []
        n = len(buf)
        while pos + _TAG_HEADER_SIZE <= n:
            size = int.from_bytes(buf[pos + 1 : pos + 4], "big")
            if size > self._max_tag_size:
                raise FlvFormatError(f"FLV tag of {size} bytes exceeds the limit")
            end = pos + _TAG_HEADER_SIZE + size
            if end + _BACK_POINTER > n:
                break
            timestamp = int.from_bytes(buf[pos + 4 : pos + 7], "big") | (buf[pos + 7] << 24)
            tags.append(
                FlvTag(buf[pos] & 0x1F, timestamp, bytes(buf[pos + _TAG_HEADER_SIZE : end]))
            )
            pos = end + _BACK_POINTER
        if pos:
            del buf[:pos]
        return tags
