"""The multivariant playlist of a stream: its variants, measured.

Every video variant (the source and each encoded rendition) carries its audio muxed in, so
each is one ``EXT-X-STREAM-INF`` with no ``EXT-X-MEDIA`` group. Figures are measured on the
segments in the live window (RFC 8216bis 4.4.6.2):

- ``BANDWIDTH`` is the peak segment bitrate (audio and video together);
- ``AVERAGE-BANDWIDTH`` the average over the window;
- ``CODECS`` lists every track's codec, ``RESOLUTION`` and ``FRAME-RATE`` come from the
  video track and its frames.

The audio can also be listed as a variant of its own (audio only, for the slowest links), and
a stream without video has its one audio rendition as its only variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from golive.media.frame import Track, TrackKind
from golive.packager.hls_rendition import HlsRendition

__all__ = ["multivariant_playlist"]


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


def _stream_inf(measured: _Measured, codecs: Sequence[str], uri: str) -> list[str]:
    attrs = [
        f"BANDWIDTH={round(measured.peak)}",
        f"AVERAGE-BANDWIDTH={round(measured.average)}",
        'CODECS="' + ",".join(codecs) + '"',
    ]
    track = measured.track
    if track.kind is TrackKind.VIDEO:
        if track.width and track.height:
            attrs.append(f"RESOLUTION={track.width}x{track.height}")
        attrs.append(f"FRAME-RATE={measured.frame_rate:.3f}")
    return ["#EXT-X-STREAM-INF:" + ",".join(attrs), uri]


def multivariant_playlist(
    variants: Sequence[HlsRendition],
    audio_only: HlsRendition | None,
    *,
    playlist: str = "index.m3u8",
) -> str | None:
    """The playlist text, or None while no variant has a complete segment.

    ``playlist`` is the media playlists' name (``dvr.m3u8`` for the DVR multivariant).

    ``variants`` are listed in the order given (players start with the first one);
    ``audio_only`` is the audio rendition listed last as a variant of its own, if any.
    """
    lines = ["#EXTM3U", "#EXT-X-VERSION:9"]
    listed = 0
    for rendition in variants:
        measured = _measure(rendition)
        if measured is None:
            continue
        codecs = [t.codec for t in rendition.tracks]
        lines += _stream_inf(measured, codecs, f"{rendition.name}/{playlist}")
        listed += 1
    if not listed:
        return None
    measured_audio = _measure(audio_only) if audio_only is not None else None
    if measured_audio is not None and audio_only is not None:
        lines += _stream_inf(
            measured_audio, [measured_audio.track.codec], f"{audio_only.name}/{playlist}"
        )
    lines.append("")
    return "\n".join(lines)
