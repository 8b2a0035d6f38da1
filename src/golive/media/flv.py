"""FLV audio/video tag bodies (RTMP message types 8 and 9) to Tracks and Frames.

Covers the legacy FLV v10 tag headers for H.264 (codec id 7) and AAC (sound format 10), and
the enhanced-RTMP (E-RTMP v2) FourCC headers for ``avc1`` and ``mp4a``. Everything else is
refused with :class:`UnsupportedCodecError`, whose message is meant for the publisher.
"""

from __future__ import annotations

from golive.media.aac import AacConfigError, parse_asc
from golive.media.avc import AvcConfigError, parse_avcc
from golive.media.frame import (
    AUDIO_TRACK_ID,
    VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
    Frame,
    Track,
    TrackKind,
)

__all__ = ["FlvDemuxer", "FlvFormatError", "UnsupportedCodecError", "check_avc"]


class FlvFormatError(ValueError):
    """A tag body is truncated or does not follow the FLV / enhanced-RTMP layout."""


class UnsupportedCodecError(ValueError):
    """The publisher sends a codec the server cannot package (the message says which)."""


_ADVICE = "publish H.264 video and AAC audio"

_LEGACY_VIDEO_CODECS = {
    2: "Sorenson H.263",
    3: "Screen Video",
    4: "On2 VP6",
    5: "On2 VP6 with alpha",
    6: "Screen Video v2",
    # Not in the Adobe spec, but widely used by Chinese CDNs and some encoders.
    12: "HEVC",
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
_VIDEO_FOURCCS = {
    b"hvc1": "HEVC",
    b"av01": "AV1",
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
            return self._video_frame(timestamp_ms, frame_type == _FRAME_KEY, cts, body[5:])
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
        if fourcc != b"avc1":
            name = _VIDEO_FOURCCS.get(fourcc, "unknown video codec")
            raise UnsupportedCodecError(
                f"{name} (enhanced RTMP FourCC {_fourcc_text(fourcc)}) is not supported yet; "
                f"{_ADVICE}"
            )
        if packet_type == _PKT_CODED_FRAMES:
            if pos + 3 > n:
                raise FlvFormatError("enhanced AVC video tag truncated in composition time")
            cts = (body[pos] << 16) | (body[pos + 1] << 8) | body[pos + 2]
            if cts & 0x800000:
                cts -= 0x1000000
            return self._video_frame(timestamp_ms, frame_type == _FRAME_KEY, cts, body[pos + 3 :])
        if packet_type == _VPKT_CODED_FRAMES_X:
            return self._video_frame(timestamp_ms, frame_type == _FRAME_KEY, 0, body[pos:])
        if packet_type == _PKT_SEQUENCE_START:
            return self._video_config(body[pos:])
        if packet_type in (_PKT_SEQUENCE_END, _VPKT_METADATA):
            return []  # metadata is HDR colour info, which H.264 carries in its VUI anyway
        raise FlvFormatError(f"unsupported enhanced video packet type {packet_type} for avc1")

    def _video_frame(
        self, timestamp_ms: int, keyframe: bool, cts: int, data: bytes
    ) -> list[Track | Frame]:
        if self._video is None or not data:
            return []  # a decoder cannot start without the sequence header
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
        track = Track(
            id=VIDEO_TRACK_ID,
            kind=TrackKind.VIDEO,
            codec=config.codec,
            timescale=VIDEO_TIMESCALE,
            config=avcc,
            width=config.width,
            height=config.height,
        )
        self._video = track
        self._tracks[VIDEO_TRACK_ID] = track
        held, self._held_audio = self._held_audio or [], None
        return [track, *held]

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
