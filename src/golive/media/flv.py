"""FLV audio/video tag bodies (RTMP message types 8 and 9) to Tracks and Frames.

Covers the legacy FLV v10 tag headers for H.264 (codec id 7) and AAC (sound format 10), and
the enhanced-RTMP (E-RTMP v1/v2) FourCC headers for ``avc1``, ``hvc1`` (HEVC), ``av01`` (AV1)
and ``mp4a``. Everything else is refused with :class:`UnsupportedCodecError`, whose message is
meant for the publisher.

HEVC frames stay length-prefixed (as the hvcC and ISO BMFF want them); AV1 frames are the
temporal unit's OBUs without temporal delimiters, as an ISO BMFF sample holds them.
"""

from __future__ import annotations

from golive.media.aac import AacConfigError, parse_asc
from golive.media.av1 import (
    Av1ConfigError,
    av1c_from_sequence_header,
    find_sequence_header,
    parse_av1c,
    strip_temporal_delimiters,
)
from golive.media.avc import AvcConfigError, parse_avcc
from golive.media.frame import (
    AUDIO_TRACK_ID,
    VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
    Frame,
    Track,
    TrackKind,
)
from golive.media.hevc import HevcConfigError, parse_hvcc

__all__ = [
    "FlvDemuxer",
    "FlvFormatError",
    "UnsupportedCodecError",
    "check_av1",
    "check_avc",
    "check_hevc",
]


class FlvFormatError(ValueError):
    """A tag body is truncated or does not follow the FLV / enhanced-RTMP layout."""


class UnsupportedCodecError(ValueError):
    """The publisher sends a codec the server cannot package (the message says which)."""


_ADVICE = "publish H.264, HEVC or AV1 video (HEVC and AV1 over enhanced RTMP) and AAC audio"

_LEGACY_VIDEO_CODECS = {
    2: "Sorenson H.263",
    3: "Screen Video",
    4: "On2 VP6",
    5: "On2 VP6 with alpha",
    6: "Screen Video v2",
    # Not in the Adobe spec, but widely used by Chinese CDNs and some encoders; golive takes
    # HEVC only with enhanced RTMP's FourCC header.
    12: "HEVC with the non-standard FLV codec id",
}
_SOUND_FORMATS = {
    0: "Linear PCM (platform endian)",
    1: "ADPCM",
    2: "MP3",
    3: "Linear PCM (little endian)",
    4: "Nellymoser 16 kHz mono",
    5: "Nellymoser 8 kHz mono",
    6: "Nellymoser",
    7: "G.711 A-law",
    8: "G.711 mu-law",
    11: "Speex",
    14: "MP3 8 kHz",
    15: "device-specific sound",
}
_ENHANCED_VIDEO = frozenset({b"avc1", b"hvc1", b"av01"})
_VIDEO_FOURCCS = {
    b"vp09": "VP9",
    b"vp08": "VP8",
    b"vvc1": "VVC",
}
_AUDIO_FOURCCS = {
    b"Opus": "Opus",
    b"fLaC": "FLAC",
    b"ac-3": "AC-3",
    b"ec-3": "E-AC-3",
    b".mp3": "MP3",
}

# Legacy header values.
_CODEC_AVC = 7
_SOUND_AAC = 10
_SOUND_EX_HEADER = 9
_FRAME_KEY = 1
_FRAME_COMMAND = 5

# Enhanced-RTMP packet types (video and audio share SequenceStart/CodedFrames/SequenceEnd).
_PKT_SEQUENCE_START = 0
_PKT_CODED_FRAMES = 1
_PKT_SEQUENCE_END = 2
_VPKT_CODED_FRAMES_X = 3
_VPKT_METADATA = 4
_VPKT_MPEG2TS_SEQUENCE_START = 5
_VPKT_MULTITRACK = 6
_APKT_MULTICHANNEL_CONFIG = 4
_APKT_MULTITRACK = 5
_PKT_MOD_EX = 7

