"""CMAF fMP4 writer: box layout, and real decoding of init + fragments with PyAV and ffmpeg."""

from __future__ import annotations

import itertools
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from golive.media.fmp4 import TrackRun, init_segment, media_fragment
from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TRACK_ID, Frame, Track, TrackKind
from tests.support.flv_file import demux_tags, ffmpeg_exe, read_flv_tags, sample_flv

# -- helpers ---------------------------------------------------------------------------


def iter_boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) for each box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        assert size >= header, f"bad box size {size} for {kind!r}"
        assert pos + size <= end, f"box {kind!r} overruns its parent"
        yield kind, data[pos + header : pos + size]
        pos += size


def children(payload: bytes) -> dict[bytes, bytes]:
    return dict(iter_boxes(payload))


def parse_trun(payload: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """(flags, data_offset, samples) of a trun written with per-sample fields."""
    version_flags, count, data_offset = struct.unpack_from(">IIi", payload, 0)
    flags = version_flags & 0xFFFFFF
    per_sample = 4 if flags & 0x800 else 3
    fmt = ">" + ("IIIi" if per_sample == 4 else "III")
    samples = [struct.unpack_from(fmt, payload, 12 + i * per_sample * 4) for i in range(count)]
    return flags, data_offset, samples


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Track], list[Frame]]:
    out = demux_tags(read_flv_tags(sample_flv(tmp_path_factory)))
    tracks = {o.id: o for o in out if isinstance(o, Track)}
    frames = [o for o in out if isinstance(o, Frame)]
    return [tracks[VIDEO_TRACK_ID], tracks[AUDIO_TRACK_ID]], frames


def video_durations(frames: list[Frame], next_dts: int | None) -> list[int]:
    durations = [b.dts - a.dts for a, b in itertools.pairwise(frames)]
    durations.append(next_dts - frames[-1].dts if next_dts is not None else durations[-1])
    return durations


def fragment_all(tracks: list[Track], frames: list[Frame], per_fragment: int) -> list[bytes]:
    """Cut the sample into fragments of ``per_fragment`` video frames plus the audio in them."""
    video = [f for f in frames if f.track_id == VIDEO_TRACK_ID]
    audio = [f for f in frames if f.track_id == AUDIO_TRACK_ID]
    vscale = tracks[0].timescale
    ascale = tracks[1].timescale
    fragments = []
    ai = 0
    for seq, start in enumerate(range(0, len(video), per_fragment), start=1):
        vchunk = video[start : start + per_fragment]
        nxt = video[start + per_fragment].dts if start + per_fragment < len(video) else None
        if nxt is None:
            achunk = audio[ai:]
        else:
            # audio whose decode time is before the next fragment's first video frame
            limit = nxt * ascale // vscale
            end = ai
            while end < len(audio) and audio[end].dts < limit:
                end += 1
            achunk = audio[ai:end]
        ai += len(achunk)
        runs = [
            TrackRun(VIDEO_TRACK_ID, vchunk[0].dts, vchunk, video_durations(vchunk, nxt)),
            TrackRun(
                AUDIO_TRACK_ID,
                achunk[0].dts if achunk else 0,
                achunk,
                [1024] * len(achunk),
            ),
        ]
        fragments.append(media_fragment(seq, runs))
    return fragments


@pytest.fixture(scope="session")
def mp4_file(
    tmp_path_factory: pytest.TempPathFactory, sample: tuple[list[Track], list[Frame]]
) -> Path:
    tracks, frames = sample
    path = tmp_path_factory.mktemp("fmp4") / "out.mp4"
    path.write_bytes(init_segment(tracks) + b"".join(fragment_all(tracks, frames, 7)))
    return path


# -- init segment ----------------------------------------------------------------------


def test_init_segment_layout(sample: tuple[list[Track], list[Frame]]) -> None:
    tracks, _ = sample
    data = init_segment(tracks)
    top = list(iter_boxes(data))
    assert [k for k, _ in top] == [b"ftyp", b"moov"]
    ftyp = top[0][1]
    assert ftyp[:4] == b"iso6"
    brands = {ftyp[i : i + 4] for i in range(8, len(ftyp), 4)}
    assert {b"cmfc", b"iso6", b"mp41"} <= brands

    moov = list(iter_boxes(top[1][1]))
    assert [k for k, _ in moov] == [b"mvhd", b"trak", b"trak", b"mvex"]
    trexs = list(iter_boxes(moov[3][1]))
    assert [k for k, _ in trexs] == [b"trex", b"trex"]
    assert [struct.unpack_from(">I", p, 4)[0] for _, p in trexs] == [1, 2]
    (next_track_id,) = struct.unpack_from(">I", moov[0][1], 96)
    assert next_track_id == 3

    for (_, trak), track in zip(moov[1:3], tracks, strict=True):
        boxes = children(trak)
        (track_id,) = struct.unpack_from(">I", boxes[b"tkhd"], 12)
        assert track_id == track.id
        mdia = children(boxes[b"mdia"])
        (timescale,) = struct.unpack_from(">I", mdia[b"mdhd"], 12)
        assert timescale == track.timescale
        assert mdia[b"hdlr"][8:12] == (b"vide" if track.kind is TrackKind.VIDEO else b"soun")
        minf = children(mdia[b"minf"])
        assert (b"vmhd" if track.kind is TrackKind.VIDEO else b"smhd") in minf
        stbl = children(minf[b"stbl"])
        assert set(stbl) == {b"stsd", b"stts", b"stsc", b"stsz", b"stco"}
        entry_kind = stbl[b"stsd"][12:16]
        assert entry_kind == track.sample_entry.encode()
        if track.kind is TrackKind.VIDEO:
            w, h = struct.unpack_from(">HH", stbl[b"stsd"], 8 + 8 + 24)
            assert (w, h) == (track.width, track.height)
            assert track.config in stbl[b"stsd"]


