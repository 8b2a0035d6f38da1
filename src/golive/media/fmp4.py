"""CMAF fragmented MP4 writer (ISO/IEC 14496-12, 14496-15, 14496-14, 23000-19, AV1-ISOBMFF).

Video tracks are H.264 (``avc1`` + ``avcC``), HEVC (``hvc1`` + ``hvcC``) or AV1 (``av01`` +
``av1C``); audio is AAC (``mp4a`` + ``esds``).

``init_segment`` writes ftyp+moov for a set of tracks; ``media_fragment`` writes one moof+mdat
holding a run of samples per track. An init segment followed by fragments with increasing
sequence numbers is a valid fragmented MP4 file, and each piece is a valid CMAF
header/chunk for HLS and DASH.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from golive.media.frame import Frame, Track, TrackKind

__all__ = ["TrackRun", "init_segment", "media_fragment"]

_U32 = struct.Struct(">I")
_BOX_HEADER = struct.Struct(">I4s")
_FULL_BOX_HEADER = struct.Struct(">I4sI")

_UNITY_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
_LANGUAGE_UND = ((ord("u") - 0x60) << 10) | ((ord("n") - 0x60) << 5) | (ord("d") - 0x60)

# trun flags: data-offset, then per-sample duration, size, flags, composition offset.
_TRUN_DATA_OFFSET = 0x000001
_TRUN_DURATION = 0x000100
_TRUN_SIZE = 0x000200
_TRUN_FLAGS = 0x000400
_TRUN_CTS = 0x000800
_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000

# Sample flags (14496-12 8.8.3.1): sample_depends_on=2 (depends on nothing) for sync
# samples; depends_on=1 plus sample_is_non_sync_sample for the rest.
_SYNC_FLAGS = 0x02000000
_NON_SYNC_FLAGS = 0x01010000

_MFHD_SIZE = 16
_TFHD_SIZE = 16
_TFDT_SIZE = 20
_TRUN_FIXED_SIZE = 20  # header, version/flags, sample_count, data_offset


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return _BOX_HEADER.pack(8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return _FULL_BOX_HEADER.pack(12 + len(body), kind, (version << 24) | flags) + body


# -- init segment ----------------------------------------------------------------------


def init_segment(tracks: Sequence[Track]) -> bytes:
    """ftyp + moov describing ``tracks``, with an mvex so that the file is fragmented."""
    if not tracks:
        raise ValueError("an init segment needs at least one track")
    ids = [t.id for t in tracks]
    if len(set(ids)) != len(ids) or min(ids) < 1:
        raise ValueError(f"track ids must be distinct and positive, got {ids}")
    # cmfc is the CMAF structural brand; iso6 covers tfdt v1 and trun v1.
    brands = [b"iso6", b"cmfc", b"mp41"]
    if any(t.sample_entry == "av01" for t in tracks):
        brands.append(b"av01")  # AV1-ISOBMFF 2.1: files with AV1 tracks list the av01 brand
    ftyp = _box(b"ftyp", b"iso6", _U32.pack(0), *brands)
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, 0),  # times, timescale, duration (unknown: live)
        struct.pack(">IHH8x", 0x00010000, 0x0100, 0),  # rate 1.0, volume 1.0
        _UNITY_MATRIX,
        bytes(24),  # pre_defined
        _U32.pack(max(ids) + 1),  # next_track_ID
    )
    traks = [_trak(t) for t in tracks]
    trexs = [_full_box(b"trex", 0, 0, struct.pack(">IIIII", t.id, 1, 0, 0, 0)) for t in tracks]
    moov = _box(b"moov", mvhd, *traks, _box(b"mvex", *trexs))
    return ftyp + moov


def _trak(track: Track) -> bytes:
    video = track.kind is TrackKind.VIDEO
    if track.timescale <= 0:
        raise ValueError(f"track {track.id} has timescale {track.timescale}")
    tkhd = _full_box(
        b"tkhd",
        0,
        0x000003,  # track_enabled | track_in_movie
        struct.pack(">IIIII", 0, 0, track.id, 0, 0),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0 if video else 0x0100, 0),  # layer, group, volume
        _UNITY_MATRIX,
        struct.pack(
            ">II", (track.width if video else 0) << 16, (track.height if video else 0) << 16
        ),
    )
    mdhd = _full_box(
        b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, track.timescale, 0, _LANGUAGE_UND, 0)
    )
    handler, name = (b"vide", b"VideoHandler") if video else (b"soun", b"SoundHandler")
    hdlr = _full_box(b"hdlr", 0, 0, _U32.pack(0), handler, bytes(12), name, b"\x00")
    media_header = (
        _full_box(b"vmhd", 0, 1, bytes(8)) if video else _full_box(b"smhd", 0, 0, bytes(4))
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, _U32.pack(1), _full_box(b"url ", 0, 1)))
    entry = _visual_entry(track) if video else _mp4a_entry(track)
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, _U32.pack(1), entry),
        # Fragmented: every sample lives in moof/mdat, so the sample tables are empty.
        _full_box(b"stts", 0, 0, _U32.pack(0)),
        _full_box(b"stsc", 0, 0, _U32.pack(0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, _U32.pack(0)),
    )
    minf = _box(b"minf", media_header, dinf, stbl)
    return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))


# Video sample entry types and the box that carries each one's configuration record.
_VIDEO_CONFIG_BOXES = {"avc1": b"avcC", "hvc1": b"hvcC", "av01": b"av1C"}


def _visual_entry(track: Track) -> bytes:
    """A VisualSampleEntry (14496-12 12.1.3) of type avc1, hvc1 or av01 with its config box."""
    entry = track.sample_entry
    config_box = _VIDEO_CONFIG_BOXES.get(entry)
    if config_box is None:
        raise ValueError(
            f"video track {track.id} has codec {track.codec!r}; only "
            f"{', '.join(_VIDEO_CONFIG_BOXES)} are supported"
        )
    return _box(
        entry.encode("ascii"),
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),  # pre_defined, reserved, pre_defined[3]
        struct.pack(">HH", track.width, track.height),
        struct.pack(">III", 0x00480000, 0x00480000, 0),  # 72 dpi, reserved
        struct.pack(">H", 1),  # frame_count
        bytes(32),  # compressorname
        struct.pack(">Hh", 0x0018, -1),  # depth, pre_defined
        _box(config_box, track.config),
    )


def _mp4a_entry(track: Track) -> bytes:
    if track.sample_entry != "mp4a":
        raise ValueError(
            f"audio track {track.id} has codec {track.codec!r}; only mp4a is supported"
        )
    rate = track.sample_rate or track.timescale
    return _box(
        b"mp4a",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(8),
        struct.pack(">HHHH", track.channels or 2, 16, 0, 0),
        # 16.16 fixed point; rates above 65535 Hz do not fit and the ASC is authoritative.
        _U32.pack(rate << 16 if rate < 0x10000 else 0),
        _esds(track),
    )


def _descriptor(tag: int, *payload: bytes) -> bytes:
    body = b"".join(payload)
    size = len(body)
    # Expandable size (14496-1 8.3.3): 7 bits per byte, high bit set on all but the last.
    size_bytes = bytearray([size & 0x7F])
    size >>= 7
    while size:
        size_bytes.insert(0, 0x80 | (size & 0x7F))
        size >>= 7
    return bytes([tag]) + bytes(size_bytes) + body


def _esds(track: Track) -> bytes:
    decoder_config = _descriptor(
        0x04,  # DecoderConfigDescriptor
        # objectTypeIndication 0x40 = 14496-3 audio; streamType 5 (audio) << 2 | reserved 1.
        struct.pack(">BB", 0x40, 0x15),
        bytes(3 + 4 + 4),  # bufferSizeDB, maxBitrate, avgBitrate: unknown for live input
        _descriptor(0x05, track.config),  # DecoderSpecificInfo = AudioSpecificConfig
    )
    es = _descriptor(
        0x03,  # ES_Descriptor
        struct.pack(">HB", track.id & 0xFFFF, 0),
        decoder_config,
        _descriptor(0x06, b"\x02"),  # SLConfigDescriptor, predefined = MP4
    )
    return _full_box(b"esds", 0, 0, es)


# -- media fragments -------------------------------------------------------------------


@dataclass(slots=True)
class TrackRun:
    """The samples of one track in one fragment, with their durations.

    ``base_decode_time`` is the decode time of the first frame in the track timescale
    (normally ``frames[0].dts``); ``durations`` holds one duration per frame. A frame's
    ``keyframe`` flag decides whether it is a sync sample, so audio frames should all be
    keyframes (the FLV demuxer produces them that way).
    """

    track_id: int
    base_decode_time: int
    frames: Sequence[Frame]
    durations: Sequence[int]


def media_fragment(sequence_number: int, runs: Sequence[TrackRun]) -> bytes:
    """One moof (a traf per non-empty run) followed by one mdat with all runs' samples."""
    runs = [r for r in runs if r.frames]
    if not runs:
        raise ValueError("a media fragment needs at least one sample")

    # Sizes are fixed by sample counts, so the moof size (and with it every data_offset) is
    # known before any box is built.
    with_cts = [any(f.pts != f.dts for f in r.frames) for r in runs]
    moof_size = 8 + _MFHD_SIZE
    for run, cts in zip(runs, with_cts, strict=True):
        moof_size += 8 + _TFHD_SIZE + _TFDT_SIZE + _TRUN_FIXED_SIZE
        moof_size += len(run.frames) * (16 if cts else 12)
    payload: list[bytes] = []
    for run in runs:
        payload.extend(f.data for f in run.frames)
    mdat_size = 8 + sum(len(p) for p in payload)
    large_mdat = mdat_size > 0xFFFFFFFF
    mdat_header = (
        struct.pack(">I4sQ", 1, b"mdat", mdat_size + 8)
        if large_mdat
        else _BOX_HEADER.pack(mdat_size, b"mdat")
    )

    parts = [
        _BOX_HEADER.pack(moof_size, b"moof"),
        _FULL_BOX_HEADER.pack(_MFHD_SIZE, b"mfhd", 0),
        _U32.pack(sequence_number),
    ]
    data_offset = moof_size + len(mdat_header)
    for run, cts in zip(runs, with_cts, strict=True):
        frames = run.frames
        durations = run.durations
        count = len(frames)
        if len(durations) != count:
            raise ValueError(f"track {run.track_id}: {count} frames but {len(durations)} durations")
        values: list[int] = []
        if cts:
            for f, d in zip(frames, durations, strict=True):
                values += (
                    d,
                    len(f.data),
                    _SYNC_FLAGS if f.keyframe else _NON_SYNC_FLAGS,
                    (f.pts - f.dts) & 0xFFFFFFFF,  # signed in trun v1
                )
        else:
            for f, d in zip(frames, durations, strict=True):
                values += (d, len(f.data), _SYNC_FLAGS if f.keyframe else _NON_SYNC_FLAGS)
        trun_flags = _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE | _TRUN_FLAGS
        if cts:
            trun_flags |= _TRUN_CTS
        trun_size = _TRUN_FIXED_SIZE + len(values) * 4
        traf_size = 8 + _TFHD_SIZE + _TFDT_SIZE + trun_size
        parts.append(
            struct.pack(
                ">I4s" + "I4sII" + "I4sIQ" + "I4sIIi",
                traf_size,
                b"traf",
                _TFHD_SIZE,
                b"tfhd",
                _TFHD_DEFAULT_BASE_IS_MOOF,
                run.track_id,
                _TFDT_SIZE,
                b"tfdt",
                1 << 24,  # version 1: 64-bit decode time
                run.base_decode_time,
                trun_size,
                b"trun",
                (1 << 24) | trun_flags,  # version 1: signed composition offsets
                count,
                data_offset,
            )
        )
        parts.append(struct.pack(f">{len(values)}I", *values))
        data_offset += sum(len(f.data) for f in frames)
    parts.append(mdat_header)
    parts.extend(payload)
    return b"".join(parts)
