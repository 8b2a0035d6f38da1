"""The multivariant playlist of a stream: its variants, measured, and the shared audio.

Every video variant (the source and each encoded rendition) is video only and plays with
the one audio rendition, declared once as an ``EXT-X-MEDIA`` of ``TYPE=AUDIO`` and named by
each variant's ``AUDIO`` attribute. Figures are measured on the segments in the live window:

- ``BANDWIDTH`` is the peak segment bitrate of the variant's video plus the peak of the audio
  (RFC 8216bis 4.4.6.2: the largest sum of peak bitrates of renditions played together);
- ``AVERAGE-BANDWIDTH`` the same with average bitrates;
- ``CODECS`` lists the video and the audio codec, ``RESOLUTION`` and ``FRAME-RATE`` come from
  the video track and its frames.

The audio rendition is also listed as a variant of its own (audio only, for the slowest
links), and a stream without video has its one audio rendition as its only variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from golive.media.frame import Track, TrackKind
from golive.packager.hls_rendition import HlsRendition

__all__ = ["AUDIO_GROUP", "multivariant_playlist"]

AUDIO_GROUP = "audio"


@dataclass(frozen=True, slots=True)
class _Measured:
    peak: float  # bits per second, the highest of any complete segment
    average: float
    frame_rate: float
    track: Track


def _measure(rendition: HlsRendition) -> _Measured | None:
    segs = [s for s in rendition.window.segments.values() if s.complete and s.duration > 0]
    if not segs or not rendition.tracks:
        return None
    seconds = sum(s.duration for s in segs)
    return _Measured(
        peak=max(len(s.data) * 8 / s.duration for s in segs),
        average=sum(len(s.data) for s in segs) * 8 / seconds,
        frame_rate=sum(s.frame_count for s in segs) / seconds,
        track=rendition.tracks[0],
    )


def _stream_inf(
    measured: _Measured, audio: _Measured | None, *, audio_group: bool, uri: str
) -> list[str]:
    peak, average = measured.peak, measured.average
    codecs = [measured.track.codec]
    if audio is not None and measured.track.kind is TrackKind.VIDEO:
        peak += audio.peak
        average += audio.average
        codecs.append(audio.track.codec)
    attrs = [
        f"BANDWIDTH={round(peak)}",
        f"AVERAGE-BANDWIDTH={round(average)}",
        'CODECS="' + ",".join(codecs) + '"',
    ]
    track = measured.track
    if track.kind is TrackKind.VIDEO:
        if track.width and track.height:
            attrs.append(f"RESOLUTION={track.width}x{track.height}")
        attrs.append(f"FRAME-RATE={measured.frame_rate:.3f}")
    if audio_group:
        attrs.append(f'AUDIO="{AUDIO_GROUP}"')
    return ["#EXT-X-STREAM-INF:" + ",".join(attrs), uri]


def multivariant_playlist(
    variants: Sequence[HlsRendition],
    audio: HlsRendition | None,
    *,
    audio_only_variant: bool,
) -> str | None:
    """The playlist text, or None while no variant has a complete segment.

    ``variants`` are listed in the order given (players start with the first one); ``audio``
    is the shared audio rendition of video variants, if the stream has one.
    """
    lines = ["#EXTM3U", "#EXT-X-VERSION:9"]
    measured_audio = _measure(audio) if audio is not None else None
    if measured_audio is not None and audio is not None:
        track = measured_audio.track
        attrs = [
            "TYPE=AUDIO",
            f'GROUP-ID="{AUDIO_GROUP}"',
            f'NAME="{audio.name}"',
            "DEFAULT=YES",
            "AUTOSELECT=YES",
        ]
        if track.channels:
            attrs.append(f'CHANNELS="{track.channels}"')
        attrs.append(f'URI="{audio.name}/index.m3u8"')
        lines.append("#EXT-X-MEDIA:" + ",".join(attrs))
    listed = 0
    for rendition in variants:
        measured = _measure(rendition)
        if measured is None:
            continue
        lines += _stream_inf(
            measured,
            measured_audio,
            audio_group=measured_audio is not None,
            uri=f"{rendition.name}/index.m3u8",
        )
        listed += 1
    if not listed:
        return None
    if audio_only_variant and measured_audio is not None and audio is not None:
        lines += _stream_inf(measured_audio, None, audio_group=True, uri=f"{audio.name}/index.m3u8")
    lines.append("")
    return "\n".join(lines)
