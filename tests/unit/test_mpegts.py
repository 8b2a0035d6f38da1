"""MPEG-TS demuxer (golive.media.mpegts) and Annex-B framing (golive.media.annexb).

Real TS files come from the bundled ffmpeg (x264 + AAC, generated once per session); PyAV
reads the same files as the reference.
"""

from __future__ import annotations

import itertools
import random
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media.aac import parse_asc
from golive.media.annexb import split_annexb, to_annexb, to_length_prefixed
from golive.media.avc import nal_unit_types, parse_avcc
from golive.media.fmp4 import TrackRun, init_segment, media_fragment
from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TRACK_ID, Frame, Track, TrackKind
from golive.media.mpegts import (
    AUDIO_PES_CAP,
    ProblemKind,
    TsDemuxer,
    TsEvent,
    TsProblem,
    build_asc_from_adts,
    crc32_mpeg2,
)
from tests.support.flv_file import ffmpeg_exe

PKT = 188
_PROFILES = {"Baseline": 66, "Constrained Baseline": 66, "Main": 77, "High": 100}


# -- sample media ------------------------------------------------------------------------


def _make_ts(path: Path, seconds: float = 2.0) -> Path:
    """2 s of 320x240@30 H.264 High (2 B-frames, GOP 30) and 44.1 kHz mono AAC-LC in TS."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"]
    cmd += ["-f", "lavfi", "-i", "sine=sample_rate=44100"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30"]
    cmd += ["-pix_fmt", "yuv420p", "-c:a", "aac"]
    cmd += ["-t", str(seconds), "-f", "mpegts", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path


@pytest.fixture(scope="session")
def ts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_ts(tmp_path_factory.mktemp("ts") / "sample.ts")


@pytest.fixture(scope="session")
def ts_bytes(ts_file: Path) -> bytes:
    return ts_file.read_bytes()


@pytest.fixture(scope="session")
def events(ts_bytes: bytes) -> list[TsEvent]:
    return demux(ts_bytes)


@pytest.fixture(scope="session")
def reference(ts_file: Path) -> dict[str, object]:
    """What PyAV says about the sample: stream parameters and packets."""
    with av.open(str(ts_file)) as container:
        v = container.streams.video[0]
        a = container.streams.audio[0]
        info: dict[str, object] = {
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "profile": v.codec_context.profile,
            "sample_rate": a.codec_context.sample_rate,
            "channels": a.codec_context.channels,
            "video_pid": v.id,
            "audio_pid": a.id,
        }
        packets = [p for p in container.demux() if p.size]
        info["video"] = [(p.dts, p.pts, p.is_keyframe) for p in packets if p.stream.type == "video"]
        info["audio"] = [(p.pts, p.time_base) for p in packets if p.stream.type == "audio"]
    return info


def demux(data: bytes, pieces: list[int] | None = None) -> list[TsEvent]:
    d = TsDemuxer()
    out: list[TsEvent] = []
    if pieces is None:
        out += d.feed(data)
    else:
        pos = 0
        for size in pieces:
            out += d.feed(data[pos : pos + size])
            pos += size
        out += d.feed(data[pos:])
    return out + d.end()


def frames_of(events: list[TsEvent], track_id: int) -> list[Frame]:
    return [e for e in events if isinstance(e, Frame) and e.track_id == track_id]


def tracks_of(events: list[TsEvent]) -> dict[int, Track]:
    return {e.id: e for e in events if isinstance(e, Track)}


def problems_of(events: list[TsEvent]) -> list[TsProblem]:
    return [e for e in events if isinstance(e, TsProblem)]


def packet_pid(data: bytes, index: int) -> int:
    pos = index * PKT
    return ((data[pos + 1] & 0x1F) << 8) | data[pos + 2]


def pes_header_offset(data: bytes, index: int) -> int | None:
    """Offset of the PES start in packet ``index`` if it starts a unit, else None."""
    pos = index * PKT
    if not data[pos + 1] & 0x40:
        return None
    start = pos + 4
    if (data[pos + 3] >> 4) & 0x02:
        start += 1 + data[start]
    return start


# -- the sample, whole -------------------------------------------------------------------


def test_sample_demuxes_without_problems(events: list[TsEvent]) -> None:
    assert problems_of(events) == []
    tracks = tracks_of(events)
    assert set(tracks) == {VIDEO_TRACK_ID, AUDIO_TRACK_ID}
    # Each Track comes before its first frame.
    first = {e.track_id: i for i, e in reversed(list(enumerate(events))) if isinstance(e, Frame)}
    for tid in tracks:
        index = next(i for i, e in enumerate(events) if isinstance(e, Track) and e.id == tid)
        assert index < first[tid]


def test_tracks_match_pyav(events: list[TsEvent], reference: dict[str, object]) -> None:
    tracks = tracks_of(events)
    video, audio = tracks[VIDEO_TRACK_ID], tracks[AUDIO_TRACK_ID]
    assert video.kind is TrackKind.VIDEO and video.timescale == 90_000
    assert (video.width, video.height) == (reference["width"], reference["height"]) == (320, 240)
    avcc = parse_avcc(video.config)
    assert avcc.nal_length_size == 4
    assert avcc.codec == video.codec
    assert avcc.profile == _PROFILES[str(reference["profile"])]
    assert video.codec.startswith("avc1.64")
    assert audio.kind is TrackKind.AUDIO
    assert audio.codec == "mp4a.40.2"
    assert audio.sample_rate == audio.timescale == reference["sample_rate"] == 44100
    assert audio.channels == reference["channels"] == 1
    asc = parse_asc(audio.config)
    assert (asc.sample_rate, asc.channels, asc.object_type) == (44100, 1, 2)


def test_video_frames_match_pyav_packets(
    events: list[TsEvent], reference: dict[str, object]
) -> None:
    frames = frames_of(events, VIDEO_TRACK_ID)
    expected = reference["video"]
    assert isinstance(expected, list)
    assert [(f.dts, f.pts, f.keyframe) for f in frames] == expected
    assert len(frames) == 60
    assert all(a.dts < b.dts for a, b in itertools.pairwise(frames))
    for f in frames:
        types = nal_unit_types(f.data)
        assert types and 9 not in types and 7 not in types and 8 not in types
        assert (5 in types) == f.keyframe
        assert sum(len(n) + 4 for n in split_annexb(to_annexb(f.data))) == len(f.data)


def test_audio_frames_match_pyav_packets(
    events: list[TsEvent], reference: dict[str, object]
) -> None:
    frames = frames_of(events, AUDIO_TRACK_ID)
    expected = reference["audio"]
    assert isinstance(expected, list)
    assert len(frames) == len(expected) > 80
    rate = tracks_of(events)[AUDIO_TRACK_ID].timescale
    for f, (pts, time_base) in zip(frames, expected, strict=True):
        assert f.keyframe and f.dts == f.pts
        assert abs(Fraction(f.dts, rate) - pts * time_base) < Fraction(1, 1000)
        assert f.data[:2] != b"\xff\xf1"  # the ADTS header is gone
    assert all(b.dts - a.dts == 1024 for a, b in itertools.pairwise(frames))


# -- any split gives the same events -----------------------------------------------------


def test_feed_in_srt_sized_pieces(ts_bytes: bytes, events: list[TsEvent]) -> None:
    assert demux(ts_bytes, [1316] * (len(ts_bytes) // 1316)) == events
    assert demux(ts_bytes[:5000], [1] * 5000) == demux(ts_bytes[:5000])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=60))
def test_feed_in_random_pieces(ts_bytes: bytes, events: list[TsEvent], pieces: list[int]) -> None:
    assert demux(ts_bytes, pieces) == events


# -- damage --------------------------------------------------------------------------------


def test_dropped_video_packet_is_a_continuity_problem(
    ts_bytes: bytes, events: list[TsEvent], reference: dict[str, object]
) -> None:
    vpid = reference["video_pid"]
    count = len(ts_bytes) // PKT
    # A video packet in the middle that does not start a PES.
    index = next(
        i
        for i in range(count // 2, count)
        if packet_pid(ts_bytes, i) == vpid and pes_header_offset(ts_bytes, i) is None
    )
    damaged = ts_bytes[: index * PKT] + ts_bytes[(index + 1) * PKT :]
    out = demux(damaged)
    problems = problems_of(out)
    assert [(p.kind, p.pid) for p in problems] == [(ProblemKind.CONTINUITY, vpid)]
    video = frames_of(out, VIDEO_TRACK_ID)
    original = frames_of(events, VIDEO_TRACK_ID)
    # Exactly the access unit that lost a packet is missing; nothing corrupt is emitted.
    assert len(video) == len(original) - 1
    assert all(f in original for f in video)
    assert frames_of(out, AUDIO_TRACK_ID) == frames_of(events, AUDIO_TRACK_ID)
    assert video[-1] == original[-1]  # and the stream went on


def test_dropped_audio_packet_loses_one_pes(
    ts_bytes: bytes, events: list[TsEvent], reference: dict[str, object]
) -> None:
    apid = reference["audio_pid"]
    count = len(ts_bytes) // PKT
    index = next(i for i in range(count // 2, count) if packet_pid(ts_bytes, i) == apid)
    out = demux(ts_bytes[: index * PKT] + ts_bytes[(index + 1) * PKT :])
    assert [(p.kind, p.pid) for p in problems_of(out)] == [(ProblemKind.CONTINUITY, apid)]
    audio = frames_of(out, AUDIO_TRACK_ID)
    original = frames_of(events, AUDIO_TRACK_ID)
    assert 0 < len(original) - len(audio) < 20
    assert all(f in original for f in audio)
    assert audio[-1] == original[-1]
    assert frames_of(out, VIDEO_TRACK_ID) == frames_of(events, VIDEO_TRACK_ID)


def test_duplicate_packet_is_tolerated(ts_bytes: bytes, events: list[TsEvent]) -> None:
    count = len(ts_bytes) // PKT
    index = count // 2
    dup = ts_bytes[: (index + 1) * PKT] + ts_bytes[index * PKT :]
    assert demux(dup) == events


def test_garbage_between_packets_resyncs(ts_bytes: bytes, events: list[TsEvent]) -> None:
    count = len(ts_bytes) // PKT
    # Garbage (with fake sync bytes) inserted between two packets, then a misaligned cut.
    cut = (count // 3) * PKT
    garbage = bytes([0x47, 1, 2, 3] * 50) + b"\x47" * 3
    out = demux(ts_bytes[:cut] + garbage + ts_bytes[cut:])
    problems = problems_of(out)
    assert problems and problems[0].kind is ProblemKind.SYNC
    # Only the unit(s) in flight across the garbage may be lost.
    assert len(frames_of(out, VIDEO_TRACK_ID)) >= len(frames_of(events, VIDEO_TRACK_ID)) - 1
    assert frames_of(out, VIDEO_TRACK_ID)[-1] == frames_of(events, VIDEO_TRACK_ID)[-1]
    # Starting mid-packet: sync is found, the stream decodes from the next PAT/PMT on.
    out = demux(ts_bytes[100:])
    assert problems_of(out)[0].kind is ProblemKind.SYNC
    assert len(frames_of(out, VIDEO_TRACK_ID)) > 50


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=700))
def test_random_bytes_never_raise(data: bytes, piece: int) -> None:
    stream = data + b"\x47" + data[::-1]
    out = demux(stream, [piece] * (len(stream) // piece))
    assert all(isinstance(e, TsProblem) for e in out)


def test_corrupted_sample_never_raises(ts_bytes: bytes) -> None:
    rng = random.Random(7)
    data = bytearray(ts_bytes[: 200 * PKT])
    for _ in range(300):
        data[rng.randrange(len(data))] = rng.randrange(256)
    demux(bytes(data))  # whatever comes out, no exception


def test_truncated_file(ts_bytes: bytes, events: list[TsEvent]) -> None:
    # Cut inside a packet: the partial packet and the PES it belonged to are reported.
    count = len(ts_bytes) // PKT
    cut = (count // 2) * PKT + 77
    out = demux(ts_bytes[:cut])
    problems = problems_of(out)
    assert problems and all(p.kind is ProblemKind.TRUNCATED for p in problems)
    assert problems[0].pid == packet_pid(ts_bytes, count // 2)
    video = frames_of(out, VIDEO_TRACK_ID)
    assert video and all(f in frames_of(events, VIDEO_TRACK_ID) for f in video)


def test_truncated_audio_pes_at_end_is_dropped(
    ts_bytes: bytes, reference: dict[str, object]
) -> None:
    apid = reference["audio_pid"]
    count = len(ts_bytes) // PKT
    # End right after the first packet of an audio PES that needs more than one packet.
    index = next(
        i
        for i in range(count // 2, count - 1)
        if packet_pid(ts_bytes, i) == apid
        and pes_header_offset(ts_bytes, i) is not None
        and packet_pid(ts_bytes, i + 1) == apid
        and pes_header_offset(ts_bytes, i + 1) is None
    )
    out = demux(ts_bytes[: (index + 1) * PKT])
    assert [(p.kind, p.pid) for p in problems_of(out)] == [(ProblemKind.TRUNCATED, apid)]


def test_psi_crc_error_is_reported(ts_bytes: bytes) -> None:
    data = bytearray(ts_bytes)
    # Corrupt the first PMT (ffmpeg writes SDT, PAT, PMT first).
    index = 2
    assert ts_bytes[index * PKT + 5] == 2  # pointer 0, table_id 2
    pmt_pid = packet_pid(ts_bytes, index)
    data[index * PKT + 20] ^= 0xFF
    out = demux(bytes(data))
    assert [(p.kind, p.pid) for p in problems_of(out)] == [(ProblemKind.PSI, pmt_pid)]
    assert "CRC" in problems_of(out)[0].message
    assert len(tracks_of(out)) == 2  # the next PMT repetition gets it right


# -- timestamps ----------------------------------------------------------------------------


def _shift_timestamps(data: bytes, shift: int) -> bytes:
    """Add ``shift`` (mod 2**33) to every PTS and DTS of every PES in a TS file."""
    out = bytearray(data)
    for i in range(len(data) // PKT):
        start = pes_header_offset(data, i)
        if start is None or out[start : start + 3] != b"\x00\x00\x01" or packet_pid(data, i) < 32:
            continue
        flags = out[start + 7] >> 6
        fields = [(start + 9, 0x21 if flags == 2 else 0x31)]
        if flags == 3:
            fields.append((start + 14, 0x11))
        for pos, prefix in fields:
            b = out
            value = (
                (((b[pos] >> 1) & 7) << 30)
                | (b[pos + 1] << 22)
                | ((b[pos + 2] >> 1) << 15)
                | (b[pos + 3] << 7)
                | (b[pos + 4] >> 1)
            )
            value = (value + shift) % (1 << 33)
            b[pos] = prefix | ((value >> 29) & 0x0E)
            b[pos + 1] = (value >> 22) & 0xFF
            b[pos + 2] = ((value >> 14) & 0xFE) | 1
            b[pos + 3] = (value >> 7) & 0xFF
            b[pos + 4] = ((value << 1) & 0xFE) | 1
    return bytes(out)


def test_pts_wrap_keeps_time_increasing(ts_bytes: bytes, events: list[TsEvent]) -> None:
    # Move the start to 1 s before the 33-bit wrap: the wrap falls in the middle.
    first = frames_of(events, VIDEO_TRACK_ID)[0].dts
    shift = (1 << 33) - 90_000 - first
    assert _shift_timestamps(ts_bytes, 0) == ts_bytes
    out = demux(_shift_timestamps(ts_bytes, shift))
    assert problems_of(out) == []
    video = frames_of(out, VIDEO_TRACK_ID)
    assert video[0].dts == (1 << 33) - 90_000
    assert video[-1].dts > 1 << 33
    original = frames_of(events, VIDEO_TRACK_ID)
    assert [(f.dts - shift, f.pts - shift) for f in video] == [(f.dts, f.pts) for f in original]
    audio = frames_of(out, AUDIO_TRACK_ID)
    assert all(b.dts - a.dts == 1024 for a, b in itertools.pairwise(audio))
    assert audio[-1].dts > (1 << 33) * 44100 // 90_000


def test_synthetic_pts_wrap_both_ways() -> None:
    d = TsDemuxer()
    top = (1 << 33) - 3000
    values = [top, top + 3000, 3000 + 3000 - 1, 9000 - 1]  # raw: wraps between 1st and 3rd
    got = [d._unwrap(v % (1 << 33)) for v in values]
    assert got == [top, 1 << 33, (1 << 33) + 5999, (1 << 33) + 8999]
    # A slightly late timestamp from before the wrap stays before it.
    assert d._unwrap(top + 10) == top + 10


# -- synthetic streams ---------------------------------------------------------------------


def _section(table_id: int, ext: int, body: bytes) -> bytes:
    head = bytes([table_id, 0xB0 | ((len(body) + 9) >> 8), (len(body) + 9) & 0xFF])
    head += ext.to_bytes(2, "big") + bytes([0xC1, 0, 0])
    data = head + body
    return data + crc32_mpeg2(data).to_bytes(4, "big")


def _packets(
    pid: int, payload: bytes, counters: dict[int, int] | None = None, psi: bool = False
) -> bytes:
    """Packetize one unit (a PES, or a section with pointer_field 0) into TS packets.

    ``counters`` holds the next continuity counter per PID and is updated.
    """
    counters = {} if counters is None else counters
    cc = counters.get(pid, 0)
    if psi:
        payload = b"\x00" + payload
    out = bytearray()
    first = True
    while payload:
        chunk, payload = payload[:184], payload[184:]
        head = bytes([0x47, (0x40 if first else 0) | (pid >> 8), pid & 0xFF])
        if len(chunk) < 184:
            stuffing = 184 - len(chunk) - 1
            af = bytes([stuffing]) + (b"\x00" + b"\xff" * (stuffing - 1) if stuffing else b"")
            out += head + bytes([0x30 | cc]) + af + chunk
        else:
            out += head + bytes([0x10 | cc]) + chunk
        cc = (cc + 1) & 15
        first = False
    counters[pid] = cc
    return bytes(out)


def _psi_for(streams: list[tuple[int, int]]) -> bytes:
    pat = _section(0, 1, b"\x00\x01\xf0\x00")  # program 1 -> PMT PID 0x1000
    body = b"\xe1\x00\xf0\x00"  # PCR PID 0x100, no program info
    for stream_type, pid in streams:
        body += bytes([stream_type, 0xE0 | (pid >> 8), pid & 0xFF, 0xF0, 0])
    return _packets(0, pat, psi=True) + _packets(0x1000, _section(2, 1, body), psi=True)


def _pes(stream_id: int, pts: int, payload: bytes, bounded: bool = True) -> bytes:
    ts = bytes(
        [
            0x21 | ((pts >> 29) & 0x0E),
            (pts >> 22) & 0xFF,
            ((pts >> 14) & 0xFE) | 1,
            (pts >> 7) & 0xFF,
            ((pts << 1) & 0xFE) | 1,
        ]
    )
    header = b"\x80\x80\x05" + ts
    length = len(header) + len(payload) if bounded else 0
    return b"\x00\x00\x01" + bytes([stream_id]) + length.to_bytes(2, "big") + header + payload


def _adts(payload: bytes, sf_index: int = 3, channels: int = 2, blocks: int = 0) -> bytes:
    size = 7 + len(payload)
    return (
        bytes(
            [
                0xFF,
                0xF1,
                (1 << 6) | (sf_index << 2) | (channels >> 2),
                ((channels & 3) << 6) | (size >> 11),
                (size >> 3) & 0xFF,
                ((size & 7) << 5) | 0x1F,
                0xFC | blocks,
            ]
        )
        + payload
    )


def test_synthetic_audio_only_stream_and_adts_split_across_pes() -> None:
    frames = [_adts(bytes([i]) * (50 + i)) for i in range(6)]
    joined = b"".join(frames)
    split = 3 * len(frames[0]) + 20  # the 4th frame continues in the second PES
    stream = _psi_for([(0x0F, 0x101), (0x06, 0x102)])
    cc: dict[int, int] = {}
    stream += _packets(0x101, _pes(0xC0, 900_000, joined[:split]), cc)
    # The second PES's PTS is that of the first frame *starting* in it (the 5th).
    pts2 = 900_000 + 4 * 1024 * 90_000 // 48_000
    stream += _packets(0x101, _pes(0xC0, pts2, joined[split:]), cc)
    out = demux(stream)
    problems = problems_of(out)
    assert [(p.kind, p.pid) for p in problems] == [(ProblemKind.UNSUPPORTED, 0x102)]
    track = tracks_of(out)[AUDIO_TRACK_ID]
    assert (track.codec, track.sample_rate, track.channels) == ("mp4a.40.2", 48000, 2)
    assert track.config == build_asc_from_adts(frames[0]) == b"\x11\x90"
    got = frames_of(out, AUDIO_TRACK_ID)
    assert [f.data for f in got] == [f[7:] for f in frames]
    assert [f.dts for f in got] == [480_000 + 1024 * i for i in range(6)]


def test_synthetic_refusals() -> None:
    stream = _psi_for([(0x24, 0x100), (0x0F, 0x101)])
    hevc_au = b"\x00\x00\x00\x01\x40\x01\x0c\x01" + b"\x00\x00\x01\x26\x01\xaf"
    stream += _packets(0x100, _pes(0xE0, 0, hevc_au, bounded=False))
    cc: dict[int, int] = {}
    stream += _packets(0x101, _pes(0xC0, 0, _adts(b"x" * 10, blocks=1)), cc)
    stream += _packets(0x101, _pes(0xC0, 0, _adts(b"x" * 10, channels=0)), cc)
    stream += _packets(0x101, _pes(0xC0, 0, b"not adts at all"), cc)
    out = demux(stream)
    kinds = [(p.kind, p.pid) for p in problems_of(out)]
    assert kinds == [
        (ProblemKind.CODEC, 0x101),
        (ProblemKind.CODEC, 0x101),
        (ProblemKind.CODEC, 0x101),
    ]  # the HEVC PES has a VPS only: no Track yet, and its slice is not a Frame
    assert not [e for e in out if not isinstance(e, TsProblem)]


def test_oversized_pes_is_dropped() -> None:
    stream = _psi_for([(0x0F, 0x101)])
    big = _pes(0xC0, 0, _adts(b"y" * 100) * (AUDIO_PES_CAP // 100), bounded=False)
    cc: dict[int, int] = {}
    stream += _packets(0x101, big, cc)
    stream += _packets(0x101, _pes(0xC0, 90_000, _adts(b"z" * 100)), cc)
    out = demux(stream)
    assert [(p.kind, p.pid) for p in problems_of(out)] == [(ProblemKind.OVERSIZE, 0x101)]
    assert [f.dts for f in frames_of(out, AUDIO_TRACK_ID)] == [48_000]


# -- the frames make a playable fMP4 -------------------------------------------------------


def test_frames_through_fmp4_writer_decode(tmp_path: Path, events: list[TsEvent]) -> None:
    tracks = tracks_of(events)
    video = frames_of(events, VIDEO_TRACK_ID)
    audio = frames_of(events, AUDIO_TRACK_ID)
    vdur = [b.dts - a.dts for a, b in itertools.pairwise(video)]
    vdur.append(vdur[-1])
    path = tmp_path / "out.mp4"
    path.write_bytes(
        init_segment([tracks[VIDEO_TRACK_ID], tracks[AUDIO_TRACK_ID]])
        + media_fragment(
            1,
            [
                TrackRun(VIDEO_TRACK_ID, video[0].dts, video, vdur),
                TrackRun(AUDIO_TRACK_ID, audio[0].dts, audio, [1024] * len(audio)),
            ],
        )
    )
    with av.open(str(path)) as container:
        pictures = [f for f in container.decode(video=0)]
    assert len(pictures) == len(video)
    assert (pictures[0].width, pictures[0].height) == (320, 240)
    with av.open(str(path)) as container:
        sounds = list(container.decode(audio=0))
    assert abs(len(sounds) - len(audio)) <= 1
    assert sounds[0].sample_rate == 44100


# -- Annex-B framing -----------------------------------------------------------------------


def test_annexb_split_and_back() -> None:
    stream = (
        b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x01\x67\x64\x00" + b"\x00\x00\x01\x65\x88\x00\x00"
    )
    nals = [bytes(n) for n in split_annexb(stream)]
    assert nals == [b"\x09\xf0", b"\x67\x64", b"\x65\x88"]
    assert [bytes(n) for n in split_annexb(b"junk" + stream, 4, 16)] == [b"\x09\xf0", b"\x67\x64"]
    lp = to_length_prefixed(nals)
    assert lp == b"\x00\x00\x00\x02\x09\xf0\x00\x00\x00\x02\x67\x64\x00\x00\x00\x02\x65\x88"
    assert [bytes(n) for n in split_annexb(to_annexb(lp))] == nals
    assert to_length_prefixed(nals, 2)[:2] == b"\x00\x02"
    assert split_annexb(b"") == [] and split_annexb(b"\x00\x00\x01") == []
    with pytest.raises(ValueError):
        to_annexb(b"\x00\x00\x00\x09\x01")
    with pytest.raises(ValueError):
        to_length_prefixed([b"x" * 256], 1)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.binary(min_size=1, max_size=40).map(lambda b: b"\x41" + b.replace(b"\x00", b"\x01")),
        max_size=8,
    )
)
def test_annexb_round_trip(nals: list[bytes]) -> None:
    annexb = to_annexb(to_length_prefixed(nals))
    assert [bytes(n) for n in split_annexb(annexb)] == nals
