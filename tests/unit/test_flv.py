"""FlvDemuxer: real ffmpeg FLV output, timestamps, enhanced RTMP, refusals, malformed input."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media.avc import contains_idr
from golive.media.flv import FlvDemuxer, FlvFormatError, UnsupportedCodecError
from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TRACK_ID, Frame, Track, TrackKind
from tests.support.flv_file import (
    TAG_AUDIO,
    TAG_VIDEO,
    FlvTag,
    demux_tags,
    make_flv,
    read_flv_tags,
    sample_flv,
)

ASC_LC_44K_STEREO = bytes([0x12, 0x10])
ADVICE = "publish H.264, HEVC or AV1 video (HEVC and AV1 over enhanced RTMP) and AAC audio"
# A real x264 avcC (High, 320x240) for tests that cannot use fixtures (hypothesis).
AVCC_320x240 = bytes.fromhex(
    "0164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000668ebe3cb22c0fdf8f800"
)


@pytest.fixture(scope="session")
def tags(tmp_path_factory: pytest.TempPathFactory) -> list[FlvTag]:
    return read_flv_tags(sample_flv(tmp_path_factory))


@pytest.fixture(scope="session")
def avcc(tags: list[FlvTag]) -> bytes:
    body = next(t.body for t in tags if t.type == TAG_VIDEO and t.body[1] == 0)
    return body[5:]


@pytest.fixture(scope="session")
def other_avcc(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_flv(
        tmp_path_factory.mktemp("media") / "640.flv", seconds=0.2, size="640x360", audio=False
    )
    body = next(t.body for t in read_flv_tags(path) if t.type == TAG_VIDEO and t.body[1] == 0)
    return body[5:]


def avc_seq(avcc: bytes) -> bytes:
    return b"\x17\x00\x00\x00\x00" + avcc


def avc_frame(key: bool, cts: int, data: bytes = b"\x00\x00\x00\x02\x41\x9a") -> bytes:
    return bytes([0x17 if key else 0x27, 1]) + cts.to_bytes(3, "big", signed=True) + data


def aac_frame(data: bytes = b"\x21\x10\x04") -> bytes:
    return b"\xaf\x01" + data


def frames_of(out: list[Track | Frame]) -> list[Frame]:
    assert all(isinstance(o, Frame) for o in out)
    return [o for o in out if isinstance(o, Frame)]


# -- the real thing --------------------------------------------------------------------


def test_ffmpeg_sample(tags: list[FlvTag]) -> None:
    demuxer = FlvDemuxer()
    out = demux_tags(tags, demuxer)
    tracks = [o for o in out if isinstance(o, Track)]
    assert [t.id for t in tracks] == [VIDEO_TRACK_ID, AUDIO_TRACK_ID]
    video, audio = tracks
    assert video.kind is TrackKind.VIDEO
    assert video.codec == "avc1.64000d"  # x264 High profile, level 1.3 at 320x240@30
    assert (video.width, video.height, video.timescale) == (320, 240, 90000)
    assert audio.kind is TrackKind.AUDIO
    assert audio.codec == "mp4a.40.2"
    assert (audio.timescale, audio.sample_rate, audio.channels) == (44100, 44100, 1)
    assert demuxer.tracks == {1: video, 2: audio}

    media = [t for t in tags if t.type in (TAG_AUDIO, TAG_VIDEO) and t.body[1] == 1]
    frames = [o for o in out if isinstance(o, Frame)]
    assert len(frames) == len(media)
    vframes = [f for f in frames if f.track_id == VIDEO_TRACK_ID]
    assert len(vframes) == 60
    for tag, frame in zip(media, frames, strict=True):
        assert frame.data == tag.body[5:] if tag.type == TAG_VIDEO else tag.body[2:]
        if tag.type == TAG_VIDEO:
            cts = int.from_bytes(tag.body[2:5], "big", signed=True)
            assert frame.dts == tag.timestamp_ms * 90
            assert frame.pts == frame.dts + cts * 90
            assert frame.keyframe == (tag.body[0] >> 4 == 1)
            # FLV keyframe flags and the bitstream agree.
            assert frame.keyframe == contains_idr(frame.data, 4)
        else:
            assert frame.pts == frame.dts
            assert frame.keyframe
            # Sample counting stays within an AU of the millisecond clock.
            assert abs(frame.dts - tag.timestamp_ms * 44100 // 1000) <= 1024
    assert sum(f.keyframe for f in vframes) == 2  # GOP 30 over 60 frames
    assert any(f.pts != f.dts for f in vframes)  # B-frames
    adts = [f.dts for f in frames if f.track_id == AUDIO_TRACK_ID]
    assert {b - a for a, b in itertools.pairwise(adts)} == {1024}


def test_frames_before_sequence_header_are_dropped(avcc: bytes) -> None:
    d = FlvDemuxer()
    assert d.video(0, avc_frame(True, 0)) == []
    assert d.audio(0, aac_frame()) == []
    assert d.tracks == {}
    assert len(d.video(0, avc_seq(avcc))) == 1
    assert len(frames_of(d.video(33, avc_frame(True, 0)))) == 1


def test_repeated_and_changed_sequence_headers(avcc: bytes, other_avcc: bytes) -> None:
    d = FlvDemuxer()
    (first,) = d.video(0, avc_seq(avcc))
    assert d.video(1000, avc_seq(avcc)) == []
    (second,) = d.video(2000, avc_seq(other_avcc))
    assert isinstance(first, Track) and isinstance(second, Track)
    assert (second.width, second.height) == (640, 360)
    assert second.config == other_avcc
    assert d.tracks[VIDEO_TRACK_ID] == second

    (a1,) = d.audio(0, b"\xaf\x00" + ASC_LC_44K_STEREO)
    assert isinstance(a1, Track)
    assert (a1.sample_rate, a1.channels, a1.codec) == (44100, 2, "mp4a.40.2")
    assert d.audio(10, b"\xaf\x00" + ASC_LC_44K_STEREO) == []
    (a2,) = d.audio(20, b"\xaf\x00" + bytes([0x11, 0x88]))  # 48 kHz mono
    assert isinstance(a2, Track)
    assert (a2.timescale, a2.channels) == (48000, 1)
    # the sample counter restarts in the new timescale
    (f,) = frames_of(d.audio(1000, aac_frame()))
    assert f.dts == 48000


def test_end_of_sequence_and_command_frames_are_ignored(avcc: bytes) -> None:
    d = FlvDemuxer()
    d.video(0, avc_seq(avcc))
    assert d.video(0, b"\x17\x02\x00\x00\x00") == []
    assert d.video(0, b"\x57\x00") == []  # video info/command frame (start of seek)
    assert d.video(0, b"\x52\x00") == []  # command frame of another codec: still no media
    assert d.video(0, b"") == []
    assert d.audio(0, b"") == []  # RTMP silence message


def test_composition_time_is_signed(avcc: bytes) -> None:
    d = FlvDemuxer()
    d.video(0, avc_seq(avcc))
    (f,) = frames_of(d.video(1000, avc_frame(False, -40)))
    assert (f.dts, f.pts, f.keyframe) == (90_000, 90_000 - 3600, False)


# -- timestamps ------------------------------------------------------------------------


def test_video_timestamp_wrap(avcc: bytes) -> None:
    d = FlvDemuxer()
    d.video(0, avc_seq(avcc))
    stamps = [2**32 - 66, 2**32 - 33, 0, 33, 66]
    dts = [frames_of(d.video(ts, avc_frame(False, 0)))[0].dts for ts in stamps]
    assert dts == [
        (2**32 - 66) * 90,
        (2**32 - 33) * 90,
        2**32 * 90,
        (2**32 + 33) * 90,
        (2**32 + 66) * 90,
    ]
    # A late message from before the wrap stays before it.
    (late,) = frames_of(d.video(2**32 - 10, avc_frame(False, 0)))
    assert late.dts == (2**32 - 10) * 90
    (after,) = frames_of(d.video(100, avc_frame(False, 0)))
    assert after.dts == (2**32 + 100) * 90
    # and a second wrap keeps counting up
    for ts in (2**31, 2**32 - 1, 5):
        (f,) = frames_of(d.video(ts, avc_frame(False, 0)))
    assert f.dts == (2 * 2**32 + 5) * 90


def test_ffmpeg_31_bit_timestamp_wrap(avcc: bytes) -> None:
    # ffmpeg writes FLV timestamps as signed 32-bit values: its counter wraps at 2**31.
    d = FlvDemuxer()
    d.video(0, avc_seq(avcc))
    stamps = [2**31 - 66, 2**31 - 33, 0, 33]
    dts = [frames_of(d.video(ts, avc_frame(False, 0)))[0].dts for ts in stamps]
    assert dts == [(2**31 + off) * 90 for off in (-66, -33, 0, 33)]


def test_jumps_that_are_not_wraps_are_kept(avcc: bytes) -> None:
    d = FlvDemuxer()
    d.video(0, avc_seq(avcc))
    dts = [
        frames_of(d.video(ts, avc_frame(False, 0)))[0].dts
        for ts in (100_000, 50_000, 60_000, 60_000 + 2**31 - 1, 70_000)
    ]
    assert dts == [ts * 90 for ts in (100_000, 50_000, 60_000, 60_000 + 2**31 - 1, 70_000)]


def test_audio_dts_counts_samples_despite_millisecond_rounding() -> None:
    d = FlvDemuxer()
    d.audio(0, b"\xaf\x00" + ASC_LC_44K_STEREO)
    start_ms = 5000
    dts = []
    for i in range(200):
        jitter = (-1, 0, 1)[i % 3]  # encoders and relays add a millisecond here and there
        ms = start_ms + round(i * 1024 * 1000 / 44100) + jitter
        dts.append(frames_of(d.audio(ms, aac_frame()))[0].dts)
    anchor = (start_ms - 1) * 44100 // 1000
    assert dts == [anchor + i * 1024 for i in range(200)]


def test_audio_reanchors_on_real_jumps() -> None:
    d = FlvDemuxer()
    d.audio(0, b"\xaf\x00" + ASC_LC_44K_STEREO)
    au_ms = 1024 * 1000 / 44100

    def push(ms: float) -> int:
        return frames_of(d.audio(round(ms), aac_frame()))[0].dts

    first = push(1000)
    assert first == 44100
    assert push(1000 + au_ms) == first + 1024
    # A 1.5 AU gap is within tolerance: keep counting.
    assert push(1000 + 3.5 * au_ms) == first + 2048
    # Forward jump of one second: re-anchor on the clock.
    assert push(2000) == 2000 * 44100 // 1000
    # Backward jump: re-anchor too (the live layer decides what to do with it).
    assert push(1500) == 1500 * 44100 // 1000
    # Missing three AUs is a real gap.
    base = push(1500 + au_ms)
    assert push(1500 + 5 * au_ms) == round(1500 + 5 * au_ms) * 44100 // 1000 != base + 1024


def test_audio_timestamp_wrap() -> None:
    d = FlvDemuxer()
    d.audio(0, b"\xaf\x00" + ASC_LC_44K_STEREO)
    au_ms = 1024 * 1000 / 44100
    start = 2**32 - 50
    dts = [
        frames_of(d.audio(round(start + i * au_ms) % 2**32, aac_frame()))[0].dts for i in range(6)
    ]
    assert dts == [dts[0] + i * 1024 for i in range(6)]
    assert dts[0] == start * 44100 // 1000


# -- enhanced RTMP avc1 / mp4a ---------------------------------------------------------


def to_enhanced_video(body: bytes) -> bytes:
    frame_type = body[0] >> 4
    packet_type = body[1]
    if packet_type == 0:
        return bytes([0x80 | frame_type << 4 | 0]) + b"avc1" + body[5:]
    if packet_type == 1 and body[2:5] == b"\x00\x00\x00":
        return bytes([0x80 | frame_type << 4 | 3]) + b"avc1" + body[5:]  # CodedFramesX
    if packet_type == 1:
        return bytes([0x80 | frame_type << 4 | 1]) + b"avc1" + body[2:]
    return bytes([0x80 | frame_type << 4 | 2]) + b"avc1"


def to_enhanced_audio(body: bytes) -> bytes:
    return bytes([0x90 | body[1]]) + b"mp4a" + body[2:]


def test_enhanced_rtmp_avc1_and_mp4a_match_legacy(tags: list[FlvTag]) -> None:
    legacy = demux_tags(tags)
    enhanced_tags = [
        FlvTag(
            t.type,
            t.timestamp_ms,
            to_enhanced_video(t.body) if t.type == TAG_VIDEO else to_enhanced_audio(t.body),
        )
        for t in tags
        if t.type in (TAG_AUDIO, TAG_VIDEO)
    ]
    enhanced = demux_tags(enhanced_tags)
    # Enhanced audio has no soundType bit; AAC-LC mono says its channel count itself.
    assert enhanced == legacy


def test_enhanced_mod_ex_is_skipped(avcc: bytes) -> None:
    d = FlvDemuxer()
    nano_offset = b"\x02" + (500_000).to_bytes(3, "big")  # size-1, then 3 bytes of data
    # ModEx (7), then TimestampOffsetNano (0) << 4 | SequenceStart (0)
    assert len(d.video(0, b"\x97" + nano_offset + b"\x00" + b"avc1" + avcc)) == 1
    # ModEx twice around CodedFrames (1)
    body = b"\x97" + nano_offset + b"\x07" + nano_offset + b"\x01" + b"avc1" + b"\x00\x00\x00"
    (f,) = frames_of(d.video(40, body + b"\x00\x00\x00\x01\x65"))
    assert (f.dts, f.pts, f.keyframe) == (3600, 3600, True)
    # 16-bit ModEx size
    long_mod = b"\xff" + (299).to_bytes(2, "big") + bytes(300)
    (f,) = frames_of(d.video(80, b"\xa7" + long_mod + b"\x03avc1\x00\x00\x00\x01\x41"))
    assert (f.dts, f.keyframe) == (7200, False)


# -- refusals --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vp9_mp3_tags(tmp_path_factory: pytest.TempPathFactory) -> list[FlvTag]:
    path = tmp_path_factory.mktemp("media") / "vp9_mp3.flv"
    make_flv(path, seconds=0.3, video_codec="libvpx-vp9", audio_codec="libmp3lame")
    return read_flv_tags(path)


def test_real_vp9_and_mp3_are_refused(vp9_mp3_tags: list[FlvTag]) -> None:
    d = FlvDemuxer()
    video = [t for t in vp9_mp3_tags if t.type == TAG_VIDEO]
    audio = [t for t in vp9_mp3_tags if t.type == TAG_AUDIO]
    assert video and audio
    for t in video:
        with pytest.raises(UnsupportedCodecError) as err:
            d.video(t.timestamp_ms, t.body)
        assert str(err.value) == ("VP9 (enhanced RTMP FourCC vp09) is not supported yet; " + ADVICE)
    for t in audio:
        with pytest.raises(UnsupportedCodecError, match=r"^MP3 audio \(FLV sound format 2\)"):
            d.audio(t.timestamp_ms, t.body)
    assert d.tracks == {}


def test_real_opus_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("media") / "opus.flv"
    make_flv(path, seconds=0.2, video=False, audio_codec="libopus", sample_rate=48000)
    audio = [t for t in read_flv_tags(path) if t.type == TAG_AUDIO]
    assert audio
    for t in audio:
        with pytest.raises(UnsupportedCodecError, match=r"^Opus \(enhanced RTMP FourCC Opus\)"):
            FlvDemuxer().audio(t.timestamp_ms, t.body)


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"\x90vvc1\x01\x02\x03", "VVC (enhanced RTMP FourCC vvc1)"),
        (b"\x91vp09\x00\x00\x00", "VP9 (enhanced RTMP FourCC vp09)"),
        (b"\xa3vp08", "VP8 (enhanced RTMP FourCC vp08)"),
        (b"\x90abcd", "unknown video codec (enhanced RTMP FourCC abcd)"),
        (b"\x96\x00avc1\x00", "multitrack video"),
        (b"\x12\x00", "Sorenson H.263 (FLV video codec id 2)"),
        (b"\x14\x00", "On2 VP6 (FLV video codec id 4)"),
        (b"\x13\x00", "Screen Video (FLV video codec id 3)"),
        (
            b"\x1c\x00\x00\x00\x00",
            "HEVC with the non-standard FLV codec id (FLV video codec id 12)",
        ),
        (b"\x1f", "unknown video codec (FLV video codec id 15)"),
    ],
)
def test_unsupported_video(body: bytes, name: str) -> None:
    with pytest.raises(UnsupportedCodecError) as err:
        FlvDemuxer().video(0, body)
    assert str(err.value).startswith(name)
    assert str(err.value).endswith("is not supported yet; " + ADVICE)


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"\x2f\xff\xfb", "MP3 audio (FLV sound format 2)"),
        (b"\xe2\xff", "MP3 8 kHz audio (FLV sound format 14)"),
        (b"\xb6\x00", "Speex audio (FLV sound format 11)"),
        (b"\x72\x00", "G.711 A-law audio (FLV sound format 7)"),
        (b"\x82\x00", "G.711 mu-law audio (FLV sound format 8)"),
        (b"\x3e\x00\x00", "Linear PCM (little endian) audio (FLV sound format 3)"),
        (b"\x62\x00", "Nellymoser audio (FLV sound format 6)"),
        (b"\x90Opus", "Opus (enhanced RTMP FourCC Opus)"),
        (b"\x90fLaC", "FLAC (enhanced RTMP FourCC fLaC)"),
        (b"\x91ac-3\x00", "AC-3 (enhanced RTMP FourCC ac-3)"),
        (b"\x91ec-3\x00", "E-AC-3 (enhanced RTMP FourCC ec-3)"),
        (b"\x91.mp3\x00", "MP3 (enhanced RTMP FourCC .mp3)"),
        (b"\x95\x00mp4a", "multitrack audio"),
    ],
)
def test_unsupported_audio(body: bytes, name: str) -> None:
    with pytest.raises(UnsupportedCodecError) as err:
        FlvDemuxer().audio(0, body)
    assert str(err.value).startswith(name)
    assert str(err.value).endswith(ADVICE)


# -- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("video", b"\x17", "truncated"),
        ("video", b"\x17\x01\x00\x00", "truncated"),
        ("video", b"\x17\x05\x00\x00\x00", "AVCPacketType 5"),
        ("video", b"\x17\x00\x00\x00\x00\x01\x64\x00", "AVC sequence header"),
        ("video", b"\x90avc", "no FourCC"),
        ("video", b"\x91avc1\x00\x00", "composition time"),
        ("video", b"\x95avc1", "packet type 5"),
        ("video", b"\x97", "ModEx"),
        ("video", b"\x97\x05\x00\x00", "ModEx"),
        ("video", b"\x97\xff\x01", "ModEx size"),
        ("audio", b"\xaf", "AACPacketType"),
        ("audio", b"\xaf\x02", "AACPacketType 2"),
        ("audio", b"\xaf\x00\x12", "AAC sequence header"),
        ("audio", b"\xaf\x00\x17\x80", "AAC sequence header"),  # reserved frequency index
        ("audio", b"\x90mp4", "no FourCC"),
        ("audio", b"\x93mp4a", "packet type 3"),
        ("audio", b"\x97\x00", "ModEx"),
    ],
)
def test_malformed_bodies(kind: str, body: bytes, message: str) -> None:
    d = FlvDemuxer()
    with pytest.raises(FlvFormatError, match=message):
        d.video(0, body) if kind == "video" else d.audio(0, body)


def test_every_truncation_of_real_tags_is_handled(tags: list[FlvTag]) -> None:
    interesting = [t for t in tags if t.type in (TAG_AUDIO, TAG_VIDEO)][:12]
    for t in interesting:
        for cut in range(len(t.body) if len(t.body) < 200 else 40):
            d = FlvDemuxer()
            demux_tags([x for x in interesting if x.body[1] == 0], d)
            handler = d.video if t.type == TAG_VIDEO else d.audio
            with contextlib.suppress(FlvFormatError):
                handler(t.timestamp_ms, t.body[:cut])


def _demuxer_with_tracks(avcc: bytes) -> FlvDemuxer:
    d = FlvDemuxer()
    d.video(0, avc_seq(avcc))
    d.audio(0, b"\xaf\x00" + ASC_LC_44K_STEREO)
    return d


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(["video", "audio"]),
    with_tracks=st.booleans(),
    timestamp=st.integers(min_value=0, max_value=2**32 - 1),
    body=st.one_of(
        st.binary(max_size=64),
        # steer towards the interesting header values
        st.tuples(
            st.sampled_from([0x17, 0x27, 0x57, 0x80, 0x90, 0x91, 0x93, 0x97, 0x9F, 0xAF, 0xA7]),
            st.sampled_from([b"", b"avc1", b"mp4a", b"hvc1", b"\x00", b"\x01", b"\x00\x00\x00"]),
            st.binary(max_size=48),
        ).map(lambda t: bytes([t[0]]) + t[1] + t[2]),
    ),
)
def test_arbitrary_bytes_raise_only_flv_errors(
    kind: str, with_tracks: bool, timestamp: int, body: bytes
) -> None:
    # built inline: hypothesis does not mix with function-scoped fixtures
    d = _demuxer_with_tracks(AVCC_320x240) if with_tracks else FlvDemuxer()
    try:
        out = d.video(timestamp, body) if kind == "video" else d.audio(timestamp, body)
    except (FlvFormatError, UnsupportedCodecError):
        return
    for item in out:
        assert isinstance(item, Track | Frame)


# -- empty sequence headers (ffmpeg's tee muxer) and configuration limits -----------------


def test_an_empty_sequence_header_waits_for_the_real_one(avcc: bytes, other_avcc: bytes) -> None:
    # ffmpeg's tee muxer sends a 5-byte AVC sequence header (no avcC) before the real one.
    d = FlvDemuxer()
    assert d.video(0, b"\x17\x00\x00\x00\x00") == []
    assert d.video(0, to_enhanced_video(b"\x17\x00\x00\x00\x00")) == []
    assert d.audio(0, b"\xaf\x00") == []
    first = d.video(0, avc_seq(avcc))
    assert isinstance(first[0], Track) and (first[0].width, first[0].height) == (320, 240)
    assert frames_of(d.video(40, avc_frame(True, 0)))
    # A new real header mid-stream (a resolution change) replaces the track; an empty one
    # after it changes nothing.
    changed = d.video(80, avc_seq(other_avcc))
    assert isinstance(changed[0], Track) and (changed[0].width, changed[0].height) == (640, 360)
    assert d.video(120, b"\x17\x00\x00\x00\x00") == []
    assert d.tracks[VIDEO_TRACK_ID].width == 640


def test_audio_waits_for_the_video_an_empty_header_announced(avcc: bytes) -> None:
    # The tee muxer's order: empty video header, real audio header and frames, then the real
    # video header. Audio first would make consumers start an audio-only stream.
    d = FlvDemuxer()
    assert d.video(0, b"\x17\x00\x00\x00\x00") == []
    assert d.audio(0, b"\xaf\x00\x11\x90") == []
    assert d.audio(0, aac_frame()) == []
    assert d.audio(21, aac_frame()) == []
    out = d.video(21, avc_seq(avcc))
    assert [type(x) for x in out] == [Track, Track, Frame, Frame]
    assert [x.kind for x in out if isinstance(x, Track)] == [TrackKind.VIDEO, TrackKind.AUDIO]
    assert len(frames_of(d.audio(42, aac_frame()))) == 1  # no longer held


def test_audio_goes_on_alone_when_the_announced_video_never_comes() -> None:
    d = FlvDemuxer()
    d.video(0, b"\x17\x00\x00\x00\x00")
    released: list[Track | Frame] = [*d.audio(0, b"\xaf\x00\x11\x90")]
    for i in range(300):
        released += d.audio(21 * i, aac_frame())
    # Held for a bounded while, then everything is released in order, nothing lost.
    assert isinstance(released[0], Track)
    assert len([x for x in released if isinstance(x, Frame)]) == 300


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, v: int) -> None:
        self.bits += [(v >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, v: int) -> None:
        code = v + 1
        self.u(2 * code.bit_length() - 1, code)

    def data(self) -> bytes:
        bits = [*self.bits, 1]
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def escape(rbsp: bytes) -> bytes:
    """Insert emulation prevention bytes (H.264 7.4.1)."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def baseline_avcc(width_mbs: int, height_mbs: int, *, profile: int = 66, level: int = 30) -> bytes:
    """An avcC whose SPS codes the given picture size in macroblocks."""
    b = _Bits()
    b.u(8, profile)
    b.u(8, 0)
    b.u(8, level)
    b.ue(0)  # sps id
    if profile in (100, 110, 122, 244):
        b.ue(1)  # chroma_format_idc
        b.ue(0)
        b.ue(0)
        b.u(1, 0)
        b.u(1, 0)
    b.ue(0)  # log2_max_frame_num_minus4
    b.ue(2)  # pic_order_cnt_type
    b.ue(1)  # max_num_ref_frames
    b.u(1, 0)
    b.ue(width_mbs - 1)
    b.ue(height_mbs - 1)
    b.u(1, 1)  # frame_mbs_only
    b.u(1, 1)  # direct_8x8_inference
    b.u(1, 0)  # cropping
    b.u(1, 0)  # vui
    sps = b"\x67" + escape(b.data())
    pps = b"\x68\xce\x38\x80"
    return (
        bytes([1, profile, 0, level, 0xFF, 0xE1])
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


def test_a_sane_configuration_is_accepted() -> None:
    track = FlvDemuxer().video(0, avc_seq(baseline_avcc(120, 68)))[0]
    assert isinstance(track, Track) and (track.width, track.height) == (1920, 1088)


@pytest.mark.parametrize(
    ("avcc", "message"),
    [
        # The report's hostile SPS: a picture of about 16M x 16M pixels.
        (baseline_avcc(1 << 20, 1 << 20), r"H\.264 picture 16777216x16777216: width"),
        (baseline_avcc(1024, 2), r"width 16384 is out of range \(16-8192 pixels at level 3\)"),
        (baseline_avcc(40, 1024, level=51), "height 16384 is out of range"),
        (baseline_avcc(40, 1024, level=99), "level_idc 99 is not a level"),
        (baseline_avcc(40, 30, profile=7), "profile_idc 7 is not a known profile"),
    ],
)
def test_out_of_range_video_configuration_is_refused(avcc: bytes, message: str) -> None:
    d = FlvDemuxer()
    with pytest.raises(UnsupportedCodecError, match=message) as info:
        d.video(0, avc_seq(avcc))
    assert ADVICE in str(info.value)
    assert d.tracks == {}


def test_level_6_allows_pictures_up_to_16384() -> None:
    track = FlvDemuxer().video(0, avc_seq(baseline_avcc(1024, 540, profile=100, level=60)))[0]
    assert isinstance(track, Track) and track.width == 16384


@pytest.mark.parametrize(
    ("asc", "message"),
    [
        (bytes([0x17, 0x80, 0x00, 0x7D, 0x08]), "AAC sample rate 250 Hz is out of range"),
        (bytes([0x11, 0xE8]), "AAC with 24 channels is not supported"),
    ],
)
def test_out_of_range_audio_configuration_is_refused(asc: bytes, message: str) -> None:
    with pytest.raises(UnsupportedCodecError, match=message):
        FlvDemuxer().audio(0, b"\xaf\x00" + asc)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", AVCC_320x240[:8], baseline_avcc(120, 68)[:10]]),
    tail=st.binary(max_size=64),
)
def test_malformed_avcc_raises_only_format_or_codec_errors(prefix: bytes, tail: bytes) -> None:
    d = FlvDemuxer()
    with contextlib.suppress(FlvFormatError, UnsupportedCodecError):
        d.video(0, avc_seq(prefix + tail))
