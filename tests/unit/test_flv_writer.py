"""FlvMuxer and FlvTagReader: Frames to an FLV stream and back, and what ffmpeg makes of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media.flv import FlvDemuxer, FlvFormatError
from golive.media.flv_reader import FlvTag, FlvTagReader
from golive.media.flv_writer import FlvMuxer, flv_file_header
from golive.media.frame import Frame, Track
from tests.support.flv_file import demux_tags, ffmpeg_exe, read_flv_tags, sample_flv
from tests.support.media_check import decode
from tests.support.synthetic import VIDEO


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[Track | Frame]:
    return demux_tags(read_flv_tags(sample_flv(tmp_path_factory)))


def remux(items: list[Track | Frame]) -> bytes:
    """An FLV file of ``items`` (tracks first), as the transcoder writes it."""
    tracks = [x for x in items if isinstance(x, Track)]
    muxer = FlvMuxer()
    out = flv_file_header(video=True, audio=True) + muxer.set_tracks(tracks)
    for item in items:
        if isinstance(item, Frame):
            out += muxer.tag(item)
    return out


def test_round_trip_keeps_tracks_timestamps_and_payloads(sample: list[Track | Frame]) -> None:
    data = remux(sample)
    demuxer = FlvDemuxer()
    out: list[Track | Frame] = []
    for tag in FlvTagReader().feed(data):
        out += demuxer.video(tag.timestamp_ms, tag.body) if tag.type == 9 else []
        out += demuxer.audio(tag.timestamp_ms, tag.body) if tag.type == 8 else []
    assert [x for x in out if isinstance(x, Track)] == [x for x in sample if isinstance(x, Track)]
    frames_in = [x for x in sample if isinstance(x, Frame)]
    frames_out = [x for x in out if isinstance(x, Frame)]
    assert len(frames_out) == len(frames_in)
    for a, b in zip(frames_in, frames_out, strict=True):
        assert (a.track_id, a.dts, a.pts, a.keyframe, a.data) == (
            b.track_id,
            b.dts,
            b.pts,
            b.keyframe,
            b.data,
        )


def test_ffmpeg_reads_what_we_write(sample: list[Track | Frame], tmp_path: Path) -> None:
    source = tmp_path / "remuxed.flv"
    source.write_bytes(remux(sample))
    target = tmp_path / "copy.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(source), "-c", "copy", "-y", str(target)],
        check=True,
        timeout=30,
    )
    media = decode(target.read_bytes())
    assert media.video_codec == "h264" and media.audio_codec == "aac"
    frames = [x for x in sample if isinstance(x, Frame) and x.track_id == 1]
    assert len(media.video_pts) == len(frames)


@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=40))
@settings(max_examples=60, deadline=None)
def test_reader_returns_the_same_tags_however_the_bytes_are_split(cuts: list[int]) -> None:
    muxer = FlvMuxer()
    frames = [Frame(1, i * 3000, i * 3000 + 6000, i % 10 == 0, bytes([i]) * i) for i in range(30)]
    data = flv_file_header(video=True, audio=False) + muxer.set_tracks([VIDEO])
    data += b"".join(muxer.tag(f) for f in frames)
    whole = FlvTagReader().feed(data)
    reader = FlvTagReader()
    pieces: list[FlvTag] = []
    pos = 0
    for cut in cuts:
        pieces += reader.feed(data[pos : pos + cut])
        pos += cut
    pieces += reader.feed(data[pos:])
    assert pieces == whole
    assert len(whole) == 31 and reader.pending == 0
    assert [t.timestamp_ms for t in whole[1:]] == [round(f.dts / 90) for f in frames]


def test_reader_refuses_what_is_not_flv() -> None:
    with pytest.raises(FlvFormatError):
        FlvTagReader().feed(b"GIF89a")
    reader = FlvTagReader()
    assert reader.feed(b"FL") == []  # fine so far
    with pytest.raises(FlvFormatError):
        reader.feed(b"XX")
    reader = FlvTagReader(max_tag_size=100)
    header = flv_file_header(video=True, audio=False)
    with pytest.raises(FlvFormatError):
        reader.feed(header + bytes([9, 0, 1, 0]) + bytes(7))


def test_timestamps_round_to_milliseconds_and_composition_offsets_are_signed() -> None:
    muxer = FlvMuxer()
    muxer.set_tracks([VIDEO])
    tag = muxer.tag(Frame(1, 90_044, 90_044 - 2 * 90, True, b"x"))
    (parsed,) = FlvTagReader().feed(flv_file_header(video=True, audio=False) + tag)
    assert parsed.timestamp_ms == 1000
    assert parsed.body[0] == 0x17 and parsed.body[1] == 1
    assert int.from_bytes(parsed.body[2:5], "big", signed=True) == -2
    with pytest.raises(ValueError, match="unknown"):
        muxer.tag(Frame(7, 0, 0, True, b""))
