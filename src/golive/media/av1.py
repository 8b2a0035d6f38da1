"""AV1 parameters: the av1C record and OBUs (AV1 Codec ISO Media File Format Binding, AV1 spec).

What the server needs: the codec string (``av01.0.08M.08``: profile, level, tier, bit depth),
the picture size from the sequence header OBU, and samples in the ISO BMFF form (a temporal
unit's OBUs without temporal delimiters).
"""

from __future__ import annotations

from dataclasses import dataclass

from golive.media.bit_reader import BitReader

__all__ = [
    "Av1Config",
    "Av1ConfigError",
    "Av1SequenceHeader",
    "Obu",
    "av1c_from_sequence_header",
    "codec_string",
    "find_sequence_header",
    "parse_av1c",
    "parse_obus",
    "parse_sequence_header",
    "strip_temporal_delimiters",
]

OBU_SEQUENCE_HEADER = 1
OBU_TEMPORAL_DELIMITER = 2

_AV1C_SIZE = 4
_MAX_OPERATING_POINTS = 32


class Av1ConfigError(ValueError):
    """An av1C record, OBU or sequence header is truncated or inconsistent."""


@dataclass(frozen=True, slots=True)
class Obu:
    """One OBU: its type, where it starts and ends in the data, and where its payload starts."""

    type: int
    start: int
    payload_start: int
    end: int


@dataclass(frozen=True, slots=True)
class Av1SequenceHeader:
    """The fields of a sequence header OBU (AV1 5.5) that describe the stream."""

    profile: int
    level: int  # seq_level_idx of operating point 0
    tier: int
    bit_depth: int
    monochrome: bool
    subsampling_x: int
    subsampling_y: int
    chroma_sample_position: int
    width: int  # max_frame_width
    height: int


@dataclass(frozen=True, slots=True)
class Av1Config:
    """A parsed AV1CodecConfigurationRecord (the ``av1C`` box payload)."""

    profile: int
    level: int
    tier: int
    bit_depth: int
    monochrome: bool
    sequence_header: Av1SequenceHeader | None  # None when the record has no config OBUs

    @property
    def codec(self) -> str:
        return codec_string(self.profile, self.level, self.tier, self.bit_depth)


