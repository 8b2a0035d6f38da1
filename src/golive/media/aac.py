"""AAC AudioSpecificConfig parsing (ISO/IEC 14496-3, 1.6.2.1)."""

from __future__ import annotations

from dataclasses import dataclass

from golive.media.bit_reader import BitReader

__all__ = ["AacConfig", "AacConfigError", "codec_string", "parse_asc"]

# Table 1.18: samplingFrequencyIndex 0..12; 13 and 14 are reserved, 15 means explicit.
SAMPLE_RATES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)

# Table 1.19: channelConfiguration -> channel count (0 means "in a PCE"; 8-10 reserved).
_CHANNELS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}

AOT_SBR = 5
AOT_PS = 29
# Object types whose specific config is GASpecificConfig (frame length flag, PCE).
_GA_OBJECT_TYPES = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})


class AacConfigError(ValueError):
    """An AudioSpecificConfig is truncated or uses reserved values."""


@dataclass(frozen=True, slots=True)
class AacConfig:
    """A parsed AudioSpecificConfig.

    ``object_type`` is the first signalled audio object type (5 or 29 for explicitly signalled
    HE-AAC), which is what RFC 6381 puts in the codec string; ``base_object_type`` is the core
    coder's. ``sample_rate`` is the core coder's rate, at which every access unit holds
    ``frame_length`` samples, so it is the natural timescale; ``output_sample_rate`` is the
    rate after SBR (the same when there is no SBR).
    """

    object_type: int
    base_object_type: int
    sample_rate: int
    output_sample_rate: int
    channel_config: int
    channels: int
    frame_length: int

    @property
    def codec(self) -> str:
        """The RFC 6381 codec string, e.g. ``mp4a.40.2``."""
        return codec_string(self.object_type)


def codec_string(object_type: int) -> str:
    return f"mp4a.40.{object_type}"


class _Bits(BitReader):
    """BitReader with the ASC's escape-coded fields."""

    __slots__ = ()

    def __init__(self, data: bytes) -> None:
        super().__init__(data, AacConfigError, "AudioSpecificConfig truncated")

    def object_type(self) -> int:
        aot = self.u(5)
        return 32 + self.u(6) if aot == 31 else aot

    def sample_rate(self) -> int:
        index = self.u(4)
        if index == 15:
            rate = self.u(24)
            if rate == 0:
                raise AacConfigError("AudioSpecificConfig has an explicit sampling frequency of 0")
            return rate
        if index >= len(SAMPLE_RATES):
            raise AacConfigError(f"reserved samplingFrequencyIndex {index}")
        return SAMPLE_RATES[index]


def parse_asc(data: bytes) -> AacConfig:
    """Parse an AudioSpecificConfig (the FLV AAC sequence header / esds DecoderSpecificInfo)."""
    if len(data) < 2:
        raise AacConfigError(f"AudioSpecificConfig too short ({len(data)} bytes)")
    r = _Bits(data)
    object_type = r.object_type()
    if object_type == 0:
        raise AacConfigError("AudioSpecificConfig has audio object type 0 (null)")
    sample_rate = r.sample_rate()
    channel_config = r.u(4)
    base_object_type = object_type
    output_sample_rate = sample_rate
    if object_type in (AOT_SBR, AOT_PS):
        # Explicit hierarchical SBR/PS signalling: the extension rate, then the core type.
        output_sample_rate = r.sample_rate()
        base_object_type = r.object_type()
        if base_object_type == 22:
            r.u(4)  # extensionChannelConfiguration
    channels = _CHANNELS.get(channel_config, 0)
    frame_length = 1024
    if base_object_type in _GA_OBJECT_TYPES:
        # GASpecificConfig; a config that stops right after the channel configuration is
        # common enough (and harmless) that a missing tail is not an error.
        try:
            if r.u(1):
                frame_length = 960
            if r.u(1):  # dependsOnCoreCoder
                r.u(14)
            r.u(1)  # extensionFlag
            if channel_config == 0:
                channels = _pce_channels(r)
        except AacConfigError:
            if channel_config == 0:
                channels = 0
    return AacConfig(
        object_type=object_type,
        base_object_type=base_object_type,
        sample_rate=sample_rate,
        output_sample_rate=output_sample_rate,
        channel_config=channel_config,
        channels=channels,
        frame_length=frame_length,
    )


def _pce_channels(r: _Bits) -> int:
    """Count the output channels of a program_config_element (14496-3 4.4.1.1)."""
    r.u(4 + 2 + 4)  # element_instance_tag, object_type, sampling_frequency_index
    front, side, back = r.u(4), r.u(4), r.u(4)
    lfe = r.u(2)
    r.u(3 + 4)  # num_assoc_data_elements, num_valid_cc_elements
    if r.u(1):  # mono_mixdown_present
        r.u(4)
    if r.u(1):  # stereo_mixdown_present
        r.u(4)
    if r.u(1):  # matrix_mixdown_idx_present
        r.u(3)
    channels = lfe
    for _ in range(front + side + back):
        channels += 2 if r.u(1) else 1  # is_cpe: a channel pair counts twice
        r.u(4)
    return channels
