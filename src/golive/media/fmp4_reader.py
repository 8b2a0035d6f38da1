"""Reading back fragmented MP4 (ISO/IEC 14496-12): the tracks of an init segment and the
sample counts of a media segment.

The writer is ``fmp4.py``; this is its reverse, for what a recording needs to describe its
variants once the live stream is gone: each track's codec string, picture size, timescale
and audio format from ``ftyp+moov`` (``init_tracks``), and how many samples over how many
ticks each track has in a segment's ``moof`` boxes (``fragment_samples``), for a frame rate.
Only the sample entries the writer makes (``avc1``, ``hvc1``, ``av01``, ``mp4a``) are
understood; other tracks are skipped. Malformed input raises :class:`Mp4FormatError` (a ValueError), never anything
else.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from golive.media.aac import AacConfigError, parse_asc
from golive.media.av1 import Av1ConfigError, parse_av1c
from golive.media.avc import AvcConfigError, parse_avcc
from golive.media.frame import Track, TrackKind
from golive.media.hevc import HevcConfigError, parse_hvcc

__all__ = ["Mp4FormatError", "SampleRun", "fragment_samples", "init_tracks"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

# Visual and audio sample entry bodies before their child boxes (14496-12 12.1.3, 12.2.3).
_VISUAL_ENTRY_HEADER = 78
_AUDIO_ENTRY_HEADER = 28

_TFHD_BASE_DATA_OFFSET = 0x01
_TFHD_SAMPLE_DESCRIPTION = 0x02
_TFHD_DEFAULT_DURATION = 0x08
_TRUN_DATA_OFFSET = 0x001
_TRUN_FIRST_FLAGS = 0x004
_TRUN_DURATION = 0x100
_TRUN_SIZE = 0x200
_TRUN_FLAGS = 0x400
_TRUN_CTS = 0x800


class Mp4FormatError(ValueError):
    """The bytes are not the fragmented MP4 this reader expects."""


@dataclass(frozen=True, slots=True)
class SampleRun:
    """One track's samples in a media segment: how many, and their summed duration in ticks."""

    count: int
    ticks: int


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        if end - pos < 8:
            raise Mp4FormatError(f"truncated box header at byte {pos}")
        size = _U32.unpack_from(data, pos)[0]
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            if end - pos < 16:
                raise Mp4FormatError(f"truncated large box header at byte {pos}")
            size = _U64.unpack_from(data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Mp4FormatError(f"box {kind!r} at byte {pos} has bad size {size}")
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, body, body_end in _boxes(data, start, end):
        if found == kind:
            return body, body_end
    return None


def _path(data: bytes, start: int, end: int, *kinds: bytes) -> tuple[int, int] | None:
    span: tuple[int, int] | None = (start, end)
    for kind in kinds:
        assert span is not None
        span = _child(data, span[0], span[1], kind)
        if span is None:
            return None
    return span


def _need(data: bytes, pos: int, count: int, end: int, what: str) -> None:
    if pos + count > end:
        raise Mp4FormatError(f"{what} is truncated")


def _id_and_timescale(data: bytes, trak: tuple[int, int]) -> tuple[int, int]:
    tkhd = _child(data, *trak, b"tkhd")
    mdhd = _path(data, *trak, b"mdia", b"mdhd")
    if tkhd is None or mdhd is None:
        raise Mp4FormatError("trak without tkhd or mdhd")
    skip = 16 if data[tkhd[0]] == 1 else 8  # creation and modification times
    _need(data, tkhd[0] + 4 + skip, 4, tkhd[1], "tkhd")
    track_id = _U32.unpack_from(data, tkhd[0] + 4 + skip)[0]
    skip = 16 if data[mdhd[0]] == 1 else 8
    _need(data, mdhd[0] + 4 + skip, 4, mdhd[1], "mdhd")
    timescale = _U32.unpack_from(data, mdhd[0] + 4 + skip)[0]
    return int(track_id), int(timescale)


def _descriptor(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, body start, body end) of the MPEG-4 descriptor at ``pos`` (14496-1 8.3.3)."""
    _need(data, pos, 2, end, "descriptor")
    tag = data[pos]
    pos += 1
    size = 0
    for _ in range(4):
        _need(data, pos, 1, end, "descriptor size")
        byte = data[pos]
        pos += 1
        size = (size << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    if pos + size > end:
        raise Mp4FormatError(f"descriptor {tag} overruns its box")
    return tag, pos, pos + size


def _audio_specific_config(data: bytes, esds: tuple[int, int]) -> bytes:
    tag, pos, end = _descriptor(data, esds[0] + 4, esds[1])
    if tag != 0x03:
        raise Mp4FormatError("esds without ES_Descriptor")
    _need(data, pos, 3, end, "ES_Descriptor")
    flags = data[pos + 2]
    pos += 3
    if flags & 0x80:
        pos += 2
    if flags & 0x40:
        _need(data, pos, 1, end, "ES_Descriptor URL")
        pos += 1 + data[pos]
    if flags & 0x20:
        pos += 2
    tag, pos, end = _descriptor(data, pos, end)
    if tag != 0x04:
        raise Mp4FormatError("esds without DecoderConfigDescriptor")
    pos += 13  # objectTypeIndication, streamType, bufferSizeDB, maxBitrate, avgBitrate
    tag, pos, end = _descriptor(data, pos, end)
    if tag != 0x05:
        raise Mp4FormatError("esds without DecoderSpecificInfo")
    return data[pos:end]


def _track(data: bytes, trak: tuple[int, int]) -> Track | None:
    track_id, timescale = _id_and_timescale(data, trak)
    stsd = _path(data, *trak, b"mdia", b"minf", b"stbl", b"stsd")
    if stsd is None:
        raise Mp4FormatError("trak without stsd")
    for kind, body, end in _boxes(data, stsd[0] + 8, stsd[1]):
        try:
            if kind == b"avc1":
                avcc = _child(data, body + _VISUAL_ENTRY_HEADER, end, b"avcC")
                if avcc is None:
                    raise Mp4FormatError("avc1 without avcC")
                config = data[avcc[0] : avcc[1]]
                avc = parse_avcc(config)
                return Track(
                    track_id,
                    TrackKind.VIDEO,
                    avc.codec,
                    timescale,
                    config,
                    width=avc.width,
                    height=avc.height,
                )
            if kind in (b"hvc1", b"av01"):
                box = b"hvcC" if kind == b"hvc1" else b"av1C"
                found = _child(data, body + _VISUAL_ENTRY_HEADER, end, box)
                if found is None:
                    raise Mp4FormatError(f"{kind.decode()} without {box.decode()}")
                config = data[found[0] : found[1]]
                # The picture size of the sample entry (the writer puts the SPS's there).
                _need(data, body, _VISUAL_ENTRY_HEADER, end, kind.decode())
                width, height = struct.unpack_from(">HH", data, body + 24)
                codec = (parse_hvcc(config) if kind == b"hvc1" else parse_av1c(config)).codec
                return Track(
                    track_id, TrackKind.VIDEO, codec, timescale, config, width=width, height=height
                )
            if kind == b"mp4a":
                esds = _child(data, body + _AUDIO_ENTRY_HEADER, end, b"esds")
                if esds is None:
                    raise Mp4FormatError("mp4a without esds")
                config = _audio_specific_config(data, esds)
                aac = parse_asc(config)
                return Track(
                    track_id,
                    TrackKind.AUDIO,
                    aac.codec,
                    timescale,
                    config,
                    sample_rate=aac.output_sample_rate,
                    channels=aac.channels,
                )
        except (AvcConfigError, HevcConfigError, Av1ConfigError, AacConfigError) as exc:
            raise Mp4FormatError(f"track {track_id}: {exc}") from exc
    return None


def init_tracks(data: bytes) -> list[Track]:
    """The avc1, hvc1, av01 and mp4a tracks of an init segment (``ftyp`` + ``moov``), in file order."""
    moov = _child(data, 0, len(data), b"moov")
    if moov is None:
        raise Mp4FormatError("no moov box")
    tracks = []
    for kind, body, end in _boxes(data, *moov):
        if kind == b"trak":
            track = _track(data, (body, end))
            if track is not None:
                tracks.append(track)
    return tracks


def _trun(data: bytes, body: int, end: int, default_duration: int) -> SampleRun:
    _need(data, body, 8, end, "trun")
    flags = _U32.unpack_from(data, body)[0] & 0xFFFFFF
    count = int(_U32.unpack_from(data, body + 4)[0])
    pos = body + 8
    pos += 4 if flags & _TRUN_DATA_OFFSET else 0
    pos += 4 if flags & _TRUN_FIRST_FLAGS else 0
    fields = sum(4 for bit in (_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_CTS) if flags & bit)
    _need(data, pos, count * fields, end, "trun samples")
    if not flags & _TRUN_DURATION:
        return SampleRun(count, count * default_duration)
    ticks = sum(_U32.unpack_from(data, pos + i * fields)[0] for i in range(count))
    return SampleRun(count, int(ticks))


def fragment_samples(data: bytes) -> dict[int, SampleRun]:
    """Per track id, the samples of every ``moof`` in a media segment (its parts included)."""
    out: dict[int, SampleRun] = {}
    for kind, body, end in _boxes(data):
        if kind != b"moof":
            continue
        for traf_kind, traf, traf_end in _boxes(data, body, end):
            if traf_kind != b"traf":
                continue
            tfhd = _child(data, traf, traf_end, b"tfhd")
            if tfhd is None:
                raise Mp4FormatError("traf without tfhd")
            _need(data, tfhd[0], 8, tfhd[1], "tfhd")
            tf_flags = _U32.unpack_from(data, tfhd[0])[0] & 0xFFFFFF
            track_id = int(_U32.unpack_from(data, tfhd[0] + 4)[0])
            pos = tfhd[0] + 8
            pos += 8 if tf_flags & _TFHD_BASE_DATA_OFFSET else 0
            pos += 4 if tf_flags & _TFHD_SAMPLE_DESCRIPTION else 0
            default_duration = 0
            if tf_flags & _TFHD_DEFAULT_DURATION:
                _need(data, pos, 4, tfhd[1], "tfhd default duration")
                default_duration = int(_U32.unpack_from(data, pos)[0])
            for run_kind, run, run_end in _boxes(data, traf, traf_end):
                if run_kind != b"trun":
                    continue
                got = _trun(data, run, run_end, default_duration)
                had = out.get(track_id, SampleRun(0, 0))
                out[track_id] = SampleRun(had.count + got.count, had.ticks + got.ticks)
    return out