# What the packager accepts of a codec configuration: anything else is refused at ingest,
# before a consumer spends memory or CPU on it (a 16M x 16M SPS parses fine).
_AVC_PROFILES = frozenset(
    {66, 77, 88, 100, 110, 122, 244, 44, 83, 86, 118, 128, 134, 135, 138, 139}
)
# level_idc values of H.264 table A-1 (9 is level 1b; 11 with constraint_set3 is too).
_AVC_LEVELS = frozenset(
    {9, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52, 60, 61, 62}
)
_MIN_DIMENSION = 16
_MAX_DIMENSION = 8192
_MAX_DIMENSION_LEVEL_6 = 16384  # level 6.x allows 8K-and-above pictures
# HEVC general_profile_idc values of H.265 annex A (1 Main ... 11 high throughput SCC).
_HEVC_PROFILES = frozenset(range(1, 12))
_HEVC_MAX_LEVEL = 186  # level 6.2 (level_idc is 30 times the level)
_AV1_MAX_LEVEL = 23  # seq_level_idx 7.3; 31 means "no level", refused too
_AAC_RATES = (7350, 96000)
_AAC_MAX_CHANNELS = 8

# Audio held back while an announced video track has no configuration yet (about 4 s of AAC):
# a longer wait means the video is not coming, and the audio goes on alone.
_MAX_HELD_AUDIO = 200

_WRAP = 1 << 32
_HALF_WRAP = 1 << 31
# How close to a wrap point two timestamps must be for the step between them to be a wrap.
_NEAR = 1 << 26  # about 18 hours
_MS_TO_90K = VIDEO_TIMESCALE // 1000


class TimestampUnwrapper:
    """Turns wrapping millisecond timestamps into one monotonic count.

    RTMP timestamps are uint32 and wrap at 2**32 (RTMP 5.3.1.1). ffmpeg, however, writes FLV
    timestamps as *signed* 32-bit values (FLV v10: SI32), masked to 31 bits, so its counter
    wraps at 2**31. Both are recognised; other jumps in either direction are kept as they
    are, for the live layer to judge.
    """

    __slots__ = ("_last_raw", "_offset")

    def __init__(self) -> None:
        self._last_raw: int | None = None
        self._offset = 0

    def __call__(self, raw: int) -> int:
        raw &= 0xFFFFFFFF
        last = self._last_raw
        if last is None:
            self._last_raw = raw
            return raw
        if raw < last - _HALF_WRAP:
            self._offset += _WRAP
        elif _HALF_WRAP - _NEAR <= last < _HALF_WRAP and raw < _NEAR:
            self._offset += _HALF_WRAP
        elif raw > last + _HALF_WRAP and self._offset >= _WRAP:
            # A late message from before the wrap we already went through.
            return raw + self._offset - _WRAP
        self._last_raw = raw
        return raw + self._offset


def _fourcc_text(fourcc: bytes) -> str:
    return fourcc.decode("ascii", "backslashreplace")


def _skip_mod_ex(body: bytes, pos: int, kind: str) -> tuple[int, int]:
    """Skip E-RTMP ModEx blocks starting at ``pos``; return (packet type, new pos).

    The only modifier defined so far is a sub-millisecond timestamp offset, which a
    millisecond-based timeline has no use for.
    """
    n = len(body)
    while True:
        if pos >= n:
            raise FlvFormatError(f"enhanced {kind} tag truncated in ModEx data")
        size = body[pos] + 1
        pos += 1
        if size == 256:
            if pos + 2 > n:
                raise FlvFormatError(f"enhanced {kind} tag truncated in ModEx size")
            size = ((body[pos] << 8) | body[pos + 1]) + 1
            pos += 2
        pos += size
        if pos >= n:
            raise FlvFormatError(f"enhanced {kind} tag truncated after ModEx data")
        packet_type = body[pos] & 0x0F
        pos += 1
        if packet_type != _PKT_MOD_EX:
            return packet_type, pos