def codec_string(profile: int, level: int, tier: int, bit_depth: int) -> str:
    """``av01.<profile>.<level><tier>.<bit depth>`` (AV1-ISOBMFF, Codecs Parameter String)."""
    return f"av01.{profile}.{level:02d}{'H' if tier else 'M'}.{bit_depth:02d}"


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos >= len(data):
            raise Av1ConfigError("OBU size field truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise Av1ConfigError("OBU size field longer than 8 bytes")


def parse_obus(data: bytes) -> list[Obu]:
    """The OBUs of a low-overhead bitstream piece (AV1 5.3); an OBU without a size field
    runs to the end (allowed for the last OBU of an ISO BMFF sample)."""
    out: list[Obu] = []
    pos = 0
    n = len(data)
    while pos < n:
        start = pos
        header = data[pos]
        if header & 0x80:
            raise Av1ConfigError("OBU forbidden bit is set")
        obu_type = (header >> 3) & 0x0F
        pos += 2 if header & 0x04 else 1  # obu_extension_flag adds a byte
        if pos > n:
            raise Av1ConfigError("OBU header truncated")
        if header & 0x02:  # obu_has_size_field
            size, pos = _leb128(data, pos)
            end = pos + size
            if end > n:
                raise Av1ConfigError(f"OBU of type {obu_type} overruns its data ({size} bytes)")
        else:
            end = n
        out.append(Obu(obu_type, start, pos, end))
        pos = end
    return out


def strip_temporal_delimiters(data: bytes) -> bytes:
    """A temporal unit without its temporal delimiter OBUs, as an ISO BMFF sample wants."""
    obus = parse_obus(data)
    if not any(o.type == OBU_TEMPORAL_DELIMITER for o in obus):
        return data
    return b"".join(data[o.start : o.end] for o in obus if o.type != OBU_TEMPORAL_DELIMITER)


def _uvlc(r: BitReader) -> int:
    zeros = 0
    while not r.flag():
        zeros += 1
        if zeros >= 32:
            raise Av1ConfigError("uvlc code longer than 32 bits")
    return (1 << zeros) - 1 + r.u(zeros)


def parse_sequence_header(payload: bytes) -> Av1SequenceHeader:
    """Parse a sequence header OBU's payload (AV1 5.5.1), up to the colour config."""
    r = BitReader(payload, Av1ConfigError, "AV1 sequence header truncated")
    profile = r.u(3)
    if profile > 2:
        raise Av1ConfigError(f"AV1 seq_profile {profile} is reserved")
    r.u(1)  # still_picture
    reduced = r.flag()
    level = tier = 0
    if reduced:
        level = r.u(5)
    else:
        decoder_model_info = False
        buffer_delay_bits = 0
        if r.flag():  # timing_info_present_flag
            r.u(32)  # num_units_in_display_tick
            r.u(32)  # time_scale
            if r.flag():  # equal_picture_interval
                _uvlc(r)
            decoder_model_info = r.flag()
            if decoder_model_info:
                buffer_delay_bits = r.u(5) + 1
                r.u(32)  # num_units_in_decoding_tick
                r.u(10)  # buffer_removal_time_length_minus_1, frame_presentation_...
        initial_display_delay = r.flag()
        count = r.u(5) + 1
        for i in range(count):
            r.u(12)  # operating_point_idc
            seq_level = r.u(5)
            seq_tier = r.u(1) if seq_level > 7 else 0
            if i == 0:
                level, tier = seq_level, seq_tier
            if decoder_model_info and r.flag():
                r.u(2 * buffer_delay_bits + 1)  # buffer delays, low_delay_mode_flag
            if initial_display_delay and r.flag():
                r.u(4)
    width_bits = r.u(4) + 1
    height_bits = r.u(4) + 1
    width = r.u(width_bits) + 1
    height = r.u(height_bits) + 1
    if not reduced and r.flag():  # frame_id_numbers_present_flag
        r.u(7)
    r.u(3)  # use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if not reduced:
        r.u(4)  # interintra, masked compound, warped motion, dual filter
        order_hint = r.flag()
        if order_hint:
            r.u(2)  # enable_jnt_comp, enable_ref_frame_mvs
        screen_content = 2 if r.flag() else r.u(1)  # seq_choose_screen_content_tools
        if screen_content > 0 and not r.flag():  # seq_choose_integer_mv
            r.u(1)  # seq_force_integer_mv
        if order_hint:
            r.u(3)  # order_hint_bits_minus_1
    r.u(3)  # enable_superres, enable_cdef, enable_restoration
    # color_config (AV1 5.5.2)
    high_bitdepth = r.flag()
    if profile == 2 and high_bitdepth:
        bit_depth = 12 if r.flag() else 10
    else:
        bit_depth = 10 if high_bitdepth else 8
    monochrome = False if profile == 1 else r.flag()
    cp = tc = mc = 2  # unspecified
    if r.flag():  # color_description_present_flag
        cp, tc, mc = r.u(8), r.u(8), r.u(8)
    chroma_position = 0
    if monochrome:
        sub_x = sub_y = 1
    elif cp == 1 and tc == 13 and mc == 0:  # sRGB
        sub_x = sub_y = 0
    else:
        r.u(1)  # color_range
        if profile == 0:
            sub_x = sub_y = 1
        elif profile == 1:
            sub_x = sub_y = 0
        elif bit_depth == 12:
            sub_x = r.u(1)
            sub_y = r.u(1) if sub_x else 0
        else:
            sub_x, sub_y = 1, 0
        if sub_x and sub_y:
            chroma_position = r.u(2)
    return Av1SequenceHeader(
        profile=profile,
        level=level,
        tier=tier,
        bit_depth=bit_depth,
        monochrome=monochrome,
        subsampling_x=sub_x,
        subsampling_y=sub_y,
        chroma_sample_position=chroma_position,
        width=width,
        height=height,
    )


def find_sequence_header(data: bytes) -> tuple[bytes, Av1SequenceHeader] | None:
    """The first sequence header OBU in ``data`` (whole, as bytes) and its parse, or None."""
    for obu in parse_obus(data):
        if obu.type == OBU_SEQUENCE_HEADER:
            return data[obu.start : obu.end], parse_sequence_header(
                data[obu.payload_start : obu.end]
            )
    return None


def parse_av1c(data: bytes) -> Av1Config:
    """Parse an AV1CodecConfigurationRecord; its config OBUs, when present, must start with
    a sequence header that agrees with the record."""
    n = len(data)
    if n < _AV1C_SIZE:
        raise Av1ConfigError(f"av1C record too short ({n} bytes, need at least {_AV1C_SIZE})")
    if data[0] != 0x81:
        raise Av1ConfigError(
            f"av1C marker/version byte is 0x{data[0]:02x}, expected 0x81 (marker 1, version 1)"
        )
    profile = data[1] >> 5
    level = data[1] & 0x1F
    tier = data[2] >> 7
    high_bitdepth = bool(data[2] & 0x40)
    twelve_bit = bool(data[2] & 0x20)
    bit_depth = 12 if twelve_bit else 10 if high_bitdepth else 8
    monochrome = bool(data[2] & 0x10)
    if profile > 2:
        raise Av1ConfigError(f"av1C seq_profile {profile} is reserved")
    header: Av1SequenceHeader | None = None
    if n > _AV1C_SIZE:
        found = find_sequence_header(data[_AV1C_SIZE:])
        if found is None:
            raise Av1ConfigError("av1C config OBUs hold no sequence header")
        header = found[1]
        if (header.profile, header.level, header.tier, header.bit_depth) != (
            profile,
            level,
            tier,
            bit_depth,
        ):
            raise Av1ConfigError(
                "av1C record and its sequence header disagree: "
                f"{codec_string(profile, level, tier, bit_depth)} vs "
                f"{codec_string(header.profile, header.level, header.tier, header.bit_depth)}"
            )
    return Av1Config(profile, level, tier, bit_depth, monochrome, header)


def av1c_from_sequence_header(obu: bytes) -> bytes:
    """An av1C record for a sequence header OBU (the whole OBU, with header and size)."""
    found = find_sequence_header(obu)
    if found is None:
        raise Av1ConfigError("no sequence header OBU given")
    whole, h = found
    return (
        bytes(
            [
                0x81,
                (h.profile << 5) | h.level,
                (h.tier << 7)
                | (int(h.bit_depth > 8) << 6)
                | (int(h.bit_depth == 12) << 5)
                | (int(h.monochrome) << 4)
                | (h.subsampling_x << 3)
                | (h.subsampling_y << 2)
                | h.chroma_sample_position,
                0,  # no initial_presentation_delay
            ]
        )
        + whole
    )
