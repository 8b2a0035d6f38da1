"""WHIP's H.264 path: access units (Annex B, as aiortc depacketizes them) -> Track and Frame,
and RTP timestamps extended past their 32-bit wrap. Real H.264 from libx264 (PyAV)."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from golive.ingest.whip.access_units import H264AccessUnits, VideoProblem
from golive.ingest.whip.rtp_timestamps import RtpTimestamps
from golive.media.annexb import split_annexb
from golive.media.avc import nal_unit_types, parse_avcc
from golive.media.frame import VIDEO_TRACK_ID, Frame, Track, TrackKind


def h264(width: int, height: int, frames: int = 12, gop: int = 10) -> list[bytes]:
    """Annex-B access units from libx264, baseline, no B-frames (as WebRTC carries)."""
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, 30)
    ctx.gop_size = gop
    ctx.options = {
        "profile": "baseline",
        "tune": "zerolatency",
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0",
    }
    ctx.open()
    out: list[bytes] = []
    for i in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out


def frames_of(events: list[Track | Frame | VideoProblem]) -> list[Frame]:
    return [e for e in events if isinstance(e, Frame)]


def test_first_access_unit_makes_the_track_and_a_keyframe() -> None:
    units = H264AccessUnits()
    aus = h264(320, 240)
    events = units.push(aus[0], 1000)
    track, frame = events
    assert isinstance(track, Track) and isinstance(frame, Frame)
    assert track.kind is TrackKind.VIDEO and track.id == VIDEO_TRACK_ID
    assert track.codec.startswith("avc1.42")
    assert (track.width, track.height) == (320, 240)
    assert track.timescale == 90_000
    config = parse_avcc(track.config)
    assert config.nal_length_size == 4 and len(config.sps) == 1 and len(config.pps) == 1
    assert frame.keyframe and frame.dts == frame.pts == 1000
    # Parameter sets live in the Track: the payload keeps the slices (length-prefixed).
    types = nal_unit_types(frame.data)
    assert 5 in types and 7 not in types and 8 not in types
    nals = [bytes(n) for n in split_annexb(aus[0]) if n[0] & 0x1F not in (7, 8)]
    assert frame.data == b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def test_keyframe_is_idr_only() -> None:
    units = H264AccessUnits()
    flags = []
    for i, au in enumerate(h264(320, 240, frames=21, gop=10)):
        flags += [f.keyframe for f in frames_of(units.push(au, i * 3000))]
    assert flags[0] and flags[10] and flags[20]
    assert sum(flags) == 3


def test_frames_before_parameter_sets_are_dropped() -> None:
    units = H264AccessUnits()
    aus = h264(320, 240)
    assert units.push(aus[1], 0) == []
    assert units.dropped == 1
    assert units.track is None


def test_sprop_parameter_sets_start_the_picture() -> None:
    aus = h264(320, 240)
    sets = [bytes(n) for n in split_annexb(aus[0]) if n[0] & 0x1F in (7, 8)]
    units = H264AccessUnits(tuple(sets))
    events = units.push(aus[1], 3000)
    assert isinstance(events[0], Track)
    assert isinstance(events[1], Frame) and not events[1].keyframe


def test_a_new_sps_makes_a_new_track_the_same_does_not() -> None:
    units = H264AccessUnits()
    small, large = h264(320, 240), h264(640, 360)
    first = [e for e in units.push(small[0], 0) if isinstance(e, Track)]
    again = [e for e in units.push(small[10], 3000) if isinstance(e, Track)]  # SPS repeated
    assert len(first) == 1 and again == []
    changed = units.push(large[0], 6000)
    track = changed[0]
    assert isinstance(track, Track) and (track.width, track.height) == (640, 360)
    assert track.config != first[0].config
    assert isinstance(changed[1], Frame) and changed[1].keyframe


def test_refused_parameter_sets_are_a_problem_not_a_crash() -> None:
    units = H264AccessUnits()
    aus = h264(320, 240)
    sps = next(bytes(n) for n in split_annexb(aus[0]) if n[0] & 0x1F == 7)
    bad = bytearray(sps)
    bad[1] = 7  # profile_idc 7 is no H.264 profile
    pps = next(bytes(n) for n in split_annexb(aus[0]) if n[0] & 0x1F == 8)
    events = units.push(b"\x00\x00\x00\x01" + bytes(bad) + b"\x00\x00\x00\x01" + pps, 0)
    assert any(isinstance(e, VideoProblem) and "profile" in e.message for e in events)
    assert units.track is None


@pytest.mark.parametrize("start", [0, 2**32 - 3000 * 5, 2**31])
def test_rtp_timestamps_extend_across_the_wrap(start: int) -> None:
    clock = RtpTimestamps()
    values = [clock.extend((start + i * 3000) & 0xFFFFFFFF) for i in range(12)]
    assert values == [values[0] + i * 3000 for i in range(12)]
    # A late (reordered) frame stays behind instead of jumping a whole wrap forward.
    assert clock.extend((start + 9 * 3000) & 0xFFFFFFFF) == values[0] + 9 * 3000
