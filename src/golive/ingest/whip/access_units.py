"""Depacketized H.264 access units (Annex B, RFC 6184 reassembled) -> Track and Frame.

WebRTC carries H.264 without B-frames (RTP timestamps are presentation times, and the
WebRTC profiles have no reordering), so a frame's decode time is its presentation time.
Parameter sets come in band, before each IDR: each new SPS or PPS makes a new avcC Track
(the packager starts a new init segment), and the parameter sets leave the frame's payload
(they live in the Track). Keyframe means the access unit holds an IDR slice.

Sans-I/O: fed bytes and a timestamp, returns Tracks, Frames and problems to log.
"""

from __future__ import annotations

from dataclasses import dataclass

from golive.media.annexb import split_annexb
from golive.media.avc import AvcConfigError, parse_sps
from golive.media.bit_reader import BitReader
from golive.media.flv import UnsupportedCodecError, check_avc
from golive.media.frame import VIDEO_TIMESCALE, VIDEO_TRACK_ID, Frame, Track, TrackKind
from golive.media.mpegts import build_avcc

__all__ = ["H264AccessUnits", "VideoProblem"]

_NAL_IDR = 5
_NAL_SPS = 7
_NAL_PPS = 8
_NAL_AUD = 9
_NAL_FILLER = 12
_MAX_PPS = 32  # distinct pic_parameter_set_ids kept (H.264 allows 256; encoders use few)


@dataclass(frozen=True, slots=True)
class VideoProblem:
    """Something in the video the publisher should hear about (logged, not fatal)."""

    message: str


class H264AccessUnits:
    """Turns one publisher's H.264 access units into a Track (per parameter set change) and
    Frames with length-prefixed payloads."""

    __slots__ = ("_dirty", "_pps", "_sps", "_track", "dropped")

    def __init__(self, sprop: tuple[bytes, ...] = ()) -> None:
        """``sprop``: parameter sets from the SDP (``sprop-parameter-sets``), if any."""
        self._sps: bytes | None = None
        self._pps: dict[int, bytes] = {}
        self._track: Track | None = None
        self._dirty = False
        self.dropped = 0  # access units before any usable parameter sets
        for nal in sprop:
            self._parameter_set(nal)

    @property
    def track(self) -> Track | None:
        return self._track

    def push(self, annexb: bytes, timestamp: int) -> list[Track | Frame | VideoProblem]:
        """One access unit; ``timestamp`` in 90 kHz ticks on the stream's timeline."""
        out: list[Track | Frame | VideoProblem] = []
        parts: list[bytes | memoryview] = []
        keyframe = False
        for nal in split_annexb(annexb):
            nal_type = nal[0] & 0x1F
            if nal_type in (_NAL_SPS, _NAL_PPS):
                if (problem := self._parameter_set(bytes(nal))) is not None:
                    out.append(problem)
            elif nal_type not in (_NAL_AUD, _NAL_FILLER):
                keyframe |= nal_type == _NAL_IDR
                parts.append(len(nal).to_bytes(4, "big"))
                parts.append(nal)
        if self._dirty:
            self._dirty = False
            try:
                track = self._new_track()
            except (AvcConfigError, UnsupportedCodecError) as exc:
                out.append(VideoProblem(f"H.264 parameter sets refused: {exc}"))
            else:
                if track is not None:
                    self._track = track
                    out.append(track)
        if not parts:
            return out
        if self._track is None:
            self.dropped += 1
            return out
        out.append(Frame(VIDEO_TRACK_ID, timestamp, timestamp, keyframe, b"".join(parts)))
        return out

    def _parameter_set(self, nal: bytes) -> VideoProblem | None:
        if len(nal) < 2:
            return VideoProblem("empty H.264 parameter set ignored")
        if nal[0] & 0x1F == _NAL_SPS:
            if len(nal) < 4:
                return VideoProblem("truncated H.264 SPS ignored")
            if nal != self._sps:
                self._sps = nal
                self._pps = {}  # PPS refer to the SPS: the new one's come after it
                self._dirty = True
            return None
        try:
            pps_id = BitReader(nal[1:], AvcConfigError, "PPS truncated").ue()
        except AvcConfigError as exc:
            return VideoProblem(f"bad H.264 PPS ignored: {exc}")
        if self._pps.get(pps_id) != nal:
            if pps_id not in self._pps and len(self._pps) >= _MAX_PPS:
                return VideoProblem(f"more than {_MAX_PPS} H.264 PPS: PPS {pps_id} ignored")
            self._pps[pps_id] = nal
            self._dirty = True
        return None

    def _new_track(self) -> Track | None:
        sps = self._sps
        if sps is None or not self._pps:
            return None
        avcc = build_avcc(sps, list(self._pps.values()))
        if self._track is not None and self._track.config == avcc:
            return None
        info = parse_sps(sps)
        check_avc(info.profile_idc, info.level_idc, info.width, info.height)
        return Track(
            id=VIDEO_TRACK_ID,
            kind=TrackKind.VIDEO,
            codec=f"avc1.{sps[1]:02x}{sps[2]:02x}{sps[3]:02x}",
            timescale=VIDEO_TIMESCALE,
            config=avcc,
            width=info.width,
            height=info.height,
        )
