"""Ladder planning, the ffmpeg command line, the speed meter and the ladder settings."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from golive.config import Settings
from golive.media.frame import Track, TrackKind
from golive.transcode.ffmpeg_command import EncoderOptions, ffmpeg_arguments, filter_graph
from golive.transcode.ladder import (
    DEFAULT_LADDER,
    H264_FALLBACK,
    PASSTHROUGH_LADDER,
    EncodedRendition,
    Rung,
    RungKind,
    check_ladder,
    plan_ladder,
    with_h264_fallback,
)
from golive.transcode.speed import TranscodeSpeed


def video(width: int, height: int) -> Track:
    return Track(1, TrackKind.VIDEO, "avc1.64001f", 90_000, b"", width=width, height=height)


def sizes(width: int, height: int, **kw: object) -> list[tuple[str, int, int]]:
    plan = plan_ladder(DEFAULT_LADDER, video(width, height), **kw)  # type: ignore[arg-type]
    return [(r.name, r.width, r.height) for r in plan.encoded]


def test_default_ladder_for_1080p() -> None:
    assert sizes(1920, 1080) == [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]
    plan = plan_ladder(DEFAULT_LADDER, video(1920, 1080))
    assert plan.audio_only
    assert [r.bitrate for r in plan.encoded] == [3_000_000, 1_200_000, 700_000]
    assert plan.most_expensive is not None and plan.most_expensive.name == "720p"


@pytest.mark.parametrize(
    ("width", "height", "names"),
    [
        (1280, 720, ["480p", "360p"]),  # at the source's size: skipped
        (854, 480, ["360p"]),
        (640, 360, []),
        (426, 240, []),
        (720, 1280, ["480p", "360p"]),  # portrait: the short side decides
    ],
)
def test_rungs_at_or_above_the_source_are_skipped(
    width: int, height: int, names: list[str]
) -> None:
    assert [n for n, _, _ in sizes(width, height)] == names


def test_portrait_and_odd_aspect_ratios_keep_even_sizes() -> None:
    assert sizes(720, 1280)[0] == ("480p", 480, 854)
    assert sizes(1440, 1080)[0] == ("720p", 960, 720)
    for _, w, h in sizes(1366, 768):
        assert w % 2 == 0 and h % 2 == 0


def test_excluded_rungs_and_audio_only_streams() -> None:
    assert [n for n, _, _ in sizes(1920, 1080, exclude={"720p"})] == ["480p", "360p"]
    assert plan_ladder(DEFAULT_LADDER, None).encoded == ()
    assert plan_ladder(PASSTHROUGH_LADDER, video(1920, 1080)).encoded == ()


def test_rung_and_ladder_validation() -> None:
    with pytest.raises(ValueError, match="even"):
        Rung("x", height=721, bitrate=1_000_000)
    with pytest.raises(ValueError, match="bitrate"):
        Rung("x", height=720, bitrate=10)
    with pytest.raises(ValueError, match="name"):
        Rung("X Y", height=720, bitrate=1_000_000)
    with pytest.raises(ValueError, match="reserved"):
        Rung("audio", height=720, bitrate=1_000_000)
    with pytest.raises(ValueError, match="must be named"):
        Rung("src", RungKind.SOURCE)
    with pytest.raises(ValueError, match="exactly one source"):
        check_ladder([Rung("audio", RungKind.AUDIO)])
    with pytest.raises(ValueError, match="unique"):
        check_ladder([*DEFAULT_LADDER, Rung("720p", height=720, bitrate=2_000_000)])


def test_ladders_from_settings() -> None:
    settings = Settings(
        channel_ladders={
            "quiet": "passthrough",
            "small": [
                {"name": "source", "kind": "source"},
                {"name": "240p", "height": 240, "bitrate": 400_000},
            ],
        }
    )
    assert settings.ladder_for("anyone") == list(DEFAULT_LADDER)
    assert settings.ladder_for("quiet") == list(PASSTHROUGH_LADDER)
    assert [r.name for r in settings.ladder_for("small")] == ["source", "240p"]
    with pytest.raises(ValidationError, match="exactly one source"):
        Settings(transcode_ladder=[{"name": "audio", "kind": "audio"}])
    with pytest.raises(ValidationError):
        Settings(transcode_encoder="h265_magic")


RENDITIONS = (
    EncodedRendition("720p", 1280, 720, 30, 3_000_000),
    EncodedRendition("360p", 640, 360, 0, 700_000),
)


def test_command_line_of_one_child() -> None:
    args = ffmpeg_arguments("ffmpeg", RENDITIONS, [7, 9], EncoderOptions())
    assert args[0] == "ffmpeg"
    assert args[args.index("-i") - 2 : args.index("-i") + 2] == ["-f", "flv", "-i", "pipe:0"]
    assert "-copyts" in args
    # One output per rendition, each on its own descriptor, keyframes forced on the source's.
    assert args.count("-force_key_frames") == 2
    assert [a for a in args if a.startswith("pipe:")] == ["pipe:0", "pipe:7", "pipe:9"]
    assert args.count("libx264") == 2 and args.count("zerolatency") == 2
    first = args.index("-map")
    assert args[first + 1] == "[v0]" and "3000000" in args[first : args.index("pipe:7")]
    graph = filter_graph(RENDITIONS, EncoderOptions())
    assert graph.startswith("[0:v]split=2[s0][s1];")
    assert "scale=1280:720" in graph and "scale=640:360" in graph
    # The 30 fps cap keeps keyframes; the uncapped rung has no select.
    assert graph.count("select=") == 1 and "key" in graph
    single = filter_graph(RENDITIONS[1:], EncoderOptions())
    assert single == "[0:v]scale=640:360,format=yuv420p[v0]"
    with pytest.raises(ValueError):
        ffmpeg_arguments("ffmpeg", RENDITIONS, [7], EncoderOptions())


@pytest.mark.parametrize("encoder", ["h264_nvenc", "h264_vaapi", "h264_qsv"])
def test_hardware_encoders(encoder: str) -> None:
    args = ffmpeg_arguments("ffmpeg", RENDITIONS, [7, 9], EncoderOptions(encoder=encoder))
    assert args.count(encoder) == 2
    assert "libx264" not in args
    if encoder != "h264_nvenc":
        assert "hwupload" in args[args.index("-filter_complex") + 1]
    with pytest.raises(ValueError):
        dataclasses.replace(EncoderOptions(), encoder="h264_magic")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_speed_and_lag() -> None:
    clock = Clock()
    speed = TranscodeSpeed(window=4.0, clock=clock)
    assert speed.lag is None and speed.sample() is None
    for second in range(8):
        clock.now = 100.0 + second
        speed.input(second + 0.2)
        speed.output("720p", second * 0.5)  # half real time
        speed.output("360p", second * 1.0)
        measured = speed.sample()
    assert measured == pytest.approx(0.5)
    assert speed.lag == pytest.approx(7.2 - 3.5)
    speed.forget("720p")
    assert speed.lag == pytest.approx(0.2)
    speed.reset()
    assert speed.lag is None


# -- the H.264 fallback for sources that are not H.264 ----------------------------------------


def hevc(width: int, height: int) -> Track:
    return Track(1, TrackKind.VIDEO, "hvc1.1.6.L93.90", 90_000, b"", width=width, height=height)


@pytest.mark.parametrize(
    ("ladder", "source", "expected"),
    [
        # No rung fits a small source: the fallback at the source's size.
        (DEFAULT_LADDER, hevc(320, 240), [("h264", 320, 240)]),
        # Passthrough (also what a stream over max_transcoders gets): the fallback, 720p at most.
        (PASSTHROUGH_LADDER, hevc(1920, 1080), [("h264", 1280, 720)]),
        (PASSTHROUGH_LADDER, hevc(1080, 1920), [("h264", 720, 1280)]),
        (PASSTHROUGH_LADDER, hevc(321, 241), [("h264", 320, 240)]),
        # Encoded rungs exist: they are H.264 already, no fallback.
        (
            DEFAULT_LADDER,
            hevc(1920, 1080),
            [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)],
        ),
        # An H.264 source never gets the fallback.
        (PASSTHROUGH_LADDER, video(1920, 1080), []),
        (DEFAULT_LADDER, video(320, 240), []),
    ],
)
def test_fallback_rendition(
    ladder: tuple[Rung, ...], source: Track, expected: list[tuple[str, int, int]]
) -> None:
    plan = plan_ladder(with_h264_fallback(ladder), source)
    assert [(r.name, r.width, r.height) for r in plan.encoded] == expected
    is_fallback = expected == [] or expected[0][0] != "h264"
    assert (plan.fallback_reason is None) == is_fallback
    if plan.fallback_reason is not None:
        assert "hvc1.1.6.L93.90" in plan.fallback_reason


def test_fallback_rung_is_added_once_and_can_be_configured() -> None:
    assert with_h264_fallback(DEFAULT_LADDER) == (*DEFAULT_LADDER, H264_FALLBACK)
    own = Rung("compat", RungKind.FALLBACK, height=360, bitrate=800_000)
    ladder = (*PASSTHROUGH_LADDER, own)
    assert with_h264_fallback(ladder) == ladder
    plan = plan_ladder(ladder, hevc(1920, 1080))
    assert [(r.name, r.width, r.height, r.bitrate) for r in plan.encoded] == [
        ("compat", 640, 360, 800_000)
    ]
    # A video rung already named h264 keeps rendition names unique.
    named = (Rung("source", RungKind.SOURCE), Rung("h264", height=480, bitrate=1_000_000))
    assert with_h264_fallback(named)[-1].name == "h264-fallback"
    with pytest.raises(ValueError, match="at most one fallback"):
        check_ladder((*ladder, H264_FALLBACK))
    # Shed for lack of CPU: gone, as any rung.
    assert plan_ladder(ladder, hevc(1920, 1080), exclude={"compat"}).encoded == ()
