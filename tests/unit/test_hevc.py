"""HEVC parameters: hvcC parsing and validation, codec strings, SPS sizes, hvcC building."""

from __future__ import annotations

import pytest

from golive.media.frame import Track
from golive.media.hevc import (
    HevcConfigError,
    codec_string,
    hvcc_from_nal_units,
    parse_hvcc,
    parse_sps,
)
from tests.support.enhanced_flv import enhanced_tags
from tests.support.flv_file import TAG_VIDEO, demux_tags


@pytest.fixture(scope="session")
def hvcc(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The hvcC of a real libx265 stream: the SequenceStart body after its 5-byte header."""
    first = next(t for t in enhanced_tags(tmp_path_factory, "hevc") if t.type == TAG_VIDEO)
    assert first.body[:5] == b"\x90hvc1"  # enhanced, keyframe, SequenceStart
    return first.body[5:]


def test_real_hvcc(hvcc: bytes) -> None:
    config = parse_hvcc(hvcc)
    # x265 Main profile: compatibility flags 1 and 2 (0x60000000 reversed is 6), progressive
    # and frame-only constraint flags (0x90), level 2 (level_idc 60) for 320x240.
    assert config.codec == "hvc1.1.6.L60.90"
    assert (config.width, config.height) == (320, 240)
    assert (config.bit_depth_luma, config.chroma_format_idc, config.nal_length_size) == (8, 1, 4)
    assert len(config.vps) == len(config.sps) == len(config.pps) == 1


def test_hvcc_rebuilt_from_its_parameter_sets(hvcc: bytes) -> None:
    config = parse_hvcc(hvcc)
    rebuilt = hvcc_from_nal_units(config.vps[0], config.sps[0], config.pps)
    again = parse_hvcc(rebuilt)
    assert again == config
    assert Track(1, "video", again.codec, 90000, rebuilt).sample_entry == "hvc1"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # The examples of ISO/IEC 14496-15 annex E.
        ((0, 1, 0x60000000, 0, 93, bytes([0xB0, 0, 0, 0, 0, 0])), "hvc1.1.6.L93.B0"),
        ((0, 2, 0x20000000, 1, 120, bytes([0xB0, 0x23, 0, 0, 0, 0])), "hvc1.2.4.H120.B0.23"),
        ((1, 4, 0x08000000, 0, 90, bytes(6)), "hvc1.A4.10.L90"),
    ],
)
def test_codec_strings(args: tuple[int, int, int, int, int, bytes], expected: str) -> None:
    assert codec_string(*args) == expected


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h: h[:10], "too short"),
        (lambda h: b"\x02" + h[1:], "configurationVersion 2"),
        (lambda h: h[:40], "has bad length"),
        (lambda h: h[:24], "truncated in NAL unit array #0"),
        (lambda h: h[:21] + bytes([h[21] & 0xFC | 0x02]) + h[22:], "lengthSizeMinusOne"),
    ],
)
def test_broken_hvcc(hvcc: bytes, mutate: object, message: str) -> None:
    with pytest.raises(HevcConfigError, match=message):
        parse_hvcc(mutate(hvcc))  # type: ignore[operator]


def _without_array(hvcc: bytes, nal_type: int) -> bytes:
    """The record with the NAL unit array of ``nal_type`` left out."""
    out = bytearray(hvcc[:22])
    pos = 23
    kept = 0
    arrays = bytearray()
    for _ in range(hvcc[22]):
        start = pos
        count = int.from_bytes(hvcc[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            pos += 2 + int.from_bytes(hvcc[pos : pos + 2], "big")
        if hvcc[start] & 0x3F != nal_type:
            arrays += hvcc[start:pos]
            kept += 1
    return bytes(out) + bytes([kept]) + bytes(arrays)


@pytest.mark.parametrize(("nal_type", "name"), [(32, "VPS"), (33, "SPS"), (34, "PPS")])
def test_hvcc_without_a_parameter_set(hvcc: bytes, nal_type: int, name: str) -> None:
    with pytest.raises(HevcConfigError, match=f"has no {name}"):
        parse_hvcc(_without_array(hvcc, nal_type))


def test_sps_errors(hvcc: bytes) -> None:
    sps = parse_hvcc(hvcc).sps[0]
    with pytest.raises(HevcConfigError, match="not an HEVC SPS"):
        parse_sps(b"\x40\x01\x0c")  # a VPS header
    with pytest.raises(HevcConfigError, match="truncated"):
        parse_sps(sps[:12])
    with pytest.raises(HevcConfigError, match="expected a NAL unit of type 32"):
        hvcc_from_nal_units(sps, sps, sps)


def test_demuxed_frames_stay_length_prefixed(tmp_path_factory: pytest.TempPathFactory) -> None:
    items = demux_tags(enhanced_tags(tmp_path_factory, "hevc"))
    frames = [i for i in items if not isinstance(i, Track) and i.track_id == 1]
    assert frames and frames[0].keyframe
    for frame in frames:
        pos = 0
        while pos < len(frame.data):
            pos += 4 + int.from_bytes(frame.data[pos : pos + 4], "big")
        assert pos == len(frame.data)
