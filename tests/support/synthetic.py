"""Synthetic Tracks and Frames for packager tests (timing only; payloads are placeholders).

Real media is tested end to end with ffmpeg; these exercise the cutting rules exactly.
"""

from __future__ import annotations

from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TRACK_ID, Frame, Track, TrackKind

# A syntactically valid avcC (High profile, level 3.1) with a 320x240 SPS and a PPS.
AVCC = bytes.fromhex(
    "01640016ffe1001b6764001facd940a03da1000003000100000300320f1831960001000568ebecb22c"
)
ASC_48K_STEREO = bytes.fromhex("1190")

VIDEO = Track(
    id=VIDEO_TRACK_ID,
    kind=TrackKind.VIDEO,
    codec="avc1.64001f",
    timescale=90_000,
    config=AVCC,
    width=320,
    height=240,
)
AUDIO = Track(
    id=AUDIO_TRACK_ID,
    kind=TrackKind.AUDIO,
    codec="mp4a.40.2",
    timescale=48_000,
    config=ASC_48K_STEREO,
    sample_rate=48_000,
    channels=2,
)


def av_frames(
    seconds: float,
    *,
    fps: float = 30.0,
    gop: int | list[int] = 30,
    video: bool = True,
    audio: bool = True,
    bframes: bool = False,
    ms_rounding: bool = True,
    start_ms: int = 0,
) -> list[Frame]:
    """Frames in the order an RTMP publisher sends them (interleaved by decode time).

    ``gop`` is a fixed keyframe interval in frames or the list of successive intervals.
    With ``ms_rounding`` video timestamps are whole milliseconds, as FLV carries them.
    """
    out: list[tuple[float, int, Frame]] = []
    if video:
        count = int(seconds * fps)
        keyframes = set()
        if isinstance(gop, int):
            keyframes = set(range(0, count, gop))
        else:
            at = 0
            for interval in gop:
                keyframes.add(at)
                at += interval
        for i in range(count):
            t_ms = start_ms + i * 1000 / fps
            if ms_rounding:
                t_ms = round(t_ms)
            dts = round(t_ms * 90)
            pts = dts + (round(2 * 90_000 / fps) if bframes else 0)
            payload = (
                b"\x00\x00\x00\x04\x65\x88\x84\x00"
                if i in keyframes
                else b"\x00\x00\x00\x02\x41\x9a"
            )
            out.append((t_ms, 0, Frame(VIDEO_TRACK_ID, dts, pts, i in keyframes, payload)))
    if audio:
        n = int(seconds * 48_000 / 1024)
        for i in range(n):
            dts = start_ms * 48 + i * 1024
            out.append((dts / 48, 1, Frame(AUDIO_TRACK_ID, dts, dts, True, b"\x21\x00\x49")))
    out.sort(key=lambda item: (item[0], item[1]))
    return [frame for _, _, frame in out]
