"""A stream's WebRTC source: NAL units, RTP made once, keyframe gating, the B-frame switch,
Opus."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from array import array
from fractions import Fraction

import av
import pytest
from aiortc.rtp import RtpPacket

from golive.media.frame import Frame, Track, TrackKind
from golive.webrtc.h264_access_units import AccessUnits
from golive.webrtc.opus_transcode import OpusTranscoder
from golive.webrtc.rendition_tee import RenditionTee
from golive.webrtc.rtp_fanout import RtpBatch
from golive.webrtc.whep_source import SOURCE, WhepSource, WhepViewer
from tests.unit.test_avc import baseline_sps, make_avcc

SPS = baseline_sps()
PPS = b"\x68\xce\x3c\x80"
AVCC = make_avcc(SPS, PPS)
VIDEO = Track(1, TrackKind.VIDEO, "avc1.42c01f", 90_000, AVCC, width=1280, height=720)
IDR = b"\x65\x88\x84\x00"
NON_IDR = b"\x41\x9a\x02"


def prefixed(*nals: bytes) -> bytes:
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def frame(pts: int, *, key: bool = False, dts: int | None = None, track: int = 1) -> Frame:
    data = prefixed(IDR if key else NON_IDR)
    return Frame(track, pts if dts is None else dts, pts, key, data)


class Sink:
    """A viewer's sink that keeps what it is given."""

    def __init__(self) -> None:
        self.batches: list[RtpBatch] = []
        self.closed = False

    async def send(self, batch: RtpBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        self.closed = True


def watch(source: WhepSource, *, audio: bool = False, ready: bool = True) -> WhepViewer:
    viewer = source.subscribe(audio=audio, ready=ready)
    viewer.video = Sink()
    if viewer.wants_audio:
        viewer.audio = Sink()
    return viewer


def sink(viewer: WhepViewer, kind: str = "video") -> Sink:
    found = viewer.video if kind == "video" else viewer.audio
    assert isinstance(found, Sink)
    return found


async def drain(source: WhepSource, viewer: WhepViewer, kind: str = "video") -> list[RtpBatch]:
    await source.sent()
    out = sink(viewer, kind).batches
    sink(viewer, kind).batches = []
    return out


def pts(source: WhepSource, batches: list[RtpBatch]) -> list[int]:
    """The media time of each batch, from its packets' RTP timestamps."""
    offset = source._video_rtp.timestamp_offset
    return [(RtpPacket.parse(b.packets[0]).timestamp - offset) & 0xFFFFFFFF for b in batches]


def nals(*units: object) -> list[bytes]:
    return [bytes(u) for u in units]  # type: ignore[call-overload]


# -- NAL units ------------------------------------------------------------------------------


def test_a_keyframe_gets_the_parameter_sets_in_front() -> None:
    units = AccessUnits(AVCC)
    assert nals(*units.nal_units(prefixed(IDR), keyframe=True)) == [SPS, PPS, IDR]
    assert nals(*units.nal_units(prefixed(NON_IDR), keyframe=False)) == [NON_IDR]


def test_a_keyframe_carrying_its_own_sps_is_left_alone() -> None:
    units = AccessUnits(AVCC)
    aud = b"\x09\xf0"
    own = prefixed(aud, SPS, PPS, IDR)
    assert nals(*units.nal_units(own, keyframe=True)) == [aud, SPS, PPS, IDR]


def test_a_truncated_frame_is_an_error() -> None:
    with pytest.raises(ValueError, match="runs past the end"):
        AccessUnits(AVCC).nal_units(b"\x00\x00\x00\x09\x65", keyframe=False)
    with pytest.raises(ValueError, match="truncated NAL length"):
        AccessUnits(AVCC).nal_units(prefixed(IDR) + b"\x00\x00", keyframe=False)


def test_two_byte_lengths_are_split_too() -> None:
    units = AccessUnits(make_avcc(SPS, PPS, length_size=2))
    data = len(NON_IDR).to_bytes(2, "big") + NON_IDR
    assert nals(*units.nal_units(data, keyframe=False)) == [NON_IDR]


# -- keyframe gating, RTP once ---------------------------------------------------------------


async def test_a_viewer_starts_at_the_next_keyframe() -> None:
    source = WhepSource("demo")
    source.on_tracks([VIDEO])
    assert source.feed == SOURCE and source.unavailable() is None
    viewer = watch(source, audio=True)
    assert viewer.audio is None and not viewer.wants_audio  # the stream has no audio
    for t in (0, 3000, 6000):
        source.on_frame(frame(t))
    assert await drain(source, viewer) == []
    source.on_frame(frame(9000, key=True))
    source.on_frame(frame(12000))
    batches = await drain(source, viewer)
    assert pts(source, batches) == [9000, 12000]
    keyframe = [RtpPacket.parse(p) for p in batches[0].packets]
    assert [p.payload for p in keyframe] == [SPS, PPS, IDR]
    assert [p.marker for p in keyframe] == [0, 0, 1]
    assert {p.ssrc for p in keyframe} == {source.video_ssrc}
    assert batches[0].payload_bytes == len(SPS + PPS + IDR)
    assert viewer.started and viewer.keyframes == 1


async def test_sequence_numbers_run_on_across_frames_for_the_stream() -> None:
    source = WhepSource("demo", rng=random.Random(7))
    source.on_tracks([VIDEO])
    viewer = watch(source)
    source.on_frame(frame(0, key=True))
    source.on_frame(frame(3000))
    packets = [RtpPacket.parse(p) for b in await drain(source, viewer) for p in b.packets]
    first = packets[0].sequence_number
    assert first < 0x8000  # far from a wrap
    assert [p.sequence_number for p in packets] == [first, first + 1, first + 2, first + 3]


async def test_viewers_share_the_same_packets_and_each_waits_for_its_keyframe() -> None:
    source = WhepSource("demo")
    source.on_tracks([VIDEO])
    first = watch(source)
    source.on_frame(frame(0, key=True))
    second = watch(source)
    source.on_frame(frame(3000))
    source.on_frame(frame(6000, key=True))
    a, b = await drain(source, first), await drain(source, second)
    assert pts(source, a) == [0, 3000, 6000]
    assert pts(source, b) == [6000]
    assert a[2] is b[0]  # made once, shared


async def test_a_discontinuity_makes_viewers_wait_for_a_keyframe_again() -> None:
    source = WhepSource("demo")
    source.on_tracks([VIDEO])
    viewer = watch(source)
    source.on_frame(frame(0, key=True))
    source.on_discontinuity()
    source.on_frame(frame(3000))
    assert pts(source, await drain(source, viewer)) == [0]


async def test_sender_reports_map_media_time_to_one_wall_clock() -> None:
    now = [1000.0]
    source = WhepSource("demo", wall=lambda: now[0])
    source.on_tracks([VIDEO])
    viewer = watch(source)
    source.on_frame(frame(90_000, key=True))
    now[0] += 5  # the wall clock moves; the map stays on media time
    source.on_frame(frame(135_000))
    a, b = await drain(source, viewer)
    assert b.ntp - a.ntp == 1 << 31  # half a second later
    assert a.ntp >> 32 == 1000 + 2_208_988_800


async def test_a_viewer_far_behind_restarts_at_a_keyframe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = WhepSource("demo")
    source.on_tracks([VIDEO])
    viewer = watch(source)
    source.on_frame(frame(0, key=True))
    for i in range(1, 200):  # the loop never runs the fan-out: the node is out of CPU
        source.on_frame(frame(i * 3000))
    assert not viewer.started
    assert "restarting them at a keyframe" in caplog.text
    source.on_frame(frame(999_000, key=True))
    assert viewer.started
    assert pts(source, await drain(source, viewer))[-1] == 999_000


async def test_unsubscribe_and_end_close_the_sinks() -> None:
    source = WhepSource("demo")
    source.on_tracks([VIDEO])
    ended: list[bool] = []
    source.add_end_listener(lambda: ended.append(True))
    gone, kept = watch(source), watch(source)
    source.unsubscribe(gone)
    assert gone.ended and sink(gone).closed and source.viewers == 1
    source.on_end()
    assert kept.ended and sink(kept).closed and ended == [True]
    assert source.unavailable() == "the stream has ended"


# -- B-frames -------------------------------------------------------------------------------


class FakePackager:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.closed: list[str] = []

    def open_rendition(self, rendition: object) -> FakePackager:
        return self

    def close_rendition(self, name: str) -> None:
        self.closed.append(name)

    def on_tracks(self, tracks: object) -> None:
        pass

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    def on_discontinuity(self) -> None:
        pass

    def on_end(self) -> None:
        pass


class Rendition:
    def __init__(self, name: str, height: int) -> None:
        self.name = name
        self.height = height


async def test_a_b_frame_source_switches_viewers_to_the_highest_rendition() -> None:
    source = WhepSource("demo")
    packager = FakePackager()
    tee = RenditionTee(packager, source)
    source.on_tracks([VIDEO])
    viewer = watch(source)
    source.on_frame(frame(0, key=True))
    source.on_frame(frame(6000, dts=3000))  # out of order: B-frames
    assert source.bframes
    assert source.feed is None
    assert "B-frames" in (source.unavailable() or "")
    low, high = (
        tee.open_rendition(Rendition("360p", 360)),
        tee.open_rendition(Rendition("720p", 720)),
    )
    small = Track(1, TrackKind.VIDEO, "avc1.42c01f", 90_000, AVCC, width=640, height=360)
    low.on_tracks([small])
    assert source.feed == "360p"
    high.on_tracks([VIDEO])
    assert source.feed == "720p"
    low.on_frame(frame(9000, key=True))
    high.on_frame(frame(9000, key=True))
    source.on_frame(frame(12000, dts=9000))
    batches = await drain(source, viewer)
    assert pts(source, batches) == [0, 9000]  # the source's keyframe, then 720p's
    assert len(packager.frames) == 2  # the packager still got both renditions
    tee.close_rendition("720p")
    assert packager.closed == ["720p"] and source.feed == "360p"
    assert not viewer.started


# -- Opus -----------------------------------------------------------------------------------


def aac_frames(seconds: float, rate: int = 44100) -> tuple[bytes, list[tuple[int, bytes]]]:
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate = rate
    encoder.layout = "stereo"
    encoder.format = "fltp"
    encoder.time_base = Fraction(1, rate)
    encoder.open()
    out: list[tuple[int, bytes]] = []
    t = 0
    samples = int(seconds * rate)
    while t < samples:
        tone = array("f", (math.sin(2 * math.pi * 440 * (t + i) / rate) for i in range(1024)))
        audio = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in audio.planes:
            plane.update(tone.tobytes())
        audio.sample_rate = rate
        audio.pts = t
        out += [(p.pts or 0, bytes(p)) for p in encoder.encode(audio)]
        t += 1024
    return bytes(encoder.extradata or b""), out


def test_aac_becomes_20ms_opus_packets_on_a_48k_clock() -> None:
    asc, frames = aac_frames(1.0)
    opus = OpusTranscoder(asc).transcode(frames, 44100)
    assert 45 <= len(opus) <= 50
    first = frames[0][0] * 48000 // 44100
    assert [p.pts for p in opus[:3]] == [first, first + 960, first + 1920]
    decoder = av.CodecContext.create("opus", "r")
    decoded = [f for p in opus for f in decoder.decode(av.Packet(p.data))]
    assert decoded and all(f.sample_rate == 48000 and f.samples == 960 for f in decoded)


def test_a_bad_aac_frame_is_skipped() -> None:
    asc, frames = aac_frames(0.2)
    opus = OpusTranscoder(asc).transcode([(0, b"\xff\xff\xff"), *frames], 44100)
    assert opus


async def test_audio_is_transcoded_off_the_loop_once_for_every_started_viewer() -> None:
    asc, frames = aac_frames(0.5)
    audio_track = Track(2, TrackKind.AUDIO, "mp4a.40.2", 44100, asc, sample_rate=44100, channels=2)
    source = WhepSource("demo")
    source.on_tracks([VIDEO, audio_track])
    first, second = watch(source, audio=True), watch(source, audio=True)
    assert first.audio is not None and second.audio is not None
    source.on_frame(frame(0, key=True))
    for dts, payload in frames:
        source.on_frame(Frame(2, dts, dts, True, payload))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if sum(len(b.packets) for b in sink(first, "audio").batches) >= 15:
            break
    a, b = await drain(source, first, "audio"), await drain(source, second, "audio")
    assert a == b and a[0] is b[0]  # made once, shared
    packets = [RtpPacket.parse(p) for batch in a for p in batch.packets]
    assert len(packets) >= 15
    assert {(p.ssrc, p.payload_type) for p in packets} == {(source.audio_ssrc, 111)}
    assert [p.marker for p in packets[:2]] == [1, 0]  # the start of the audio
    steps = {(q.timestamp - p.timestamp) & 0xFFFFFFFF for p, q in itertools.pairwise(packets)}
    assert steps == {960}  # 20 ms on the 48 kHz clock
    seqs = [p.sequence_number for p in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]
    decoder = av.CodecContext.create("opus", "r")
    assert decoder.decode(av.Packet(packets[0].payload))


async def test_a_connecting_viewer_gets_nothing_then_starts_at_a_keyframe() -> None:
    source = WhepSource("demo")
    source.on_tracks([VIDEO])
    assert source.keyframe_interval is None
    viewer = watch(source, ready=False)
    source.on_frame(frame(0, key=True))
    source.on_frame(frame(3000))
    assert await drain(source, viewer) == [] and not viewer.started
    viewer.ready = True  # connected
    source.on_frame(frame(6000))
    source.on_frame(frame(180_000, key=True))
    assert pts(source, await drain(source, viewer)) == [180_000]
    assert source.keyframe_interval == 2.0


async def test_a_source_that_is_not_h264_is_served_from_an_h264_rendition() -> None:
    source = WhepSource("demo")
    assert source.unavailable() == "the stream has no H.264 video yet"
    hevc = Track(1, TrackKind.VIDEO, "hvc1.1.6.L93.B0", 90_000, b"\x01" * 23)
    source.on_tracks([hevc])
    assert source.feed is None and source.why_not_source == "source is not H.264"
    assert "source is not H.264 and no transcoded H.264 rendition" in (source.unavailable() or "")
    tee = RenditionTee(FakePackager(), source)
    fallback = tee.open_rendition(Rendition("720p", 720))
    fallback.on_tracks([VIDEO])
    assert source.feed == "720p" and source.unavailable() is None
    viewer = watch(source)
    source.on_frame(Frame(1, 0, 0, True, b"\x00\x00\x00\x02\x26\x01"))  # HEVC: ignored
    fallback.on_frame(frame(0, key=True))
    assert pts(source, await drain(source, viewer)) == [0]
