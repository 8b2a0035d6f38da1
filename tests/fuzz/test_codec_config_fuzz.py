"""avcC/SPS and AudioSpecificConfig parsing of arbitrary bytes raises only their errors."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from golive.media.aac import AacConfigError, parse_asc
from golive.media.avc import AvcConfigError, contains_idr, nal_unit_types, parse_avcc, parse_sps
from tests.fuzz.mutation import mutated
from tests.fuzz.profiles import fuzz_settings
from tests.support.synthetic import ASC_48K_STEREO, AVCC

# Profiles with and without the high-profile fields (chroma format, scaling lists).
_PROFILES = [66, 77, 88, 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]


@st.composite
def sps_nal(draw: st.DrawFn) -> bytes:
    profile = draw(st.sampled_from(_PROFILES) | st.integers(0, 255))
    head = bytes([0x67, profile, draw(st.integers(0, 255)), draw(st.integers(0, 255))])
    # The exp-Golomb fields: arbitrary bits, often with emulation prevention bytes in them.
    tail = draw(st.lists(st.binary(max_size=6) | st.just(b"\x00\x00\x03"), max_size=12))
    return head + b"".join(tail)


@st.composite
def avcc_record(draw: st.DrawFn) -> bytes:
    sps = draw(st.lists(sps_nal(), max_size=2))
    pps = draw(st.lists(st.binary(max_size=8).map(lambda b: b"\x68" + b), max_size=2))
    out = bytearray([1, *draw(st.binary(min_size=3, max_size=3))])
    out.append(0xFC | draw(st.integers(0, 3)))
    out.append(0xE0 | draw(st.sampled_from([len(sps), 0, 1, 31])))
    for nal in sps:
        out += len(nal).to_bytes(2, "big") + nal
    out.append(draw(st.sampled_from([len(pps), 0, 255])))
    for nal in pps:
        out += len(nal).to_bytes(2, "big") + nal
    out += draw(st.binary(max_size=4))
    return bytes(out)


avcc_inputs = avcc_record() | mutated(AVCC) | st.binary(max_size=64)


@fuzz_settings
@given(data=avcc_inputs)
@example(data=AVCC)
def test_parse_avcc_raises_only_avc_config_errors(data: bytes) -> None:
    try:
        config = parse_avcc(data)
    except AvcConfigError:
        return
    assert config.width > 0
    assert config.height > 0
    assert config.nal_length_size in (1, 2, 4)
    assert re.fullmatch(r"avc1\.[0-9a-f]{6}", config.codec)


@fuzz_settings
@given(nal=sps_nal() | mutated(AVCC[8:35]) | st.binary(max_size=64))
def test_parse_sps_raises_only_avc_config_errors(nal: bytes) -> None:
    try:
        sps = parse_sps(nal)
    except AvcConfigError:
        return
    assert sps.width > 0
    assert sps.height > 0


@fuzz_settings
@given(au=st.binary(max_size=128), size=st.sampled_from([1, 2, 4]))
def test_nal_unit_types_of_any_access_unit(au: bytes, size: int) -> None:
    types = nal_unit_types(au, size)
    assert all(0 <= t < 32 for t in types)
    assert contains_idr(au, size) == (5 in types)


@fuzz_settings
@given(data=mutated(ASC_48K_STEREO, 3) | st.binary(max_size=24))
@example(data=bytes.fromhex("2b920800"))  # SBR with an explicit core type
@example(data=bytes.fromhex("1180"))  # a program config element follows
def test_parse_asc_raises_only_aac_config_errors(data: bytes) -> None:
    try:
        config = parse_asc(data)
    except AacConfigError:
        return
    assert config.sample_rate > 0
    assert config.output_sample_rate > 0
    assert config.frame_length in (960, 1024)
    assert config.channels >= 0
