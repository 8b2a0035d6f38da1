"""The source frame rate the transcoder tells its child (transcode/frame_rate.py)."""

from __future__ import annotations

import pytest

from golive.media.amf0 import decode_all
from golive.media.flv_writer import metadata_tag
from golive.media.frame import Track, TrackKind
from golive.transcode.frame_rate import FrameRateEstimate


def test_unknown_until_two_intervals() -> None:
    rate = FrameRateEstimate()
    rate.add(0, 90_000)
    assert rate.fps is None
    rate.add(3000, 90_000)
    assert rate.fps is None
    rate.add(6000, 90_000)
    assert rate.fps == pytest.approx(30.0)


def test_ntsc_rate_from_millisecond_timestamps() -> None:
    rate = FrameRateEstimate()
    for i in range(20):  # 29.97 fps as whole milliseconds (33, 34, 33, ...), in 90 kHz
        rate.add(round(i * 1001 / 30) * 90, 90_000)
    assert rate.fps is not None and 29.4 < rate.fps < 30.4


def test_a_stall_or_a_jump_back_does_not_move_it() -> None:
    rate = FrameRateEstimate()
    dts = 0
    for _ in range(10):
        rate.add(dts, 90_000)
        dts += 1500  # 60 fps
    rate.add(dts + 90_000, 90_000)  # one second without frames
    rate.add(0, 90_000)  # a timeline that starts again
    assert rate.fps == pytest.approx(60.0)


def test_metadata_tag_carries_size_and_rate() -> None:
    video = Track(1, TrackKind.VIDEO, "avc1.64001f", 90_000, b"", width=1280, height=720)
    tag = metadata_tag(video, 29.97)
    assert tag[0] == 18 and tag[4:7] == b"\x00\x00\x00"  # a script tag at time 0
    size = int.from_bytes(tag[1:4], "big")
    name, values = decode_all(tag[11 : 11 + size])
    assert name == "onMetaData"
    assert isinstance(values, dict)
    assert values["framerate"] == pytest.approx(29.97)
    assert (values["width"], values["height"], values["videocodecid"]) == (1280, 720, 7)
    _, without = decode_all(metadata_tag(video, None)[11:-4])
    assert isinstance(without, dict) and "framerate" not in without
