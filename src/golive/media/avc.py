"""H.264/AVC parameter parsing: the avcC record (ISO/IEC 14496-15) and the SPS (ITU-T H.264).

Only what the server needs is extracted: the RFC 6381 codec string, the picture size after
cropping, the frame rate when the encoder signals it, and the parameter sets themselves.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from golive.media.bit_reader import BitReader

__all__ = [
    "AvcConfig",
    "AvcConfigError",
    "Sps",
    "codec_string",
    "contains_idr",
    "nal_unit_types",
    "parse_avcc",
    "parse_sps",
]

NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8

# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling lists
# (H.264 7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})

# (SubWidthC, SubHeightC) per chroma_format_idc (H.264 table 6-1); 0 is monochrome.
_CHROMA_SUBSAMPLING = {1: (2, 2), 2: (2, 1), 3: (1, 1)}


class AvcConfigError(ValueError):
    """An AVCDecoderConfigurationRecord or SPS is truncated or inconsistent."""


@dataclass(frozen=True, slots=True)
class Sps:
    """The fields of a sequence parameter set that describe the coded picture."""

    profile_idc: int
    constraint_flags: int
    level_idc: int
    sps_id: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    width: int
    height: int
    frame_mbs_only: bool
    # Sample aspect ratio from the VUI; (0, 0) when unspecified.
    sar: tuple[int, int]
    # Frames per second from VUI timing info (time_scale / (2 * num_units_in_tick)), or None.
    frame_rate: float | None


@dataclass(frozen=True, slots=True)
class AvcConfig:
    """A parsed AVCDecoderConfigurationRecord (the ``avcC`` box payload)."""

    profile: int
    compatibility: int
    level: int
    nal_length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    sps_info: Sps

    @property
    def codec(self) -> str:
        """The RFC 6381 codec string, e.g. ``avc1.64001f``."""
        return codec_string(self.profile, self.compatibility, self.level)

    @property
    def width(self) -> int:
        return self.sps_info.width

    @property
    def height(self) -> int:
        return self.sps_info.height


def codec_string(profile: int, compatibility: int, level: int) -> str:
    """``avc1.PPCCLL`` with the three bytes in lowercase hex."""
    return f"avc1.{profile:02x}{compatibility:02x}{level:02x}"


def parse_avcc(data: bytes) -> AvcConfig:
    """Parse an AVCDecoderConfigurationRecord and the first SPS it carries.

    At least one SPS and one PPS are required: an ``avc1`` sample entry must hold every
    parameter set, so a record without them cannot start a decoder.
    """
    n = len(data)
    if n < 7:
        raise AvcConfigError(f"avcC record too short ({n} bytes, need at least 7)")
    if data[0] != 1:
        raise AvcConfigError(f"unsupported avcC configurationVersion {data[0]}")
    profile, compatibility, level = data[1], data[2], data[3]
    nal_length_size = (data[4] & 0x03) + 1
    if nal_length_size == 3:
        # 14496-15 only allows 1, 2 and 4 byte lengths.
        raise AvcConfigError("avcC lengthSizeMinusOne of 2 is not allowed")
    pos = 5
    sps_list, pos = _read_parameter_sets(data, pos, data[5] & 0x1F, NAL_SPS, "SPS")
    if pos >= n:
        raise AvcConfigError("avcC record truncated before numOfPictureParameterSets")
    pps_list, pos = _read_parameter_sets(data, pos, data[pos], NAL_PPS, "PPS")
    if not sps_list:
        raise AvcConfigError("avcC record has no SPS")
    if not pps_list:
        raise AvcConfigError("avcC record has no PPS")
    # Trailing bytes (the high-profile chroma/bit-depth extension) are kept in the record
    # itself; nothing here needs them because the SPS says the same.
    return AvcConfig(
        profile=profile,
        compatibility=compatibility,
        level=level,
        nal_length_size=nal_length_size,
        sps=tuple(sps_list),
        pps=tuple(pps_list),
        sps_info=parse_sps(sps_list[0]),
    )


def _read_parameter_sets(
    data: bytes, pos: int, count: int, nal_type: int, name: str
) -> tuple[list[bytes], int]:
    """Read ``count`` (u16 length, NAL unit) pairs that follow the count byte at ``pos``."""
    pos += 1
    n = len(data)
    out: list[bytes] = []
    for i in range(count):
        if pos + 2 > n:
            raise AvcConfigError(f"avcC record truncated in {name} #{i} length")
        length = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if length == 0 or pos + length > n:
            raise AvcConfigError(f"avcC {name} #{i} has bad length {length}")
        nal = data[pos : pos + length]
        pos += length
        if nal[0] & 0x1F != nal_type:
            raise AvcConfigError(f"avcC {name} #{i} has NAL unit type {nal[0] & 0x1F}")
        out.append(nal)
    return out, pos


def _unescape(nal: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00) to get the RBSP."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se()) & 0xFF
        if nxt != 0:
            last = nxt


def parse_sps(nal: bytes) -> Sps:
    """Parse a sequence parameter set NAL unit (with its one-byte NAL header)."""
    if not nal or nal[0] & 0x1F != NAL_SPS:
        raise AvcConfigError("not an SPS NAL unit")
    r = BitReader(_unescape(nal[1:]), AvcConfigError, "SPS truncated")
    profile_idc = r.u(8)
    constraint_flags = r.u(8)
    level_idc = r.u(8)
    sps_id = r.ue()
    if sps_id > 31:
        raise AvcConfigError(f"SPS id {sps_id} out of range")
    chroma_format_idc = 1
    separate_colour_planes = False
    bit_depth_luma = bit_depth_chroma = 8
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc > 3:
            raise AvcConfigError(f"SPS chroma_format_idc {chroma_format_idc} out of range")
        if chroma_format_idc == 3:
            separate_colour_planes = r.flag()
        bit_depth_luma = r.ue() + 8
        bit_depth_chroma = r.ue() + 8
        r.u(1)  # qpprime_y_zero_transform_bypass_flag
        if r.flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.flag():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        r.u(1)  # delta_pic_order_always_zero_flag
        r.se()  # offset_for_non_ref_pic
        r.se()  # offset_for_top_to_bottom_field
        cycle = r.ue()
        if cycle > 255:
            raise AvcConfigError(f"SPS num_ref_frames_in_pic_order_cnt_cycle {cycle} too big")
        for _ in range(cycle):
            r.se()
    elif poc_type != 2:
        raise AvcConfigError(f"SPS pic_order_cnt_type {poc_type} out of range")
    r.ue()  # max_num_ref_frames
    r.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.flag()
    if not frame_mbs_only:
        r.u(1)  # mb_adaptive_frame_field_flag
    r.u(1)  # direct_8x8_inference_flag
    crop_left = crop_right = crop_top = crop_bottom = 0
    if r.flag():  # frame_cropping_flag
        crop_left, crop_right, crop_top, crop_bottom = r.ue(), r.ue(), r.ue(), r.ue()

    # Crop units depend on chroma subsampling and on whether the frame is two fields
    # (H.264 equations 7-19 to 7-22).
    field_factor = 1 if frame_mbs_only else 2
    chroma_array_type = 0 if separate_colour_planes else chroma_format_idc
    if chroma_array_type == 0:
        crop_x, crop_y = 1, field_factor
    else:
        sub_w, sub_h = _CHROMA_SUBSAMPLING[chroma_array_type]
        crop_x, crop_y = sub_w, sub_h * field_factor
    width = width_mbs * 16 - crop_x * (crop_left + crop_right)
    height = field_factor * height_map_units * 16 - crop_y * (crop_top + crop_bottom)
    if width <= 0 or height <= 0:
        raise AvcConfigError(f"SPS cropping leaves an empty picture ({width}x{height})")

    sar = (0, 0)
    frame_rate: float | None = None
    if r.flag():  # vui_parameters_present_flag
        # The picture size is already known; a short VUI only costs the frame rate.
        with contextlib.suppress(AvcConfigError):
            sar, frame_rate = _parse_vui(r)
    return Sps(
        profile_idc=profile_idc,
        constraint_flags=constraint_flags,
        level_idc=level_idc,
        sps_id=sps_id,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        width=width,
        height=height,
        frame_mbs_only=frame_mbs_only,
        sar=sar,
        frame_rate=frame_rate,
    )


# Table E-1: sample aspect ratios for aspect_ratio_idc 1..16.
_SAR_TABLE = (
    (1, 1), (12, 11), (10, 11), (16, 11), (40, 33), (24, 11), (20, 11), (32, 11),
    (80, 33), (18, 11), (15, 11), (64, 33), (160, 99), (4, 3), (3, 2), (2, 1),
)  # fmt: skip


def _parse_vui(r: BitReader) -> tuple[tuple[int, int], float | None]:
    """Read the VUI up to timing info (H.264 E.1.1); later fields are not needed."""
    sar = (0, 0)
    if r.flag():  # aspect_ratio_info_present_flag
        idc = r.u(8)
        if idc == 255:  # Extended_SAR
            sar = (r.u(16), r.u(16))
        elif 1 <= idc <= len(_SAR_TABLE):
            sar = _SAR_TABLE[idc - 1]
    if r.flag():  # overscan_info_present_flag
        r.u(1)
    if r.flag():  # video_signal_type_present_flag
        r.u(4)  # video_format, video_full_range_flag
        if r.flag():  # colour_description_present_flag
            r.u(24)
    if r.flag():  # chroma_loc_info_present_flag
        r.ue()
        r.ue()
    frame_rate = None
    if r.flag():  # timing_info_present_flag
        num_units_in_tick = r.u(32)
        time_scale = r.u(32)
        if num_units_in_tick and time_scale:
            # One frame is two field ticks.
            frame_rate = time_scale / (2 * num_units_in_tick)
    return sar, frame_rate


def nal_unit_types(au: bytes, nal_length_size: int = 4) -> list[int]:
    """The NAL unit types of a length-prefixed access unit, in order.

    Stops at the first length that runs past the end: the well-formed prefix is reported.
    """
    types: list[int] = []
    pos = 0
    n = len(au)
    while pos + nal_length_size < n:
        length = int.from_bytes(au[pos : pos + nal_length_size], "big")
        pos += nal_length_size
        if length == 0:
            continue
        if pos + length > n:
            break
        types.append(au[pos] & 0x1F)
        pos += length
    return types


def contains_idr(au: bytes, nal_length_size: int = 4) -> bool:
    """Whether a length-prefixed access unit holds an IDR slice (NAL unit type 5)."""
    return NAL_IDR in nal_unit_types(au, nal_length_size)
