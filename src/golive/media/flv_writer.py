"""Tracks and Frames to an FLV byte stream (FLV v10: file header, tags, back-pointers).

The transcoder writes a live stream into an ffmpeg child this way. FLV is the natural
container for that pipe: RTMP carries FLV tag bodies, so every Frame maps to one tag
without conversion (AVC stays length-prefixed, AAC stays raw), the codec configuration goes
in as sequence headers straight from ``Track.config``, and ffmpeg demuxes it with no
probing delay. Timestamps are whole milliseconds, as in RTMP.

HEVC (``hvc1``) and AV1 (``av01``) tracks are written with enhanced-RTMP video tag headers
(the FourCC after a first byte with the IsExHeader bit), which ffmpeg's FLV demuxer reads.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from golive.media.amf0 import EcmaArray, encode
from golive.media.frame import Frame, Track, TrackKind

__all__ = ["FlvMuxer", "flv_file_header", "metadata_tag"]

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18

_TAG_HEADER = struct.Struct(">B3s3sB3s")
_U32 = struct.Struct(">I")

# Video tag header, first byte: frame type << 4 | codec id (7 = AVC).
_AVC_KEYFRAME = 0x17
_AVC_INTERFRAME = 0x27
_AVC_SEQUENCE_HEADER = 0
_AVC_NALU = 1
# Audio tag header, first byte: AAC (10) << 4 | 44 kHz (3) << 2 | 16 bit << 1 | stereo. For AAC
# the rate and channel bits are fixed by the spec; the AudioSpecificConfig is authoritative.
_AAC_HEADER = 0xAF
_AAC_SEQUENCE_HEADER = 0
_AAC_RAW = 1

_MAX_TIMESTAMP = (1 << 31) - 1  # FLV timestamps are SI32 milliseconds

# Enhanced RTMP video tag header, first byte: IsExHeader | frame type << 4 | VideoPacketType.
_EX_HEADER = 0x80
_FRAME_KEY = 1 << 4
_FRAME_INTER = 2 << 4
_PKT_SEQUENCE_START = 0
_PKT_CODED_FRAMES = 1  # with an SI24 composition time offset for hvc1
_ENHANCED_VIDEO = frozenset({"hvc1", "av01"})
_WRITABLE = frozenset({"avc1", "mp4a"}) | _ENHANCED_VIDEO


def flv_file_header(*, video: bool, audio: bool) -> bytes:
    """The 9-byte FLV header and the zero PreviousTagSize0 that follows it."""
    flags = (0x04 if audio else 0) | (0x01 if video else 0)
    return b"FLV\x01" + bytes([flags]) + _U32.pack(9) + _U32.pack(0)


def metadata_tag(track: Track, framerate: float | None) -> bytes:
    """An ``onMetaData`` script tag (timestamp 0) describing a video track.

    ffmpeg's FLV demuxer takes the stream's frame rate from ``framerate``; without it an
    encoder reading the stream is told none (see ``transcode/frame_rate.py``).
    """
    values = EcmaArray(width=float(track.width), height=float(track.height))
    entry = track.sample_entry
    # Enhanced RTMP puts the FourCC, as a number, where the legacy codec id goes.
    codec_id = int.from_bytes(entry.encode("ascii"), "big") if entry in _ENHANCED_VIDEO else 7
    values["videocodecid"] = float(codec_id)
    if framerate:
        values["framerate"] = float(framerate)
    return _tag(TAG_SCRIPT, 0, encode("onMetaData", values))


def _tag(tag_type: int, timestamp_ms: int, body: bytes) -> bytes:
    size = len(body)
    if size >= 1 << 24:
        raise ValueError(f"FLV tag body of {size} bytes does not fit 24 bits")
    ts = min(max(timestamp_ms, 0), _MAX_TIMESTAMP)
    header = _TAG_HEADER.pack(
        tag_type,
        size.to_bytes(3, "big"),
        (ts & 0xFFFFFF).to_bytes(3, "big"),
        ts >> 24,
        b"\x00\x00\x00",
    )
    return header + body + _U32.pack(11 + size)


class FlvMuxer:
    """Writes the tags of one live stream: sequence headers, then one tag per Frame.

    H.264 (``avc1``), HEVC (``hvc1``), AV1 (``av01``) and AAC (``mp4a``) tracks can be
    written; frames of other tracks are refused with ValueError by :meth:`tag`, and
    :meth:`set_tracks` ignores such tracks.
    """

    __slots__ = ("_tracks",)

    def __init__(self) -> None:
        self._tracks: dict[int, Track] = {}

    def set_tracks(self, tracks: Sequence[Track]) -> bytes:
        """Remember the tracks and return their sequence header tags (timestamp 0)."""
        self._tracks = {t.id: t for t in tracks if t.sample_entry in _WRITABLE}
        return b"".join(self.sequence_header(t) for t in self._tracks.values())

    def sequence_header(self, track: Track, timestamp_ms: int = 0) -> bytes:
        """The video or AAC sequence header tag carrying ``track.config``."""
        if track.kind is TrackKind.VIDEO and track.sample_entry in _ENHANCED_VIDEO:
            first = _EX_HEADER | _FRAME_KEY | _PKT_SEQUENCE_START
            body = bytes([first]) + track.sample_entry.encode("ascii") + track.config
            return _tag(TAG_VIDEO, timestamp_ms, body)
        if track.kind is TrackKind.VIDEO:
            body = bytes([_AVC_KEYFRAME, _AVC_SEQUENCE_HEADER, 0, 0, 0]) + track.config
            return _tag(TAG_VIDEO, timestamp_ms, body)
        body = bytes([_AAC_HEADER, _AAC_SEQUENCE_HEADER]) + track.config
        return _tag(TAG_AUDIO, timestamp_ms, body)

    def tag(self, frame: Frame) -> bytes:
        """One FLV tag for ``frame``; dts and pts are rounded to milliseconds."""
        track = self._tracks.get(frame.track_id)
        if track is None:
            raise ValueError(f"frame of unknown or unsupported track {frame.track_id}")
        scale = track.timescale
        dts_ms = (frame.dts * 1000 + scale // 2) // scale
        if track.kind is TrackKind.VIDEO:
            pts_ms = (frame.pts * 1000 + scale // 2) // scale
            cts = pts_ms - dts_ms
            if not -(1 << 23) <= cts < 1 << 23:
                raise ValueError(f"composition offset {cts} ms does not fit SI24")
            entry = track.sample_entry
            if entry in _ENHANCED_VIDEO:
                first = _EX_HEADER | _PKT_CODED_FRAMES
                first |= _FRAME_KEY if frame.keyframe else _FRAME_INTER
                head = bytes([first]) + entry.encode("ascii")
                if entry == "hvc1":
                    head += (cts & 0xFFFFFF).to_bytes(3, "big")
                # av01 CodedFrames carry no composition offset: AV1 has no reordering in
                # its samples (each temporal unit is shown when decoded, or not at all).
                return _tag(TAG_VIDEO, dts_ms, head + frame.data)
            body = (
                bytes(
                    [
                        _AVC_KEYFRAME if frame.keyframe else _AVC_INTERFRAME,
                        _AVC_NALU,
                    ]
                )
                + (cts & 0xFFFFFF).to_bytes(3, "big")
                + frame.data
            )
            return _tag(TAG_VIDEO, dts_ms, body)
        return _tag(TAG_AUDIO, dts_ms, bytes([_AAC_HEADER, _AAC_RAW]) + frame.data)
