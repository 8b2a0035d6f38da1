"""H.265/HEVC parameters: the hvcC record (ISO/IEC 14496-15 8.3.3) and the SPS (ITU-T H.265).

Only what the server needs: the codec string of ISO/IEC 14496-15 annex E (``hvc1.1.6.L93.B0``),
the picture size after the conformance window, bit depths, and the parameter sets. An hvcC
can also be built from Annex-B parameter sets (MPEG-TS ingest), see
:func:`hvcc_from_nal_units`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from golive.media.bit_reader import BitReader

__all__ = [
    "HevcConfig",
    "HevcConfigError",
    "HevcSps",
    "codec_string",
    "hvcc_from_nal_units",
    "is_irap",
    "nal_unit_type",
    "parse_hvcc",
    "parse_sps",
]

NAL_VPS = 32
NAL_SPS = 33
NAL_PPS = 34
# IRAP pictures (BLA, IDR, CRA) are NAL unit types 16 to 23 (H.265 table 7-1).
NAL_IRAP_FIRST = 16
NAL_IRAP_LAST = 23

_HVCC_FIXED = 23  # bytes of the record before the NAL unit arrays
# (SubWidthC, SubHeightC) per chroma_format_idc (H.265 table 6-1); 0 is monochrome.
_CHROMA_SUBSAMPLING = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}
_PROFILE_SPACES = ("", "A", "B", "C")
_MAX_SUB_LAYERS = 7


class HevcConfigError(ValueError):
    """An HEVCDecoderConfigurationRecord or SPS is truncated or inconsistent."""


@dataclass(frozen=True, slots=True)
class HevcSps:
    """The fields of a sequence parameter set that describe the coded picture."""

    profile_space: int
    tier: int
    profile_idc: int
    compatibility_flags: int
    constraint_flags: bytes  # the six general_constraint_indicator bytes
    level_idc: int
    max_sub_layers: int
    temporal_id_nesting: bool
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class HevcConfig:
    """A parsed HEVCDecoderConfigurationRecord (the ``hvcC`` box payload)."""

    profile_space: int
    tier: int
    profile_idc: int
    compatibility_flags: int
    constraint_flags: bytes
    level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    nal_length_size: int
    vps: tuple[bytes, ...]
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    sps_info: HevcSps

    @property
    def codec(self) -> str:
        """The codec string, e.g. ``hvc1.1.6.L93.B0``."""
        return codec_string(
            self.profile_space,
            self.profile_idc,
            self.compatibility_flags,
            self.tier,
            self.level_idc,
            self.constraint_flags,
        )

    @property
    def width(self) -> int:
        return self.sps_info.width

    @property
    def height(self) -> int:
        return self.sps_info.height


def nal_unit_type(nal: bytes) -> int:
    """The type of an HEVC NAL unit, from its two-byte header."""
    return (nal[0] >> 1) & 0x3F


def codec_string(
    profile_space: int,
    profile_idc: int,
    compatibility_flags: int,
    tier: int,
    level_idc: int,
    constraint_flags: bytes,
) -> str:
    """``hvc1.<space><profile>.<compat>.<tier><level>[.<constraint bytes>]`` (14496-15 E.3).

    The compatibility flags are written in reverse bit order, in hex without leading zeros;
    the six constraint bytes in hex, with trailing zero bytes left out.
    """
    reversed_flags = int(f"{compatibility_flags:032b}"[::-1], 2)
    constraints = list(constraint_flags)
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [
        "hvc1",
        f"{_PROFILE_SPACES[profile_space]}{profile_idc}",
        f"{reversed_flags:X}",
        f"{'H' if tier else 'L'}{level_idc}",
        *(f"{b:X}" for b in constraints),
    ]
    return ".".join(parts)


def _rbsp(nal: bytes) -> bytes:
    """The NAL unit payload without its two-byte header and emulation prevention bytes."""
    # In a well-formed NAL unit each 00 00 03 is an emulation prevention sequence, and
    # left-to-right non-overlapping replacement removes exactly those.
    return nal[2:].replace(b"\x00\x00\x03", b"\x00\x00")


def parse_hvcc(data: bytes) -> HevcConfig:
    """Parse an HEVCDecoderConfigurationRecord and the first SPS it carries.

    A VPS, an SPS and a PPS are required: an ``hvc1`` sample entry must hold every parameter
    set (14496-15 8.4.1), so a record without them cannot start a decoder.
    """
    n = len(data)
    if n < _HVCC_FIXED:
        raise HevcConfigError(f"hvcC record too short ({n} bytes, need at least {_HVCC_FIXED})")
    if data[0] != 1:
        raise HevcConfigError(f"unsupported hvcC configurationVersion {data[0]}")
    nal_length_size = (data[21] & 0x03) + 1
    if nal_length_size == 3:
        raise HevcConfigError("hvcC lengthSizeMinusOne of 2 is not allowed")
    arrays: dict[int, list[bytes]] = {NAL_VPS: [], NAL_SPS: [], NAL_PPS: []}
    pos = _HVCC_FIXED
    for i in range(data[22]):
        if pos + 3 > n:
            raise HevcConfigError(f"hvcC record truncated in NAL unit array #{i}")
        array_type = data[pos] & 0x3F
        (count,) = struct.unpack_from(">H", data, pos + 1)
        pos += 3
        for j in range(count):
            if pos + 2 > n:
                raise HevcConfigError(f"hvcC record truncated in array #{i} NAL unit #{j}")
            (length,) = struct.unpack_from(">H", data, pos)
            pos += 2
            if length < 2 or pos + length > n:
                raise HevcConfigError(f"hvcC array #{i} NAL unit #{j} has bad length {length}")
            nal = data[pos : pos + length]
            pos += length
            if nal_unit_type(nal) != array_type:
                raise HevcConfigError(
                    f"hvcC array #{i} of type {array_type} holds a NAL unit of type "
                    f"{nal_unit_type(nal)}"
                )
            if array_type in arrays:
                arrays[array_type].append(nal)
    for nal_type, name in ((NAL_VPS, "VPS"), (NAL_SPS, "SPS"), (NAL_PPS, "PPS")):
        if not arrays[nal_type]:
            raise HevcConfigError(f"hvcC record has no {name}")
    sps = parse_sps(arrays[NAL_SPS][0])
    return HevcConfig(
        profile_space=data[1] >> 6,
        tier=(data[1] >> 5) & 0x01,
        profile_idc=data[1] & 0x1F,
        compatibility_flags=int.from_bytes(data[2:6], "big"),
        constraint_flags=bytes(data[6:12]),
        level_idc=data[12],
        chroma_format_idc=data[16] & 0x03,
        bit_depth_luma=(data[17] & 0x07) + 8,
        bit_depth_chroma=(data[18] & 0x07) + 8,
        nal_length_size=nal_length_size,
        vps=tuple(arrays[NAL_VPS]),
        sps=tuple(arrays[NAL_SPS]),
        pps=tuple(arrays[NAL_PPS]),
        sps_info=sps,
    )


def _skip_profile_tier_level(r: BitReader, max_sub_layers_minus1: int) -> None:
    """Skip the sub-layer part of profile_tier_level (H.265 7.3.3); the general part is read."""
    profile_present = []
    level_present = []
    for _ in range(max_sub_layers_minus1):
        profile_present.append(r.flag())
        level_present.append(r.flag())
    if max_sub_layers_minus1 > 0:
        for _ in range(max_sub_layers_minus1, 8):
            r.u(2)  # reserved_zero_2bits
    for i in range(max_sub_layers_minus1):
        if profile_present[i]:
            r.u(88)
        if level_present[i]:
            r.u(8)


def parse_sps(nal: bytes) -> HevcSps:
    """Parse an HEVC sequence parameter set NAL unit (with its two-byte NAL header)."""
    if len(nal) < 2 or nal_unit_type(nal) != NAL_SPS:
        raise HevcConfigError("not an HEVC SPS NAL unit")
    rbsp = _rbsp(nal)
    r = BitReader(rbsp, HevcConfigError, "HEVC SPS truncated")
    r.u(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    if max_sub_layers_minus1 >= _MAX_SUB_LAYERS:
        raise HevcConfigError(f"SPS sps_max_sub_layers_minus1 {max_sub_layers_minus1} too big")
    nesting = r.flag()
    profile_space = r.u(2)
    tier = r.u(1)
    profile_idc = r.u(5)
    compatibility = r.u(32)
    constraints = r.u(48).to_bytes(6, "big")
    level_idc = r.u(8)
    _skip_profile_tier_level(r, max_sub_layers_minus1)
    sps_id = r.ue()
    if sps_id > 15:
        raise HevcConfigError(f"SPS id {sps_id} out of range")
    chroma_format_idc = r.ue()
    if chroma_format_idc > 3:
        raise HevcConfigError(f"SPS chroma_format_idc {chroma_format_idc} out of range")
    separate_colour_planes = chroma_format_idc == 3 and r.flag()
    width = r.ue()
    height = r.ue()
    if r.flag():  # conformance_window_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        sub_w, sub_h = _CHROMA_SUBSAMPLING[0 if separate_colour_planes else chroma_format_idc]
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    if width <= 0 or height <= 0:
        raise HevcConfigError(f"SPS describes an empty picture ({width}x{height})")
    bit_depth_luma = r.ue() + 8
    bit_depth_chroma = r.ue() + 8
    if bit_depth_luma > 16 or bit_depth_chroma > 16:
        raise HevcConfigError(f"SPS bit depth {bit_depth_luma}/{bit_depth_chroma} out of range")
    return HevcSps(
        profile_space=profile_space,
        tier=tier,
        profile_idc=profile_idc,
        compatibility_flags=compatibility,
        constraint_flags=constraints,
        level_idc=level_idc,
        max_sub_layers=max_sub_layers_minus1 + 1,
        temporal_id_nesting=nesting,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        width=width,
        height=height,
    )


def _as_list(units: bytes | Sequence[bytes]) -> list[bytes]:
    if isinstance(units, bytes | bytearray | memoryview):
        return [bytes(units)]
    return [bytes(u) for u in units]


def hvcc_from_nal_units(
    vps: bytes | Sequence[bytes], sps: bytes | Sequence[bytes], pps: bytes | Sequence[bytes]
) -> bytes:
    """An HEVCDecoderConfigurationRecord holding the given parameter sets (each a NAL unit
    with its header and without start code), with 4-byte NAL unit lengths.

    Profile, tier, level, chroma format and bit depths are taken from the first SPS; the
    result parses with :func:`parse_hvcc`. Raises :class:`HevcConfigError` on bad input.
    """
    arrays = ((NAL_VPS, _as_list(vps)), (NAL_SPS, _as_list(sps)), (NAL_PPS, _as_list(pps)))
    for nal_type, units in arrays:
        if not units:
            raise HevcConfigError(f"no NAL unit of type {nal_type} given")
        for unit in units:
            if len(unit) < 3 or nal_unit_type(unit) != nal_type:
                raise HevcConfigError(f"expected a NAL unit of type {nal_type}")
            if len(unit) > 0xFFFF:
                raise HevcConfigError(f"parameter set of {len(unit)} bytes is too long")
    info = parse_sps(arrays[1][1][0])
    header = bytes(
        [
            1,  # configurationVersion
            (info.profile_space << 6) | (info.tier << 5) | info.profile_idc,
            *info.compatibility_flags.to_bytes(4, "big"),
            *info.constraint_flags,
            info.level_idc,
            0xF0,  # reserved 1111, min_spatial_segmentation_idc 0 (unknown) ...
            0x00,
            0xFC,  # reserved 111111, parallelismType 0 (unknown)
            0xFC | info.chroma_format_idc,
            0xF8 | (info.bit_depth_luma - 8),
            0xF8 | (info.bit_depth_chroma - 8),
            0,
            0,  # avgFrameRate: unspecified
            # constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
            (info.max_sub_layers << 3) | (int(info.temporal_id_nesting) << 2) | 0x03,
            len(arrays),
        ]
    )
    out = bytearray(header)
    for nal_type, units in arrays:
        out.append(0x80 | nal_type)  # array_completeness: every set of this type is here
        out += struct.pack(">H", len(units))
        for unit in units:
            out += struct.pack(">H", len(unit)) + unit
    return bytes(out)


def is_irap(nal_type: int) -> bool:
    """Whether a NAL unit type is an IRAP picture (a random access point)."""
    return NAL_IRAP_FIRST <= nal_type <= NAL_IRAP_LAST