def test_init_segment_rejects_bad_tracks(sample: tuple[list[Track], list[Frame]]) -> None:
    tracks, _ = sample
    with pytest.raises(ValueError):
        init_segment([])
    with pytest.raises(ValueError):
        init_segment([tracks[0], tracks[0]])
    vp9 = Track(1, TrackKind.VIDEO, "vp09.00.10.08", 90000, b"\x01", 320, 240)
    with pytest.raises(ValueError, match="avc1"):
        init_segment([vp9])


def test_video_only_and_audio_only_init_segments_decode(
    tmp_path: Path, sample: tuple[list[Track], list[Frame]]
) -> None:
    tracks, frames = sample
    for track in tracks:
        own = [f for f in frames if f.track_id == track.id]
        durations = (
            video_durations(own, None) if track.kind is TrackKind.VIDEO else [1024] * len(own)
        )
        path = tmp_path / f"{track.kind}.mp4"
        path.write_bytes(
            init_segment([track])
            + media_fragment(1, [TrackRun(track.id, own[0].dts, own, durations)])
        )
        with av.open(str(path)) as container:
            assert len(container.streams) == 1
            decoded = sum(1 for _ in container.decode(container.streams[0]))
        if track.kind is TrackKind.VIDEO:
            assert decoded == len(own)
        else:
            # The AAC decoder may hold back or add a priming frame; all but that one come out.
            assert abs(decoded - len(own)) <= 1


# -- fragments -------------------------------------------------------------------------


def test_fragment_layout(sample: tuple[list[Track], list[Frame]]) -> None:
    _tracks, frames = sample
    video = [f for f in frames if f.track_id == VIDEO_TRACK_ID][:5]
    audio = [f for f in frames if f.track_id == AUDIO_TRACK_ID][:4]
    data = media_fragment(
        42,
        [
            TrackRun(VIDEO_TRACK_ID, video[0].dts, video, [3000] * 5),
            TrackRun(AUDIO_TRACK_ID, audio[0].dts, audio, [1024] * 4),
        ],
    )
    top = list(iter_boxes(data))
    assert [k for k, _ in top] == [b"moof", b"mdat"]
    moof = list(iter_boxes(top[0][1]))
    assert [k for k, _ in moof] == [b"mfhd", b"traf", b"traf"]
    assert struct.unpack_from(">I", moof[0][1], 4)[0] == 42
    moof_size = 8 + len(top[0][1])

    mdat_start = moof_size + 8
    for (_, traf), run_frames in zip(moof[1:], (video, audio), strict=True):
        boxes = list(iter_boxes(traf))
        assert [k for k, _ in boxes] == [b"tfhd", b"tfdt", b"trun"]
        tfhd_flags = struct.unpack_from(">I", boxes[0][1])[0] & 0xFFFFFF
        assert tfhd_flags & 0x020000  # default-base-is-moof
        version = boxes[1][1][0]
        assert version == 1
        (base,) = struct.unpack_from(">Q", boxes[1][1], 4)
        assert base == run_frames[0].dts
        assert boxes[2][1][0] == 1  # trun v1
        flags, offset, samples = parse_trun(boxes[2][1])
        # data_offset is relative to the moof: the samples must be right there.
        assert offset >= mdat_start
        pos = offset
        for f, s in zip(run_frames, samples, strict=True):
            assert s[1] == len(f.data)
            assert data[pos : pos + s[1]] == f.data
            pos += s[1]
            if f.track_id == VIDEO_TRACK_ID:
                assert s[2] == (0x02000000 if f.keyframe else 0x01010000)
                assert s[3] == f.pts - f.dts
            else:
                assert s[2] == 0x02000000
        if run_frames is audio:
            assert not flags & 0x800  # no composition offsets needed for audio


def test_negative_composition_offset_and_64_bit_decode_time() -> None:
    base = 5 * 2**32 + 123  # beyond 32 bits: only tfdt v1 can hold it
    frames = [
        Frame(VIDEO_TRACK_ID, base, base - 3000, True, b"\x00\x00\x00\x01\x65"),
        Frame(VIDEO_TRACK_ID, base + 3000, base + 6000, False, b"\x00\x00\x00\x01\x41"),
    ]
    data = media_fragment(1, [TrackRun(VIDEO_TRACK_ID, base, frames, [3000, 3000])])
    moof = dict(iter_boxes(data))[b"moof"]
    traf = children(children(moof)[b"traf"])
    assert struct.unpack_from(">Q", traf[b"tfdt"], 4)[0] == base
    _, _, samples = parse_trun(traf[b"trun"])
    assert [s[3] for s in samples] == [-3000, 3000]


