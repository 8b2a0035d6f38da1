"""Enhanced RTMP video (hvc1, av01, avc1 by FourCC): demuxing, refusals, FLV writing, and
the hvc1/av01 sample entries of the CMAF writer, decoded by PyAV."""

from __future__ import annotations

import io
import itertools

import av
import pytest

from golive.media.flv import FlvDemuxer, FlvFormatError, UnsupportedCodecError
from golive.media.flv_writer import FlvMuxer, metadata_tag
from golive.media.fmp4 import TrackRun, init_segment, media_fragment
from golive.media.fmp4_reader import init_tracks
from golive.media.frame import VIDEO_TRACK_ID, Frame, Track, TrackKind
from tests.support.enhanced_flv import enhanced_tags
from tests.support.flv_file import TAG_AUDIO, TAG_VIDEO, FlvTag, demux_tags, parse_flv

# The codec string, and the decoders PyAV may pick (the AV1 one is libdav1d).
EXPECTED = {"hevc": ("hvc1.1.6.L60.90", {"hevc"}), "av1": ("av01.0.00M.08", {"av1", "libdav1d"})}


@pytest.fixture(scope="session", params=["hevc", "av1"])
def codec(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def tags(tmp_path_factory: pytest.TempPathFactory, codec: str) -> list[FlvTag]:
    return enhanced_tags(tmp_path_factory, codec)


def split(items: list[Track | Frame]) -> tuple[dict[int, Track], list[Frame]]:
    tracks = {i.id: i for i in items if isinstance(i, Track)}
    return tracks, [i for i in items if isinstance(i, Frame)]


def test_real_stream_demuxes(tags: list[FlvTag], codec: str) -> None:
    tracks, frames = split(demux_tags(tags))
    video = tracks[VIDEO_TRACK_ID]
    assert (video.codec, video.width, video.height) == (EXPECTED[codec][0], 320, 240)
    assert video.config == next(t for t in tags if t.type == TAG_VIDEO).body[5:]
    assert tracks[2].codec == "mp4a.40.2"
    vframes = [f for f in frames if f.track_id == VIDEO_TRACK_ID]
    assert len(vframes) == 30
    # GOP 30 at 30 fps: the first frame is the only keyframe in 1 s.
    assert [f.keyframe for f in vframes] == [True] + [False] * 29
    if codec == "hevc":
        assert any(f.pts != f.dts for f in vframes)  # x265 uses B-frames: cts is read
    else:
        assert all(f.pts == f.dts for f in vframes)
        assert all(f.data[0] != 0x12 for f in vframes)  # no temporal delimiter OBU


def test_avc1_by_fourcc_still_works(tags: list[FlvTag]) -> None:
    # The same frames under the avc1 FourCC take the AVC path and its avcC check.
    with pytest.raises(FlvFormatError, match="bad AVC sequence header"):
        FlvDemuxer().video(0, b"\x90avc1" + b"\x02\x00")


def test_repeated_sequence_header_is_no_new_track(tags: list[FlvTag]) -> None:
    d = FlvDemuxer()
    first = next(t for t in tags if t.type == TAG_VIDEO)
    assert len(d.video(0, first.body)) == 1
    assert d.video(100, first.body) == []


def test_codec_change_without_sequence_header_is_refused(tags: list[FlvTag], codec: str) -> None:
    d = FlvDemuxer()
    first = next(t for t in tags if t.type == TAG_VIDEO)
    d.video(0, first.body)
    other = b"\x91av01\x12\x00" if codec == "hevc" else b"\x91hvc1\x00\x00\x00\x00\x00\x00\x01\x26"
    with pytest.raises(FlvFormatError, match="send a new sequence header"):
        d.video(33, other)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"\x90hvc1\x01\x01", FlvFormatError, "bad HEVC sequence header: hvcC record too short"),
        (b"\x90hvc1\x02" + bytes(30), FlvFormatError, "configurationVersion 2"),
        (b"\x90hvc1\x01" + bytes(22), FlvFormatError, "hvcC record has no VPS"),
        (b"\x90av01\x81\x00", FlvFormatError, "bad AV1 sequence header: av1C record too short"),
        (b"\x90av01\x01\x00\x0c\x00", FlvFormatError, "marker/version"),
        (b"\x90av01\x81\x00\x0c\x00\x12\x00", FlvFormatError, "no sequence header"),
        (b"\x95av01\x00", UnsupportedCodecError, "MPEG2TSSequenceStart"),
        (b"\x91hvc1\x00", FlvFormatError, "truncated in composition time"),
    ],
)
def test_broken_enhanced_video(body: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        FlvDemuxer().video(0, body)


def test_hevc_limits_are_checked(tmp_path_factory: pytest.TempPathFactory) -> None:
    tags = enhanced_tags(tmp_path_factory, "hevc")
    hvcc = bytearray(next(t for t in tags if t.type == TAG_VIDEO).body[5:])
    hvcc[12] = 255  # general_level_idc beyond level 6.2
    with pytest.raises(UnsupportedCodecError, match="general_level_idc 255"):
        FlvDemuxer().video(0, b"\x90hvc1" + bytes(hvcc))


def test_av1c_without_config_obus_waits_for_the_keyframe(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tags = enhanced_tags(tmp_path_factory, "av1")
    video = [t for t in tags if t.type == TAG_VIDEO]
    d = FlvDemuxer()
    assert d.video(0, video[0].body[:9]) == []  # the 4-byte av1C alone
    audio = next(t for t in tags if t.type == TAG_AUDIO)
    assert d.audio(0, audio.body) == []  # held back: video is announced
    keyframe = next(t for t in video if t.body[0] == 0x91)
    out = d.video(keyframe.timestamp_ms, keyframe.body)
    track = out[0]
    assert isinstance(track, Track) and track.codec == "av01.0.00M.08"
    assert (track.width, track.height) == (320, 240)
    assert isinstance(out[1], Track) and out[1].kind is TrackKind.AUDIO
    assert isinstance(out[-1], Frame) and out[-1].keyframe


def test_flv_muxer_round_trip(tags: list[FlvTag], codec: str) -> None:
    tracks, frames = split(demux_tags(tags))
    video = tracks[VIDEO_TRACK_ID]
    muxer = FlvMuxer()
    data = b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00" + metadata_tag(video, 30.0)
    data += muxer.set_tracks([video])
    vframes = [f for f in frames if f.track_id == VIDEO_TRACK_ID]
    data += b"".join(muxer.tag(f) for f in vframes)
    written = parse_flv(data)
    assert written[1].body[:5] == b"\x90" + video.sample_entry.encode()
    again_tracks, again = split(demux_tags(written))
    assert again_tracks[VIDEO_TRACK_ID] == video
    assert [(f.dts, f.pts, f.keyframe, f.data) for f in again] == [
        (f.dts, f.pts, f.keyframe, f.data) for f in vframes
    ]


def test_init_and_fragment_decode_with_pyav(tags: list[FlvTag], codec: str) -> None:
    tracks, frames = split(demux_tags(tags))
    video = tracks[VIDEO_TRACK_ID]
    vframes = [f for f in frames if f.track_id == VIDEO_TRACK_ID]
    durations = [b.dts - a.dts for a, b in itertools.pairwise(vframes)] + [3000]
    data = init_segment([video]) + media_fragment(
        1, [TrackRun(VIDEO_TRACK_ID, vframes[0].dts, vframes, durations)]
    )
    decoded = 0
    with av.open(io.BytesIO(data), format="mp4") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in EXPECTED[codec][1]
        assert stream.codec_context.codec_tag == video.sample_entry
        for frame in container.decode(stream):
            assert (frame.width, frame.height) == (320, 240)
            decoded += 1
    assert decoded == 30
    entry = video.sample_entry.encode()
    config_box = {b"hvc1": b"hvcC", b"av01": b"av1C"}[entry]
    assert entry in data and config_box + video.config in data


def test_init_segment_reads_back(tags: list[FlvTag]) -> None:
    tracks, _ = split(demux_tags(tags))
    video = tracks[VIDEO_TRACK_ID]
    (again,) = init_tracks(init_segment([video]))
    assert again == video
