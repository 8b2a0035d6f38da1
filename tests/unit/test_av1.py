"""AV1 parameters: av1C parsing and validation, sequence headers, OBUs, codec strings."""

from __future__ import annotations

import pytest

from golive.media.av1 import (
    OBU_TEMPORAL_DELIMITER,
    Av1ConfigError,
    av1c_from_sequence_header,
    codec_string,
    find_sequence_header,
    parse_av1c,
    parse_obus,
    strip_temporal_delimiters,
)
from tests.support.enhanced_flv import enhanced_tags
from tests.support.flv_file import TAG_VIDEO, FlvTag


@pytest.fixture(scope="session")
def av1_video(tmp_path_factory: pytest.TempPathFactory) -> list[FlvTag]:
    return [t for t in enhanced_tags(tmp_path_factory, "av1") if t.type == TAG_VIDEO]


@pytest.fixture(scope="session")
def av1c(av1_video: list[FlvTag]) -> bytes:
    first = av1_video[0]
    assert first.body[:5] == b"\x90av01"  # enhanced, keyframe, SequenceStart
    return first.body[5:]


def test_real_av1c(av1c: bytes) -> None:
    config = parse_av1c(av1c)
    # SVT-AV1 main profile, 8 bit; 320x240 fits level 2.0 (seq_level_idx 0), main tier.
    assert config.codec == "av01.0.00M.08"
    header = config.sequence_header
    assert header is not None
    assert (header.width, header.height) == (320, 240)
    assert (header.subsampling_x, header.subsampling_y, header.monochrome) == (1, 1, False)


def test_av1c_rebuilt_from_its_sequence_header(av1c: bytes) -> None:
    found = find_sequence_header(av1c[4:])
    assert found is not None
    rebuilt = av1c_from_sequence_header(found[0])
    assert rebuilt[:3] == av1c[:3]  # marker/version, profile/level, tier/bit depth/chroma
    assert parse_av1c(rebuilt) == parse_av1c(av1c)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0, 8, 0, 8), "av01.0.08M.08"),  # the example of the AV1-ISOBMFF codecs parameter
        ((1, 13, 1, 10), "av01.1.13H.10"),
        ((2, 0, 0, 12), "av01.2.00M.12"),
    ],
)
def test_codec_strings(args: tuple[int, int, int, int], expected: str) -> None:
    assert codec_string(*args) == expected


def test_frames_carry_temporal_delimiters_that_are_stripped(av1_video: list[FlvTag]) -> None:
    frame = next(t for t in av1_video if t.body[0] & 0x0F == 1)  # CodedFrames
    data = frame.body[5:]  # av01 CodedFrames have no composition time
    assert parse_obus(data)[0].type == OBU_TEMPORAL_DELIMITER
    stripped = strip_temporal_delimiters(data)
    assert len(stripped) == len(data) - 2
    assert all(o.type != OBU_TEMPORAL_DELIMITER for o in parse_obus(stripped))
    assert strip_temporal_delimiters(stripped) == stripped


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c[:3], "too short"),
        (lambda c: b"\x01" + c[1:], "marker/version byte is 0x01"),
        (lambda c: c[:1] + bytes([c[1] | 0xE0]) + c[2:], "seq_profile 7 is reserved"),
        (lambda c: c[:1] + bytes([c[1] | 0x08]) + c[2:], "disagree"),
        (lambda c: c[:8], "overruns"),
        (lambda c: c[:4] + b"\x12\x00", "no sequence header"),  # only a temporal delimiter
        (lambda c: c[:4] + b"\x8a", "forbidden bit"),
        (lambda c: c[:4] + b"\x0a\x02" + c[6:8], "sequence header truncated"),
    ],
)
def test_broken_av1c(av1c: bytes, mutate: object, message: str) -> None:
    with pytest.raises(Av1ConfigError, match=message):
        parse_av1c(mutate(av1c))  # type: ignore[operator]


def test_av1c_without_config_obus_has_no_header(av1c: bytes) -> None:
    config = parse_av1c(av1c[:4])
    assert config.sequence_header is None and config.codec == "av01.0.00M.08"
