"""Packages one live stream for HLS: its renditions and the multivariant playlist."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from golive.media.frame import Frame, Track, TrackKind
from golive.packager.hls_playlist import RenditionReport
from golive.packager.hls_rendition import HlsRendition
from golive.store.live_window import ChannelMedia, RenditionWindow, StoredSegment

SOURCE_RENDITION = "source"


def multivariant_playlist(renditions: Sequence[HlsRendition]) -> str | None:
    """EXT-X-STREAM-INF per rendition, with bandwidth and frame rate measured on its segments."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:9"]
    listed = 0
    for rendition in renditions:
        segs = [s for s in rendition.window.segments.values() if s.complete and s.duration > 0]
        if not segs or not rendition.tracks:
            continue
        rates = [len(s.data) * 8 / s.duration for s in segs]
        total_seconds = sum(s.duration for s in segs)
        average = sum(len(s.data) for s in segs) * 8 / total_seconds
        attrs = [
            f"BANDWIDTH={round(max(rates))}",
            f"AVERAGE-BANDWIDTH={round(average)}",
            'CODECS="' + ",".join(t.codec for t in rendition.tracks) + '"',
        ]
        video = rendition.video
        if video is not None:
            if video.width and video.height:
                attrs.append(f"RESOLUTION={video.width}x{video.height}")
            frames = sum(s.frame_count for s in segs)
            attrs.append(f"FRAME-RATE={frames / total_seconds:.3f}")
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(f"{rendition.name}/index.m3u8")
        listed += 1
    if not listed:
        return None
    lines.append("")
    return "\n".join(lines)


class HlsStreamPackager:
    """A StreamConsumer: source frames go to the source rendition; more renditions may join.

    It also keeps the multivariant playlist current whenever a rendition completes a segment.
    """

    def __init__(
        self,
        media: ChannelMedia,
        *,
        part_target: float,
        segment_target: float,
        window_segments: int,
        clock: Callable[[], float] | None = None,
        log_extra: dict[str, object] | None = None,
    ) -> None:
        self.media = media
        self._options: dict[str, object] = {
            "part_target": part_target,
            "segment_target": segment_target,
            "window_segments": window_segments,
            "log_extra": log_extra,
        }
        if clock is not None:
            self._options["clock"] = clock
        self.renditions: dict[str, HlsRendition] = {}
        self.source = self.add_rendition(SOURCE_RENDITION)

    def add_rendition(self, name: str) -> HlsRendition:
        window = RenditionWindow(name, stream_token=self.media.stream_token)
        self.media.renditions[name] = window
        rendition = HlsRendition(
            name,
            window,
            on_segment=self._segment_done,
            reports=self._reports,
            **self._options,  # type: ignore[arg-type]
        )
        self.renditions[name] = rendition
        return rendition

    # -- StreamConsumer ---------------------------------------------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self.source.on_tracks(tracks)

    def on_frame(self, frame: Frame) -> None:
        self.source.on_frame(frame)

    def on_discontinuity(self) -> None:
        self.source.on_discontinuity()

    def on_end(self) -> None:
        for rendition in self.renditions.values():
            rendition.on_end()

    # -- internals ----------------------------------------------------------------------------

    def _segment_done(self, rendition: HlsRendition, segment: StoredSegment) -> None:
        ordered = sorted(self.renditions.values(), key=_rendition_order)
        text = multivariant_playlist(ordered)
        if text is not None:
            self.media.set_multivariant(text.encode())

    def _reports(self, rendition: HlsRendition) -> list[RenditionReport]:
        reports = []
        for other in self.renditions.values():
            if other is rendition:
                continue
            pos = other.window.last_position
            if pos is not None:
                reports.append(RenditionReport(f"../{other.name}/index.m3u8", pos[0], pos[1]))
        return reports


def _rendition_order(rendition: HlsRendition) -> tuple[int, int]:
    # Highest quality first: players start with the first listed variant.
    video = rendition.video
    if video is None:
        return (1, 0)
    return (0, -(video.width * video.height))


__all__ = ["SOURCE_RENDITION", "HlsStreamPackager", "TrackKind", "multivariant_playlist"]
