"""The two types every layer below ingest speaks: Track and Frame."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TrackKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


# Conventional track ids: ingest protocols with one video and one audio track use these,
# so that a packager can keep the same ids in its init segment.
VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2

VIDEO_TIMESCALE = 90_000


@dataclass(frozen=True, slots=True)
class Track:
    """One elementary stream of a live stream, with what a decoder needs to start.

    ``codec`` is the RFC 6381 string (``avc1.64001f``, ``mp4a.40.2``) used in HLS CODECS and
    DASH; ``config`` is the codec configuration record as it goes into the sample entry
    (AVCDecoderConfigurationRecord for ``avc1``, AudioSpecificConfig for ``mp4a``).
    """

    id: int
    kind: TrackKind
    codec: str
    timescale: int
    config: bytes
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0

    @property
    def sample_entry(self) -> str:
        """The four-character sample entry type (``avc1``, ``mp4a``)."""
        return self.codec.split(".", 1)[0]


@dataclass(slots=True)
class Frame:
    """One access unit of one track.

    ``dts`` and ``pts`` are integers in the track's timescale. For AVC the payload is in the
    length-prefixed form of the track's avcC (as FLV and ISO BMFF carry it); for AAC it is one
    raw access unit without ADTS header.
    """

    track_id: int
    dts: int
    pts: int
    keyframe: bool
    data: bytes
