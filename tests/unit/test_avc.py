"""avcC and SPS parsing, checked against what libavcodec decodes from real encoder output."""

from __future__ import annotations

import contextlib
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media.avc import (
    AvcConfigError,
    codec_string,
    contains_idr,
    nal_unit_types,
    parse_avcc,
    parse_sps,
)
from golive.media.frame import Frame
from tests.support.flv_file import demux_tags, ffmpeg_exe, read_flv_tags, sample_flv

# name: (ffmpeg input size, rate, encoder args, expected profile_idc, chroma_format_idc)
VARIANTS: dict[str, tuple[str, str, list[str], int, int]] = {
    "high": ("320x240", "30", ["-c:v", "libx264"], 100, 1),
    "crop_1080p": ("1920x1080", "25", ["-c:v", "libx264", "-preset", "veryfast"], 100, 1),
    # x264's ultrafast preset turns off CABAC and 8x8 transforms: Constrained Baseline
    "ultrafast_720p": ("1280x720", "60", ["-c:v", "libx264", "-preset", "ultrafast"], 66, 1),
    "odd_444": ("321x241", "25", ["-c:v", "libx264", "-pix_fmt", "yuv444p"], 244, 3),
    "high_422": ("320x240", "25", ["-c:v", "libx264", "-pix_fmt", "yuv422p"], 122, 2),
    "high10": ("320x240", "50", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"], 110, 1),
    "gray": ("320x240", "25", ["-c:v", "libx264", "-pix_fmt", "gray"], 100, 0),
    "scaling_lists": (
        "320x240",
        "30000/1001",
        ["-c:v", "libx264", "-x264-params", "cqm=jvt"],
        100,
        1,
    ),
    "interlaced": (
        "1920x1080",
        "25",
        ["-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ildct+ilme"],
        77,  # interlacing needs Main
        1,
    ),
    "no_bframes_poc2": ("640x360", "24", ["-c:v", "libx264", "-bf", "0"], 100, 1),
    "openh264_baseline": ("176x144", "15", ["-c:v", "libopenh264"], 66, 1),
}

_generated: dict[str, Path] = {}


def encoded(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Two frames of ``name`` in an MP4 (so ffmpeg writes the avcC), generated once."""
    if name not in _generated:
        size, rate, args, _, _ = VARIANTS[name]
        path = tmp_path_factory.mktemp("avc") / f"{name}.mp4"
        subprocess.run(
            [
                ffmpeg_exe(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={size}:rate={rate}",
                *args,
                "-frames:v",
                "2",
                str(path),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _generated[name] = path
    return _generated[name]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_real_encoder_output_matches_decoder(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    _, rate, _, profile_idc, chroma = VARIANTS[name]
    with av.open(str(encoded(tmp_path_factory, name))) as container:
        stream = container.streams.video[0]
        avcc = bytes(stream.codec_context.extradata)
        frame = next(container.decode(stream))
        decoded_size = (frame.width, frame.height)
        decoded_level = stream.codec_context.level

    config = parse_avcc(avcc)
    sps = config.sps_info
    assert (config.width, config.height) == decoded_size
    assert (sps.width, sps.height) == decoded_size
    assert sps.profile_idc == config.profile == profile_idc
    assert sps.level_idc == config.level == decoded_level
    assert sps.chroma_format_idc == chroma
    assert config.codec == f"avc1.{avcc[1]:02x}{avcc[2]:02x}{avcc[3]:02x}"
    assert config.nal_length_size == 4
    assert len(config.sps) == len(config.pps) == 1
    assert config.sps[0][0] & 0x1F == 7 and config.pps[0][0] & 0x1F == 8
    if name == "interlaced":
        assert not sps.frame_mbs_only
    if name == "high10":
        assert sps.bit_depth_luma == sps.bit_depth_chroma == 10
    if sps.frame_rate is not None:
        assert sps.frame_rate == pytest.approx(float(Fraction(rate)))
    if name.startswith(("high", "crop", "scaling")):
        assert sps.frame_rate is not None  # x264 always writes VUI timing
        assert sps.sar == (1, 1)


def test_ffmpeg_flv_sample(tmp_path_factory: pytest.TempPathFactory) -> None:
    out = demux_tags(read_flv_tags(sample_flv(tmp_path_factory)))
    frames = [o for o in out if isinstance(o, Frame) and o.track_id == 1]
    keyframes = [f for f in frames if f.keyframe]
    assert keyframes and all(contains_idr(f.data) for f in keyframes)
    assert not any(contains_idr(f.data) for f in frames if not f.keyframe)
    # x264 puts an SEI before the first IDR slice
    assert nal_unit_types(frames[0].data) == [6, 5]


def test_codec_string() -> None:
    assert codec_string(0x64, 0x00, 0x1F) == "avc1.64001f"
    assert codec_string(66, 0xC0, 30) == "avc1.42c01e"


# -- SPS from a bit writer, for paths encoders here do not take ------------------------


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> BitWriter:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def ue(self, value: int) -> BitWriter:
        code = value + 1
        length = code.bit_length()
        return self.u(length - 1, 0).u(length, code)

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def escape(rbsp: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def baseline_sps(
    *,
    poc_type: int = 1,
    width_mbs: int = 80,
    height_units: int = 45,
    frame_mbs_only: bool = True,
    crop: tuple[int, int, int, int] | None = None,
    vui: bool = False,
) -> bytes:
    w = BitWriter().u(8, 66).u(8, 0xC0).u(8, 31).ue(0)
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(poc_type)
    if poc_type == 0:
        w.ue(2)
    elif poc_type == 1:
        w.u(1, 0).se(-2).se(3).ue(3).se(1).se(-1).se(0)
    w.ue(1).u(1, 0).ue(width_mbs - 1).ue(height_units - 1)
    w.u(1, int(frame_mbs_only))
    if not frame_mbs_only:
        w.u(1, 0)
    w.u(1, 1)
    if crop:
        w.u(1, 1)
        for c in crop:
            w.ue(c)
    else:
        w.u(1, 0)
    w.u(1, int(vui))
    if vui:
        w.u(1, 1).u(8, 255).u(16, 4).u(16, 3)  # extended SAR 4:3
        w.u(1, 0)  # overscan
        w.u(1, 1).u(3, 5).u(1, 0).u(1, 1).u(8, 1).u(8, 1).u(8, 1)  # video signal + colour
        w.u(1, 1).ue(0).ue(0)  # chroma loc
        w.u(1, 1).u(32, 1001).u(32, 60000).u(1, 1)  # 29.97 fps
        w.u(1, 0).u(1, 0).u(1, 0).u(1, 0)  # HRD/pic struct/bitstream restriction off
    return b"\x67" + escape(w.rbsp())


def test_baseline_sps_with_poc_type_1_cropping_and_vui() -> None:
    sps = parse_sps(baseline_sps(crop=(0, 0, 0, 4), vui=True))
    assert (sps.profile_idc, sps.constraint_flags, sps.level_idc) == (66, 0xC0, 31)
    assert (sps.width, sps.height) == (1280, 720 - 8)  # 4:2:0 crop unit is 2 rows
    assert sps.sar == (4, 3)
    assert sps.frame_rate == pytest.approx(29.97, abs=0.001)
    assert sps.chroma_format_idc == 1


def test_sps_without_vui_has_no_frame_rate() -> None:
    sps = parse_sps(baseline_sps(poc_type=0))
    assert (sps.width, sps.height, sps.frame_rate, sps.sar) == (1280, 720, None, (0, 0))


def test_field_coding_doubles_map_units_and_crop_unit() -> None:
    # 1080i: 68 field map units of 16 rows -> 1088 rows, cropped by 2 units of 4 rows.
    sps = parse_sps(
        baseline_sps(width_mbs=120, height_units=34, frame_mbs_only=False, crop=(0, 0, 0, 2))
    )
    assert (sps.width, sps.height, sps.frame_mbs_only) == (1920, 1080, False)


def test_emulation_prevention_bytes_are_removed() -> None:
    # width_mbs=1 and height 1 give runs of zero bits that need escaping
    nal = baseline_sps(poc_type=2, width_mbs=1, height_units=1)
    sps = parse_sps(nal)
    assert (sps.width, sps.height) == (16, 16)


def test_bad_sps() -> None:
    good = baseline_sps(vui=True)
    with pytest.raises(AvcConfigError, match="not an SPS"):
        parse_sps(b"\x68" + good[1:])
    with pytest.raises(AvcConfigError):
        parse_sps(b"")
    for cut in range(1, 12):
        with pytest.raises(AvcConfigError):
            parse_sps(good[:cut])
    # a truncated VUI only loses the frame rate
    partial = parse_sps(good[:-6])
    assert partial.width == 1280 and partial.frame_rate is None
    with pytest.raises(AvcConfigError, match="empty picture"):
        parse_sps(baseline_sps(width_mbs=1, crop=(4, 4, 0, 0)))


# -- avcC ------------------------------------------------------------------------------


def make_avcc(sps: bytes, pps: bytes = b"\x68\xce\x3c\x80", length_size: int = 4) -> bytes:
    return (
        bytes([1, sps[1], sps[2], sps[3], 0xFC | (length_size - 1), 0xE1])
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


def test_avcc_fields() -> None:
    sps = baseline_sps(vui=True)
    config = parse_avcc(make_avcc(sps, length_size=2))
    assert config.codec == "avc1.42c01f"
    assert config.nal_length_size == 2
    assert config.sps == (sps,)
    assert config.pps == (b"\x68\xce\x3c\x80",)
    assert (config.width, config.height) == (1280, 720)


def test_bad_avcc() -> None:
    good = make_avcc(baseline_sps())
    for cut in range(len(good)):
        with pytest.raises(AvcConfigError):
            parse_avcc(good[:cut])
    with pytest.raises(AvcConfigError, match="configurationVersion"):
        parse_avcc(b"\x02" + good[1:])
    with pytest.raises(AvcConfigError, match="lengthSizeMinusOne"):
        parse_avcc(good[:4] + b"\xfe" + good[5:])
    with pytest.raises(AvcConfigError, match="no SPS"):
        parse_avcc(good[:5] + b"\xe0\x01\x00\x04\x68\xce\x3c\x80")
    with pytest.raises(AvcConfigError, match="no PPS"):
        parse_avcc(good[:-7] + b"\x00")
    with pytest.raises(AvcConfigError, match="NAL unit type"):
        parse_avcc(make_avcc(baseline_sps(), pps=b"\x65\x00"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_avcc_raises_only_config_errors(data: bytes) -> None:
    with contextlib.suppress(AvcConfigError):
        parse_avcc(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_arbitrary_sps_raises_only_config_errors(data: bytes) -> None:
    with contextlib.suppress(AvcConfigError):
        parse_sps(b"\x67" + data)


def test_nal_walk_tolerates_truncation() -> None:
    au = b"\x00\x00\x00\x02\x09\xf0" + b"\x00\x00\x00\x03\x65\x88\x84"
    assert nal_unit_types(au) == [9, 5]
    assert contains_idr(au)
    assert not contains_idr(au[:-1])  # the IDR NAL runs past the end
    assert nal_unit_types(au[:-1]) == [9]
    assert not contains_idr(b"")
    assert contains_idr(b"\x00\x02\x65\x88", nal_length_size=2)
    assert not contains_idr(b"\x00\x00\x00\x00\x00\x00\x00\x01\x41")  # empty NAL skipped