class FlvDemuxer:
    """Turns one publisher's FLV audio/video tag bodies into Tracks and Frames.

    Each call returns what the tag produced: a new :class:`Track` when a sequence header
    (re)defines a stream, :class:`Frame` objects for media, or nothing. Video timestamps are
    in 90 kHz; audio timestamps are in the sample rate and count samples, because FLV's
    whole milliseconds cannot place AAC frames exactly.
    """

    __slots__ = (
        "_audio",
        "_audio_clock",
        "_audio_frame_len",
        "_audio_next_dts",
        "_av1c_waiting",
        "_held_audio",
        "_tracks",
        "_video",
        "_video_clock",
    )

    def __init__(self) -> None:
        self._tracks: dict[int, Track] = {}
        self._video: Track | None = None
        self._audio: Track | None = None
        self._video_clock = TimestampUnwrapper()
        self._audio_clock = TimestampUnwrapper()
        self._audio_next_dts: int | None = None
        self._audio_frame_len = 1024
        # Set by an empty AVC sequence header: video is coming, so audio waits for it.
        self._held_audio: list[Track | Frame] | None = None
        # An av1C without config OBUs, waiting for the sequence header of the first keyframe.
        self._av1c_waiting: bytes | None = None

    @property
    def tracks(self) -> dict[int, Track]:
        """The current tracks by id (a copy)."""
        return dict(self._tracks)

    # -- video ---------------------------------------------------------------------------

    def video(self, timestamp_ms: int, body: bytes) -> list[Track | Frame]:
        """Handle the payload of an RTMP video message (FLV tag type 9)."""
        n = len(body)
        if n == 0:
            return []  # nothing to decode; some publishers send empty keep-alives
        b0 = body[0]
        if b0 & 0x80:
            return self._video_ex(timestamp_ms, body)
        frame_type = b0 >> 4
        if frame_type == _FRAME_COMMAND:
            return []  # video info/command frame: seek markers, no picture
        codec_id = b0 & 0x0F
        if codec_id != _CODEC_AVC:
            name = _LEGACY_VIDEO_CODECS.get(codec_id, "unknown video codec")
            raise UnsupportedCodecError(
                f"{name} (FLV video codec id {codec_id}) is not supported yet; {_ADVICE}"
            )
        if n < 5:
            raise FlvFormatError(f"AVC video tag truncated: {n} bytes, need at least 5")
        packet_type = body[1]
        if packet_type == 1:
            cts = (body[2] << 16) | (body[3] << 8) | body[4]
            if cts & 0x800000:
                cts -= 0x1000000  # SI24: B-frame reordering may need negative offsets
            return self._coded_frame(b"avc1", timestamp_ms, frame_type == _FRAME_KEY, cts, body[5:])
        if packet_type == 0:
            return self._video_config(body[5:])
        if packet_type == 2:
            return []  # end of sequence
        raise FlvFormatError(f"unknown AVCPacketType {packet_type}")

    def _video_ex(self, timestamp_ms: int, body: bytes) -> list[Track | Frame]:
        frame_type = (body[0] >> 4) & 0x07
        packet_type = body[0] & 0x0F
        pos = 1
        if packet_type == _PKT_MOD_EX:
            packet_type, pos = _skip_mod_ex(body, pos, "video")
        if frame_type == _FRAME_COMMAND and packet_type != _VPKT_METADATA:
            return []
        if packet_type == _VPKT_MULTITRACK:
            raise UnsupportedCodecError(
                f"multitrack video (enhanced RTMP) is not supported yet; {_ADVICE}"
            )
        n = len(body)
        if pos + 4 > n:
            raise FlvFormatError(f"enhanced video tag truncated: {n} bytes, no FourCC")
        fourcc = body[pos : pos + 4]
        pos += 4
        if fourcc not in _ENHANCED_VIDEO:
            name = _VIDEO_FOURCCS.get(fourcc, "unknown video codec")
            raise UnsupportedCodecError(
                f"{name} (enhanced RTMP FourCC {_fourcc_text(fourcc)}) is not supported yet; "
                f"{_ADVICE}"
            )
        keyframe = frame_type == _FRAME_KEY
        if packet_type == _PKT_CODED_FRAMES and fourcc != b"av01":
            # avc1 and hvc1 CodedFrames carry an SI24 composition time offset; av01 has none.
            if pos + 3 > n:
                raise FlvFormatError(
                    f"enhanced {_fourcc_text(fourcc)} video tag truncated in composition time"
                )
            cts = (body[pos] << 16) | (body[pos + 1] << 8) | body[pos + 2]
            if cts & 0x800000:
                cts -= 0x1000000
            return self._coded_frame(fourcc, timestamp_ms, keyframe, cts, body[pos + 3 :])
        if packet_type in (_PKT_CODED_FRAMES, _VPKT_CODED_FRAMES_X):
            return self._coded_frame(fourcc, timestamp_ms, keyframe, 0, body[pos:])
        if packet_type == _PKT_SEQUENCE_START:
            record = body[pos:]
            if fourcc == b"avc1":
                return self._video_config(record)
            if fourcc == b"hvc1":
                return self._hevc_config(record)
            return self._av1_config(record)
        if packet_type in (_PKT_SEQUENCE_END, _VPKT_METADATA):
            # Metadata is HDR colour info; the codecs carry their colour description in-band.
            return []
        if packet_type == _VPKT_MPEG2TS_SEQUENCE_START and fourcc == b"av01":
            raise UnsupportedCodecError(
                "AV1 MPEG2TSSequenceStart (an MPEG-2 TS AV1 descriptor) is not supported: "
                "send a SequenceStart with the av1C record"
            )
        raise FlvFormatError(
            f"unsupported enhanced video packet type {packet_type} for {_fourcc_text(fourcc)}"
        )

    def _coded_frame(
        self, fourcc: bytes, timestamp_ms: int, keyframe: bool, cts: int, data: bytes
    ) -> list[Track | Frame]:
        current = self._video
        if current is None:
            if fourcc == b"av01" and self._av1c_waiting is not None and keyframe and data:
                # The av1C came without config OBUs: the keyframe's sequence header completes it.
                out = self._av1_config_from_frame(data)
                return out + self._video_frame(timestamp_ms, keyframe, cts, data)
            return []
        if current.sample_entry != _fourcc_text(fourcc):
            raise FlvFormatError(
                f"{_fourcc_text(fourcc)} frames on a {current.sample_entry} video track: "
                "send a new sequence header before changing codec"
            )
        return self._video_frame(timestamp_ms, keyframe, cts, data)

    def _video_frame(
        self, timestamp_ms: int, keyframe: bool, cts: int, data: bytes
    ) -> list[Track | Frame]:
        video = self._video
        if video is None or not data:
            return []  # a decoder cannot start without the sequence header
        if video.sample_entry == "av01":
            try:
                data = strip_temporal_delimiters(data)
            except Av1ConfigError as exc:
                raise FlvFormatError(f"bad AV1 frame: {exc}") from exc
            if not data:
                return []
        ms = self._video_clock(timestamp_ms)
        dts = ms * _MS_TO_90K
        return [Frame(VIDEO_TRACK_ID, dts, dts + cts * _MS_TO_90K, keyframe, data)]

    def _video_config(self, avcc: bytes) -> list[Track | Frame]:
        if not avcc:
            # ffmpeg's tee muxer sends an empty sequence header before the real one: wait for
            # it, holding audio back so that consumers do not start an audio-only stream.
            if self._video is None and self._held_audio is None:
                self._held_audio = []
            return []
        current = self._video
        if current is not None and current.config == avcc:
            return []  # encoders repeat the sequence header; only a change matters
        try:
            config = parse_avcc(avcc)
        except AvcConfigError as exc:
            raise FlvFormatError(f"bad AVC sequence header: {exc}") from exc
        check_avc(
            config.sps_info.profile_idc, config.sps_info.level_idc, config.width, config.height
        )
        return self._set_video(config.codec, avcc, config.width, config.height)

    def _set_video(self, codec: str, record: bytes, width: int, height: int) -> list[Track | Frame]:
        track = Track(
            id=VIDEO_TRACK_ID,
            kind=TrackKind.VIDEO,
            codec=codec,
            timescale=VIDEO_TIMESCALE,
            config=record,
            width=width,
            height=height,
        )
        self._video = track
        self._av1c_waiting = None
        self._tracks[VIDEO_TRACK_ID] = track
        held, self._held_audio = self._held_audio or [], None
        return [track, *held]

    def _hevc_config(self, hvcc: bytes) -> list[Track | Frame]:
        if not hvcc:
            return self._video_config(hvcc)  # an empty header: wait, as for AVC
        current = self._video
        if current is not None and current.config == hvcc:
            return []
        try:
            config = parse_hvcc(hvcc)
        except HevcConfigError as exc:
            raise FlvFormatError(f"bad HEVC sequence header: {exc}") from exc
        check_hevc(config.profile_idc, config.level_idc, config.width, config.height)
        return self._set_video(config.codec, hvcc, config.width, config.height)

    def _av1_config(self, av1c: bytes) -> list[Track | Frame]:
        if not av1c:
            return self._video_config(av1c)
        current = self._video
        if current is not None and current.config == av1c:
            return []
        try:
            config = parse_av1c(av1c)
        except Av1ConfigError as exc:
            raise FlvFormatError(f"bad AV1 sequence header: {exc}") from exc
        header = config.sequence_header
        if header is None:
            # Allowed by the av1C spec: the sequence header comes in the first keyframe.
            if current is None and self._held_audio is None:
                self._held_audio = []
            self._av1c_waiting = av1c
            return []
        check_av1(config.level, header.width, header.height)
        return self._set_video(config.codec, av1c, header.width, header.height)

    def _av1_config_from_frame(self, data: bytes) -> list[Track | Frame]:
        try:
            found = find_sequence_header(data)
            if found is None:
                raise Av1ConfigError("the first keyframe has no sequence header OBU either")
            av1c = av1c_from_sequence_header(found[0])
            config = parse_av1c(av1c)
        except Av1ConfigError as exc:
            raise FlvFormatError(f"bad AV1 sequence header: {exc}") from exc
        header = found[1]
        check_av1(config.level, header.width, header.height)
        return self._set_video(config.codec, av1c, header.width, header.height)

    # -- audio ---------------------------------------------------------------------------

    def audio(self, timestamp_ms: int, body: bytes) -> list[Track | Frame]:
        """Handle the payload of an RTMP audio message (FLV tag type 8)."""
        out = self._audio_tag(timestamp_ms, body)
        held = self._held_audio
        if held is None or not out:
            return out
        held.extend(out)
        if len(held) <= _MAX_HELD_AUDIO:
            return []
        self._held_audio = None  # the announced video never came: audio goes on alone
        return held

    def _audio_tag(self, timestamp_ms: int, body: bytes) -> list[Track | Frame]:
        n = len(body)
        if n == 0:
            return []  # the RTMP "silence" message: no header, no data
        b0 = body[0]
        sound_format = b0 >> 4
        if sound_format == _SOUND_AAC:
            if n < 2:
                raise FlvFormatError("AAC audio tag truncated: no AACPacketType")
            packet_type = body[1]
            if packet_type == 1:
                return self._audio_frame(timestamp_ms, body[2:])
            if packet_type == 0:
                # soundType is the only channel hint when the ASC defers to a PCE.
                return self._audio_config(body[2:], 2 if b0 & 0x01 else 1)
            raise FlvFormatError(f"unknown AACPacketType {packet_type}")
        if sound_format == _SOUND_EX_HEADER:
            return self._audio_ex(timestamp_ms, body)
        name = _SOUND_FORMATS.get(sound_format, "unknown audio codec")
        raise UnsupportedCodecError(
            f"{name} audio (FLV sound format {sound_format}) is not supported yet; {_ADVICE}"
        )

    def _audio_ex(self, timestamp_ms: int, body: bytes) -> list[Track | Frame]:
        packet_type = body[0] & 0x0F
        pos = 1
        if packet_type == _PKT_MOD_EX:
            packet_type, pos = _skip_mod_ex(body, pos, "audio")
        if packet_type == _APKT_MULTITRACK:
            raise UnsupportedCodecError(
                f"multitrack audio (enhanced RTMP) is not supported yet; {_ADVICE}"
            )
        n = len(body)
        if pos + 4 > n:
            raise FlvFormatError(f"enhanced audio tag truncated: {n} bytes, no FourCC")
        fourcc = body[pos : pos + 4]
        pos += 4
        if fourcc != b"mp4a":
            name = _AUDIO_FOURCCS.get(fourcc, "unknown audio codec")
            raise UnsupportedCodecError(
                f"{name} (enhanced RTMP FourCC {_fourcc_text(fourcc)}) is not supported yet; "
                f"{_ADVICE}"
            )
        if packet_type == _PKT_CODED_FRAMES:
            return self._audio_frame(timestamp_ms, body[pos:])
        if packet_type == _PKT_SEQUENCE_START:
            return self._audio_config(body[pos:], 0)
        if packet_type in (_PKT_SEQUENCE_END, _APKT_MULTICHANNEL_CONFIG):
            return []  # AAC describes its own channel layout
        raise FlvFormatError(f"unsupported enhanced audio packet type {packet_type} for mp4a")

    def _audio_frame(self, timestamp_ms: int, data: bytes) -> list[Track | Frame]:
        track = self._audio
        if track is None or not data:
            return []
        ms = self._audio_clock(timestamp_ms)
        frame_len = self._audio_frame_len
        from_clock = ms * track.timescale // 1000
        dts = self._audio_next_dts
        # Count samples so that AUs abut exactly; trust the millisecond clock again only when
        # it disagrees by more than rounding can explain (a gap or a jump in the source).
        if dts is None or abs(from_clock - dts) > 2 * frame_len:
            dts = from_clock
        self._audio_next_dts = dts + frame_len
        return [Frame(AUDIO_TRACK_ID, dts, dts, True, data)]

    def _audio_config(self, asc: bytes, flv_channels: int) -> list[Track | Frame]:
        if not asc:
            return []  # an empty sequence header, as for video: wait for the real one
        current = self._audio
        if current is not None and current.config == asc:
            return []
        try:
            config = parse_asc(asc)
        except AacConfigError as exc:
            raise FlvFormatError(f"bad AAC sequence header: {exc}") from exc
        low, high = _AAC_RATES
        if not low <= config.sample_rate <= high:
            raise UnsupportedCodecError(
                f"AAC sample rate {config.sample_rate} Hz is out of range ({low}-{high} Hz); "
                f"{_ADVICE}"
            )
        if config.channels > _AAC_MAX_CHANNELS:
            raise UnsupportedCodecError(
                f"AAC with {config.channels} channels is not supported (at most "
                f"{_AAC_MAX_CHANNELS}); {_ADVICE}"
            )
        track = Track(
            id=AUDIO_TRACK_ID,
            kind=TrackKind.AUDIO,
            codec=config.codec,
            timescale=config.sample_rate,
            config=asc,
            sample_rate=config.sample_rate,
            channels=config.channels or flv_channels or 2,
        )
        if current is None or current.timescale != track.timescale:
            self._audio_next_dts = None  # sample counts in the old rate mean nothing now
        self._audio = track
        self._audio_frame_len = config.frame_length
        self._tracks[AUDIO_TRACK_ID] = track
        return [track]


