"""Packages the Frames of one rendition into its live window: CMAF parts and LL-HLS playlists."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from golive.media.frame import Frame, Track, TrackKind
from golive.packager.cmaf_segmenter import (
    CmafSegmenter,
    InitReady,
    PartReady,
    SegmenterEvent,
    SegmentReady,
    SegmentStarted,
)
from golive.packager.hls_playlist import MediaPlaylistWriter, RenditionReport
from golive.store.live_window import (
    PlaylistSnapshot,
    RenditionWindow,
    StoredPart,
    StoredSegment,
)

log = logging.getLogger("golive.packager")

# Segments stay fetchable this many segments after they leave the playlist (RFC 8216 6.2.2:
# clients that loaded an older playlist may still ask for them).
_RETENTION_SEGMENTS = 3


class HlsRendition:
    """One rendition: a CMAF segmenter feeding a RenditionWindow and its playlists."""

    def __init__(
        self,
        name: str,
        window: RenditionWindow,
        *,
        part_target: float,
        segment_target: float,
        window_segments: int,
        first_msn: int = 0,
        clock: Callable[[], float] = time.time,
        on_segment: Callable[[HlsRendition, StoredSegment], None] | None = None,
        reports: Callable[[HlsRendition], Sequence[RenditionReport]] | None = None,
        log_extra: dict[str, object] | None = None,
    ) -> None:
        self.name = name
        self.window = window
        self.tracks: list[Track] = []
        self.segmenter = CmafSegmenter(
            part_target=part_target, segment_target=segment_target, first_msn=first_msn
        )
        self._writer = MediaPlaylistWriter(uri_prefix=f"{window.stream_token}/")
        self._window_segments = max(3, window_segments)
        self._clock = clock
        self._on_segment = on_segment
        self._reports = reports
        self._log_extra = log_extra or {}
        self._anchor_wall = 0.0
        self._anchor_media = 0.0
        self._candidate_wall: float | None = None
        self._playlist_first = 0  # index into window.segments order of the playlist's start
        self._discontinuity_sequence = 0
        self._current: StoredSegment | None = None
        self._forced_logged = 0

    # -- StreamConsumer ---------------------------------------------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self.tracks = sorted(tracks, key=lambda t: t.id)
        self._handle(self.segmenter.set_tracks(list(tracks)))

    def on_frame(self, frame: Frame) -> None:
        if self._candidate_wall is None and frame.keyframe:
            self._candidate_wall = self._clock()
        self._handle(self.segmenter.push(frame))

    def on_discontinuity(self) -> None:
        self._handle(self.segmenter.discontinuity())
        self._candidate_wall = None

    def on_end(self) -> None:
        self._handle(self.segmenter.flush())
        self.window.end(self._render_snapshot(ended=True))

    # -- state for the multivariant playlist and reports -------------------------------------

    @property
    def video(self) -> Track | None:
        return next((t for t in self.tracks if t.kind is TrackKind.VIDEO), None)

    def playlist_segments(self) -> list[StoredSegment]:
        segs = list(self.window.segments.values())
        return segs[self._playlist_first :]

    # -- internals ------------------------------------------------------------------------------

    def _handle(self, events: list[SegmenterEvent]) -> None:
        for ev in events:
            if isinstance(ev, PartReady):
                self._on_part(ev)
            elif isinstance(ev, SegmentStarted):
                self._on_segment_started(ev)
            elif isinstance(ev, SegmentReady):
                self._on_segment_ready(ev)
            elif isinstance(ev, InitReady):
                self.window.init_segments[ev.init_id] = ev.data

    def _on_segment_started(self, ev: SegmentStarted) -> None:
        if ev.timeline_start:
            # Wall clock of the timeline's first keyframe anchors EXT-X-PROGRAM-DATE-TIME, but
            # never before the end of the previous timeline: a publisher that sent faster than
            # real time must not make dates run backwards across the discontinuity.
            anchor = self._candidate_wall or self._clock()
            previous = self._current
            if previous is not None:
                end = previous.program_date_time + (
                    previous.duration or sum(p.duration for p in previous.parts)
                )
                anchor = max(anchor, end)
            self._anchor_wall = anchor
            self._anchor_media = ev.start
        seg = StoredSegment(
            msn=ev.msn,
            init_id=ev.init_id,
            discontinuity=ev.discontinuity,
            program_date_time=self._anchor_wall + (ev.start - self._anchor_media),
            independent=ev.independent,
        )
        self._current = seg
        self.window.segments[ev.msn] = seg
        if not ev.independent and self.segmenter.forced_cuts > self._forced_logged:
            self._forced_logged = self.segmenter.forced_cuts
            log.warning(
                "keyframe interval exceeds the target duration: segment %d cut without a keyframe",
                ev.msn,
                extra=self._log_extra,
            )

    def _on_part(self, ev: PartReady) -> None:
        seg = self._current
        if seg is None or seg.msn != ev.msn:
            return
        seg.parts.append(StoredPart(ev.index, ev.duration, ev.independent, ev.data))
        seg.frame_count += ev.frame_count
        if self.window.target_duration == 0 and self.segmenter.target_duration is None:
            return  # no playlist until the target duration is known (first segment complete)
        snapshot = self._render_snapshot()
        if snapshot is not None:
            self.window.publish(snapshot)

    def _on_segment_ready(self, ev: SegmentReady) -> None:
        seg = self.window.segments.get(ev.msn)
        if seg is None:
            return
        seg.duration = ev.duration
        seg.complete = True
        # One buffer for the whole segment; the parts become views into it, so the live window
        # holds every byte once.
        data = b"".join(bytes(p.data) for p in seg.parts)
        view = memoryview(data)
        offset = 0
        for part in seg.parts:
            size = len(part.data)
            part.data = view[offset : offset + size]
            offset += size
        seg.data = data
        if self.window.target_duration == 0 and self.segmenter.target_duration is not None:
            self.window.target_duration = self.segmenter.target_duration
            self.window.part_target = self.segmenter.part_target or 0.0
        self._slide_window()
        if self._on_segment is not None:
            self._on_segment(self, seg)

    def _slide_window(self) -> None:
        segs = list(self.window.segments.values())
        complete = [s for s in segs[self._playlist_first :] if s.complete]
        while len(complete) > self._window_segments:
            dropped = complete.pop(0)
            self._playlist_first += 1
            if dropped.discontinuity:
                self._discontinuity_sequence += 1
        evict_below = segs[max(0, self._playlist_first - _RETENTION_SEGMENTS)].msn
        before = len(self.window.segments)
        self.window.evict_before(evict_below)
        self._playlist_first -= before - len(self.window.segments)
        first_in_playlist = segs[self._playlist_first if self._playlist_first < len(segs) else -1]
        self._writer.forget_before(first_in_playlist.msn)

    def preload_hint(self) -> tuple[int, int] | None:
        seg = self._current
        if seg is None:
            return None
        if seg.complete or self.segmenter.next_part_starts_segment():
            return (seg.msn + 1, 0)
        return (seg.msn, len(seg.parts))

    def _render_snapshot(self, *, ended: bool = False) -> PlaylistSnapshot | None:
        segs = self.playlist_segments()
        last = next((s for s in reversed(segs) if s.parts), None)
        target = self.window.target_duration or self.segmenter.target_duration or 0
        if last is None or target == 0:
            return None
        part_target = self.segmenter.part_target or 0.0
        self.window.target_duration = target
        self.window.part_target = part_target
        reports = self._reports(self) if self._reports is not None else ()
        hint = None if ended else self.preload_hint()

        def render(skip: bool) -> str | None:
            return self._writer.render(
                segs,
                target_duration=target,
                part_target=part_target,
                discontinuity_sequence=self._discontinuity_sequence,
                preload_hint=hint,
                reports=reports,
                ended=ended,
                skip=skip,
            )

        full = render(False)
        skipped = render(True)
        assert full is not None
        return PlaylistSnapshot(
            msn=last.msn,
            part=len(last.parts) - 1,
            full=full.encode(),
            skipped=skipped.encode() if skipped is not None else None,
        )
