"""AudioSpecificConfig parsing, checked against ffmpeg's AAC encoder and libavcodec."""

from __future__ import annotations

import subprocess

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media.aac import AacConfigError, codec_string, parse_asc
from tests.support.flv_file import ffmpeg_exe


@pytest.mark.parametrize(
    ("rate", "layout"),
    [
        (44100, "mono"),
        (48000, "stereo"),
        (8000, "mono"),
        (96000, "stereo"),
        (7350, "mono"),
        (48000, "3.0"),
        (48000, "5.1"),
        (48000, "6.1"),  # no channelConfiguration for 6.1: ffmpeg writes a PCE
        (48000, "7.1"),
    ],
)
def test_real_encoder_configs(
    tmp_path_factory: pytest.TempPathFactory, rate: int, layout: str
) -> None:
    path = tmp_path_factory.mktemp("aac") / f"{rate}_{layout}.m4a"
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
            f"sine=sample_rate={rate}",
            "-af",
            f"aformat=channel_layouts={layout}",
            "-c:a",
            "aac",
            "-t",
            "0.1",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with av.open(str(path)) as container:
        cc = container.streams.audio[0].codec_context
        asc = bytes(cc.extradata)
        expected = (cc.sample_rate, cc.channels, cc.frame_size)
        assert cc.profile == "LC"

    config = parse_asc(asc)
    assert (config.sample_rate, config.channels, config.frame_length) == expected
    assert config.object_type == config.base_object_type == 2
    assert config.output_sample_rate == rate
    assert config.codec == "mp4a.40.2"
    if layout == "6.1":
        assert config.channel_config == 0


class BitWriter:
    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def u(self, n: int, v: int) -> BitWriter:
        self.value = (self.value << n) | v
        self.length += n
        return self

    def bytes(self) -> bytes:
        pad = -self.length % 8
        return (self.value << pad).to_bytes((self.length + pad) // 8, "big")


def test_lc_two_bytes() -> None:
    config = parse_asc(bytes([0x12, 0x10]))  # AAC-LC, 44.1 kHz, stereo
    assert (config.object_type, config.sample_rate, config.channels) == (2, 44100, 2)
    assert config.frame_length == 1024


def test_960_sample_frames() -> None:
    asc = BitWriter().u(5, 2).u(4, 3).u(4, 2).u(1, 1).u(1, 0).u(1, 0).bytes()
    assert parse_asc(asc).frame_length == 960


def test_escaped_object_type_and_explicit_frequency() -> None:
    # AOT 42 (USAC) needs the escape: 31, then 42 - 32 in six bits.
    asc = BitWriter().u(5, 31).u(6, 10).u(4, 15).u(24, 44_056).u(4, 1).u(8, 0).bytes()
    config = parse_asc(asc)
    assert (config.object_type, config.sample_rate, config.channels) == (42, 44_056, 1)
    assert config.codec == "mp4a.40.42"


def test_explicit_he_aac_and_he_aac_v2() -> None:
    # HE-AAC: AOT 5, core 24 kHz stereo, SBR output 48 kHz, core AOT 2.
    asc = BitWriter().u(5, 5).u(4, 6).u(4, 2).u(4, 3).u(5, 2).u(3, 0).bytes()
    config = parse_asc(asc)
    assert (config.object_type, config.base_object_type) == (5, 2)
    assert (config.sample_rate, config.output_sample_rate, config.channels) == (24000, 48000, 2)
    assert config.codec == "mp4a.40.5"
    # HE-AAC v2: AOT 29, mono core (PS makes it stereo on output).
    asc = BitWriter().u(5, 29).u(4, 6).u(4, 1).u(4, 3).u(5, 2).u(3, 0).bytes()
    config = parse_asc(asc)
    assert (config.object_type, config.base_object_type, config.codec) == (29, 2, "mp4a.40.29")
    assert config.sample_rate == 24000


def test_implicit_sbr_signalling_reads_as_lc() -> None:
    # LC config followed by the 0x2b7 sync extension (what ffmpeg writes): still mp4a.40.2.
    config = parse_asc(bytes.fromhex("120856e500"))
    assert (config.object_type, config.sample_rate, config.channels) == (2, 44100, 1)


def test_program_config_element_counts_channels() -> None:
    w = BitWriter().u(5, 2).u(4, 3).u(4, 0).u(1, 0).u(1, 0).u(1, 0)
    w.u(4, 0).u(2, 1).u(4, 3)  # tag, profile, sampling index
    w.u(4, 2).u(4, 1).u(4, 1).u(2, 1).u(3, 0).u(4, 0)  # 2 front, 1 side, 1 back, 1 LFE
    w.u(1, 0).u(1, 0).u(1, 0)  # no mixdowns
    w.u(1, 0).u(4, 0).u(1, 1).u(4, 0)  # front: SCE + CPE
    w.u(1, 1).u(4, 1)  # side: CPE
    w.u(1, 0).u(4, 1)  # back: SCE
    w.u(4, 0)  # LFE tag
    config = parse_asc(w.bytes())
    assert config.channel_config == 0
    assert config.channels == 1 + 2 + 2 + 1 + 1


def test_channel_config_without_pce_tail_is_zero_channels() -> None:
    assert parse_asc(bytes([0x12, 0x00])).channels == 0


@pytest.mark.parametrize(
    ("asc", "message"),
    [
        (b"", "too short"),
        (b"\x12", "too short"),
        (bytes([0x17, 0x00]), "reserved samplingFrequencyIndex 14"),
        (bytes([0x16, 0x80]), "reserved samplingFrequencyIndex 13"),
        (bytes([0x00, 0x10]), "object type 0"),
        (bytes([0x17, 0xFF, 0xFF]), "truncated"),  # explicit frequency cut short
        (bytes([0xF8, 0x00]), "truncated"),  # escaped object type cut short
        (bytes([0x2B, 0x92]), "truncated"),  # HE-AAC without its core object type
    ],
)
def test_bad_configs(asc: bytes, message: str) -> None:
    with pytest.raises(AacConfigError, match=message):
        parse_asc(asc)


def test_explicit_zero_frequency() -> None:
    asc = BitWriter().u(5, 2).u(4, 15).u(24, 0).u(4, 2).bytes()
    with pytest.raises(AacConfigError, match="frequency of 0"):
        parse_asc(asc)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=24))
def test_arbitrary_bytes_raise_only_config_errors(data: bytes) -> None:
    try:
        config = parse_asc(data)
    except AacConfigError:
        return
    assert config.sample_rate > 0
    assert config.codec.startswith("mp4a.40.")


def test_codec_string() -> None:
    assert codec_string(2) == "mp4a.40.2"