def check_avc(profile: int, level: int, width: int, height: int) -> None:
    """Refuse an H.264 configuration the packager should not take on (the reason is said)."""
    if profile not in _AVC_PROFILES:
        raise UnsupportedCodecError(
            f"H.264 profile_idc {profile} is not a known profile; {_ADVICE}"
        )
    if level not in _AVC_LEVELS:
        raise UnsupportedCodecError(f"H.264 level_idc {level} is not a level of H.264; {_ADVICE}")
    limit = _MAX_DIMENSION_LEVEL_6 if level >= 60 else _MAX_DIMENSION
    for name, size in (("width", width), ("height", height)):
        if not _MIN_DIMENSION <= size <= limit:
            raise UnsupportedCodecError(
                f"H.264 picture {width}x{height}: {name} {size} is out of range "
                f"({_MIN_DIMENSION}-{limit} pixels at level {level / 10:g}); {_ADVICE}"
            )


def _check_size(name: str, width: int, height: int, limit: int, level_text: str) -> None:
    for side, size in (("width", width), ("height", height)):
        if not _MIN_DIMENSION <= size <= limit:
            raise UnsupportedCodecError(
                f"{name} picture {width}x{height}: {side} {size} is out of range "
                f"({_MIN_DIMENSION}-{limit} pixels at {level_text}); {_ADVICE}"
            )


def check_hevc(profile: int, level: int, width: int, height: int) -> None:
    """Refuse an HEVC configuration the packager should not take on (the reason is said)."""
    if profile not in _HEVC_PROFILES:
        raise UnsupportedCodecError(
            f"HEVC general_profile_idc {profile} is not a known profile; {_ADVICE}"
        )
    if not 0 < level <= _HEVC_MAX_LEVEL:
        raise UnsupportedCodecError(
            f"HEVC general_level_idc {level} is not a level of HEVC; {_ADVICE}"
        )
    limit = _MAX_DIMENSION_LEVEL_6 if level >= 180 else _MAX_DIMENSION
    _check_size("HEVC", width, height, limit, f"level {level / 30:g}")


def check_av1(level: int, width: int, height: int) -> None:
    """Refuse an AV1 configuration the packager should not take on (the reason is said)."""
    if level > _AV1_MAX_LEVEL:
        raise UnsupportedCodecError(f"AV1 seq_level_idx {level} is not a defined level; {_ADVICE}")
    limit = _MAX_DIMENSION_LEVEL_6 if level >= 16 else _MAX_DIMENSION
    _check_size("AV1", width, height, limit, f"level {2 + (level >> 2)}.{level & 3}")