def test_empty_runs_are_omitted_and_bad_input_rejected() -> None:
    frame = Frame(AUDIO_TRACK_ID, 0, 0, True, b"\x21\x00")
    data = media_fragment(
        1, [TrackRun(VIDEO_TRACK_ID, 0, [], []), TrackRun(AUDIO_TRACK_ID, 0, [frame], [1024])]
    )
    moof = dict(iter_boxes(data))[b"moof"]
    assert [k for k, _ in iter_boxes(moof)] == [b"mfhd", b"traf"]
    with pytest.raises(ValueError):
        media_fragment(1, [TrackRun(VIDEO_TRACK_ID, 0, [], [])])
    with pytest.raises(ValueError, match="durations"):
        media_fragment(1, [TrackRun(AUDIO_TRACK_ID, 0, [frame, frame], [1024])])


# -- real decoders ---------------------------------------------------------------------


def test_pyav_decodes_fragmented_file(
    mp4_file: Path, sample: tuple[list[Track], list[Frame]]
) -> None:
    _tracks, frames = sample
    video = [f for f in frames if f.track_id == VIDEO_TRACK_ID]
    audio = [f for f in frames if f.track_id == AUDIO_TRACK_ID]
    assert len(video) == 60  # 2 s at 30 fps

    with av.open(str(mp4_file)) as container:
        vs = container.streams.video[0]
        as_ = container.streams.audio[0]
        assert (vs.codec_context.width, vs.codec_context.height) == (320, 240)
        assert as_.codec_context.sample_rate == 44100
        assert vs.time_base.denominator == 90000
        assert as_.time_base.denominator == 44100

        vpackets = []
        apackets = []
        for packet in container.demux():
            if packet.size == 0:
                continue  # flush packet
            (vpackets if packet.stream is vs else apackets).append(packet)
    # Every sample comes back with the same timing, size and key flag.
    assert [(p.dts, p.pts, p.is_keyframe, p.size) for p in vpackets] == [
        (f.dts, f.pts, f.keyframe, len(f.data)) for f in video
    ]
    assert [(p.pts, p.size) for p in apackets] == [(f.pts, len(f.data)) for f in audio]

    with av.open(str(mp4_file)) as container:
        vframes = list(container.decode(video=0))
    assert len(vframes) == len(video)
    assert all((f.width, f.height) == (320, 240) for f in vframes)
    # B-frames reordered: presentation times must be a gapless 30 fps sequence.
    pts = [f.pts for f in vframes]
    assert pts == sorted(pts)
    assert {b - a for a, b in itertools.pairwise(pts)} <= {2970, 3000, 3060}
    assert pts[0] == min(f.pts for f in video)

    with av.open(str(mp4_file)) as container:
        aframes = list(container.decode(audio=0))
    assert abs(len(aframes) - len(audio)) <= 1
    assert all(f.sample_rate == 44100 for f in aframes)
    apts = [f.pts for f in aframes if f.pts is not None]
    assert {b - a for a, b in itertools.pairwise(apts)} == {1024}


def test_codec_strings_match_what_the_decoder_sees(
    mp4_file: Path, sample: tuple[list[Track], list[Frame]]
) -> None:
    tracks, _ = sample
    video, audio = tracks
    with av.open(str(mp4_file)) as container:
        vcc = container.streams.video[0].codec_context
        acc = container.streams.audio[0].codec_context
        assert vcc.name == "h264"
        assert bytes(vcc.extradata) == video.config
        # avc1.PPCCLL: profile_idc 100 is High; level_idc is what libavcodec reports.
        profile_idc = {"Baseline": 66, "Constrained Baseline": 66, "Main": 77, "High": 100}
        assert video.codec == f"avc1.{profile_idc[vcc.profile]:02x}00{vcc.level:02x}"
        assert acc.name == "aac"
        assert bytes(acc.extradata) == audio.config
        assert acc.profile == "LC"
        assert audio.codec == "mp4a.40.2"
        assert acc.channels == audio.channels == 1


def test_ffmpeg_decodes_without_errors(mp4_file: Path) -> None:
    result = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-xerror", "-i", str(mp4_file), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_each_fragment_decodes_after_the_init_segment(
    tmp_path: Path, sample: tuple[list[Track], list[Frame]]
) -> None:
    # Cut at keyframes (GOP 30): each init + fragment pair is a standalone playable file,
    # the way an HLS player starting at a segment boundary sees it.
    tracks, frames = sample
    init = init_segment(tracks)
    for i, fragment in enumerate(fragment_all(tracks, frames, 30)):
        path = tmp_path / f"seg{i}.mp4"
        path.write_bytes(init + fragment)
        with av.open(str(path)) as container:
            decoded = list(container.decode(video=0))
        assert len(decoded) == 30
