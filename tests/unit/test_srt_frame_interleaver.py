"""Frames of a TS publisher come out in decode-time order across tracks."""

from __future__ import annotations

from golive.ingest.srt.frame_interleaver import FrameInterleaver
from golive.media.frame import Frame, Track, TrackKind

VIDEO = Track(1, TrackKind.VIDEO, "avc1.42c00d", 90000, b"", width=320, height=240)
AUDIO = Track(2, TrackKind.AUDIO, "mp4a.40.2", 48000, b"", sample_rate=48000, channels=1)


def video(t: float) -> Frame:
    return Frame(1, round(t * 90000), round(t * 90000), True, b"v")


def audio(t: float) -> Frame:
    return Frame(2, round(t * 48000), round(t * 48000), True, b"a")


def times(events: list[object]) -> list[tuple[int, float]]:
    out = []
    for e in events:
        if isinstance(e, Frame):
            out.append((e.track_id, round(e.dts / (90000 if e.track_id == 1 else 48000), 3)))
    return out


def test_late_audio_pes_is_put_before_later_video() -> None:
    il = FrameInterleaver()
    out: list[object] = list(il.track(VIDEO))
    for i in range(8):  # ffmpeg's mpegts: video first, the audio PES arrives later
        out += il.frame(video(1.42 + i / 30))
    out += il.track(AUDIO)
    for i in range(14):
        out += il.frame(audio(1.4 + i * 1024 / 48000))
    out += il.flush()
    got = times(out)
    assert len(got) == 22
    assert got[0] == (2, 1.4)  # the stream starts with its earliest frame
    assert [t for _, t in got] == sorted(t for _, t in got)
    assert out[:2] == [VIDEO, AUDIO]


def test_released_as_soon_as_every_track_has_reached_the_time() -> None:
    il = FrameInterleaver()
    il.track(VIDEO)
    il.track(AUDIO)
    assert il.frame(video(1.0)) == []
    assert times(il.frame(audio(0.99))) == [(2, 0.99)]
    assert times(il.frame(audio(1.01))) == [(1, 1.0)]
    assert times(il.frame(video(1.033))) == [(2, 1.01)]


def test_a_quiet_track_does_not_stall_the_other() -> None:
    il = FrameInterleaver(max_hold=1.0)
    il.track(VIDEO)
    il.track(AUDIO)
    il.frame(audio(0.0))
    out: list[Frame] = []
    for i in range(60):  # audio stops; video goes on
        out += il.frame(video(i / 30))
    assert out, "video was held forever"
    assert times(out)[-1][1] >= 0.9


def test_single_track_stream_flows_after_the_hold() -> None:
    il = FrameInterleaver(max_hold=1.0)
    il.track(VIDEO)
    out: list[Frame] = []
    for i in range(60):
        out += il.frame(video(i / 30))
    assert len(out) >= 25
    assert times(out) == sorted(times(out))


def test_changed_track_releases_what_is_held_first() -> None:
    il = FrameInterleaver()
    il.track(VIDEO)
    il.track(AUDIO)
    il.frame(video(1.0))
    changed = Track(1, TrackKind.VIDEO, "avc1.64001f", 90000, b"x", width=640, height=360)
    out = il.track(changed)
    assert times(out[:-1]) == [(1, 1.0)]
    assert out[-1] is changed
