"""hvcC/HEVC SPS and av1C/OBU parsing of arbitrary bytes raises only their errors."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from golive.media.av1 import Av1ConfigError, parse_av1c, strip_temporal_delimiters
from golive.media.hevc import HevcConfigError, parse_hvcc
from tests.fuzz.mutation import mutated
from tests.fuzz.profiles import fuzz_settings

# libx265's VPS, SPS and PPS (320x240 Main) in an hvcC; SVT-AV1's av1C (320x240 main, 8 bit).
HVCC = bytes.fromhex(
    "0101600000009000000000003cf000fcfdf8f800000f03a00001001840010c01ffff01600000030090000003"
    "000003003c959409a10001002a42010101600000030090000003000003003ca00a080f16595952930bc05a02"
    "0000030002000003003c10a2000100064401c073c189"
)
AV1C = bytes.fromhex("81000c000a0b0200000521e7fde017c002")


@fuzz_settings
@given(data=mutated(HVCC) | st.binary(max_size=64))
@example(data=HVCC)
def test_parse_hvcc_raises_only_hevc_config_errors(data: bytes) -> None:
    try:
        config = parse_hvcc(data)
    except HevcConfigError:
        return
    assert config.width > 0 and config.height > 0
    assert config.nal_length_size in (1, 2, 4)
    assert re.fullmatch(r"hvc1\.[ABC]?\d+\.[0-9A-F]+\.[LH]\d+(\.[0-9A-F]+)*", config.codec)


@fuzz_settings
@given(data=mutated(AV1C) | st.binary(max_size=32))
@example(data=AV1C)
def test_parse_av1c_raises_only_av1_config_errors(data: bytes) -> None:
    try:
        config = parse_av1c(data)
    except Av1ConfigError:
        return
    assert re.fullmatch(r"av01\.[0-2]\.\d\d[MH]\.(08|10|12)", config.codec)
    if config.sequence_header is not None:
        assert config.sequence_header.width > 0 and config.sequence_header.height > 0


@fuzz_settings
@given(data=mutated(AV1C[4:]) | st.binary(max_size=32))
def test_strip_temporal_delimiters_raises_only_av1_config_errors(data: bytes) -> None:
    try:
        stripped = strip_temporal_delimiters(data)
    except Av1ConfigError:
        return
    assert len(stripped) <= len(data)
