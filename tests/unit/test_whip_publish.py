"""WhipPublish: one timeline for WHIP's video and audio, in the order the packager needs."""

from __future__ import annotations

from golive.ingest.whip.whip_publish import MAX_HELD_AUDIO, WhipPublish
from golive.media.annexb import split_annexb
from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TRACK_ID, Frame, Track, TrackKind
from tests.unit.test_whip_access_units import h264

AAC = Track(AUDIO_TRACK_ID, TrackKind.AUDIO, "mp4a.40.2", 48_000, b"\x11\x90", 0, 0, 48_000, 2)


def test_tracks_come_first_then_audio_from_the_first_keyframe_on() -> None:
    publish = WhipPublish(audio_track=AAC)
    aus = h264(320, 240, frames=12, gop=10)
    # Audio arrives first (t=10.00 s), the video 0.1 s later.
    publish.audio_began(10.0, 777)
    assert publish.audio(-1024, b"a") == []  # held: no picture yet
    assert publish.audio(0, b"b") == []
    assert publish.audio(4800, b"c") == []  # 0.1 s
    assert publish.audio(5824, b"d") == []
    events = publish.video(aus[0], 123_456, 10.1)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Track", "Track", "Frame", "Frame", "Frame"], kinds
    video_track, audio_track, keyframe, *audio = events
    assert isinstance(video_track, Track) and video_track.kind is TrackKind.VIDEO
    assert audio_track is AAC
    assert isinstance(keyframe, Frame) and keyframe.keyframe
    assert keyframe.track_id == VIDEO_TRACK_ID and keyframe.dts == 9000  # 0.1 s at 90 kHz
    # Audio earlier than the first picture is dropped, the rest follows it.
    assert [f.data for f in audio if isinstance(f, Frame)] == [b"c", b"d"]
    assert [f.dts for f in audio if isinstance(f, Frame)] == [4800, 5824]
    # Later audio goes straight out; video counts from its RTP clock.
    assert [f.dts for f in publish.audio(6848, b"e") if isinstance(f, Frame)] == [6848]
    assert publish.aligned_by == "arrival"
    (frame,) = publish.video(aus[1], 123_456 + 3000, 10.2)
    assert isinstance(frame, Frame) and frame.dts == 9000 + 3000 and not frame.keyframe


def test_video_before_the_first_keyframe_is_dropped() -> None:
    publish = WhipPublish(audio_track=None)
    aus = h264(320, 240, frames=21, gop=10)
    sets = [bytes(n) for n in split_annexb(aus[0]) if n[0] & 0x1F in (7, 8)]
    sps_pps = b"".join(b"\x00\x00\x00\x01" + n for n in sets)  # the parameter sets only
    events = publish.video(sps_pps, 0, 1.0)
    assert [type(e).__name__ for e in events] == ["Track"]
    assert publish.video(aus[1], 3000, 1.03) == []  # no keyframe yet
    assert not publish.started
    events = publish.video(aus[10], 30_000, 1.3)
    frames = [e for e in events if isinstance(e, Frame)]
    assert frames and frames[0].keyframe and frames[0].dts == 30_000
    assert publish.started


def test_rtp_wrap_keeps_video_counting() -> None:
    publish = WhipPublish(audio_track=None)
    aus = h264(320, 240, frames=12, gop=10)
    start = 2**32 - 3000 * 3
    dts = []
    for i, au in enumerate(aus):
        for e in publish.video(au, (start + i * 3000) & 0xFFFFFFFF, 5.0 + i / 30):
            if isinstance(e, Frame):
                dts.append(e.dts)
    assert dts == [i * 3000 for i in range(len(aus))]


def test_held_audio_is_bounded() -> None:
    publish = WhipPublish(audio_track=AAC)
    publish.audio_began(0.0, 0)
    for i in range(MAX_HELD_AUDIO + 50):
        assert publish.audio(i * 1024, b"x") == []
    aus = h264(320, 240, frames=2, gop=10)
    out = [e for e in publish.video(aus[0], 0, 0.0) if isinstance(e, Frame)]
    assert len(out) == 1 + MAX_HELD_AUDIO  # the keyframe and the newest held audio


def test_sender_reports_place_the_audio_by_the_publishers_clock() -> None:
    """Audio that arrives 0.3 s after the video it was captured with (a slower path) is put
    where the sender's reports say, not where it arrived."""
    publish = WhipPublish(audio_track=AAC)
    aus = h264(320, 240, frames=12, gop=10)
    video_rtp, audio_rtp = 2**32 - 1500, 5_000  # random origins; the video's wraps
    # Both streams report: video_rtp at wall 1000.0 s, audio_rtp at wall 1000.0 s.
    publish.sender_report("video", 1000.0, video_rtp)
    publish.sender_report("audio", 1000.0, audio_rtp)
    # The first access unit is 0.1 s after the report's instant (9000 ticks on, wrapped).
    events = publish.video(aus[0], (video_rtp + 9000) % 2**32, 50.0)
    assert [e.dts for e in events if isinstance(e, Frame)] == [0]
    # The first Opus packet was captured 0.2 s after that picture but arrives 0.5 s late.
    publish.audio_began(50.5, audio_rtp + round(0.3 * 48_000))
    (frame,) = publish.audio(0, b"a")
    assert isinstance(frame, Frame)
    assert frame.dts == round(0.2 * 48_000)  # 0.2 s after the first picture
    assert publish.aligned_by == "sender reports"


def test_unbelievable_sender_reports_fall_back_to_arrival() -> None:
    publish = WhipPublish(audio_track=AAC)
    aus = h264(320, 240, frames=2, gop=10)
    publish.sender_report("video", 1000.0, 0)
    publish.sender_report("audio", 5000.0, 0)  # an hour apart: another clock
    publish.video(aus[0], 0, 50.0)
    publish.audio_began(50.25, 0)
    (frame,) = publish.audio(0, b"a")
    assert isinstance(frame, Frame) and frame.dts == round(0.25 * 48_000)
    assert publish.aligned_by == "arrival"
