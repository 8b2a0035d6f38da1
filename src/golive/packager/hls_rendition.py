"""Packages the Frames of one rendition into its live window: CMAF parts and LL-HLS playlists."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from golive.media.fmp4 import init_segment
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
from golive.packager.segment_boundaries import Boundary, SegmentBoundaries
from golive.store.dvr_history import DvrHistory
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
# A follower holding frames for its leader's decision lets go of them after this long (the
# leader stalled): they join the current segment.
_MAX_HOLD_SECONDS = 2.0


class HlsRendition:
    """One rendition: a CMAF segmenter feeding a RenditionWindow and its playlists.

    The stream's leading rendition records its segment starts in ``lead``; the others
    ``follow`` them. With ``hold``, a follower's frame waits until the leader has decided its
    cuts up to the frame's time, so that no cut is missed because the follower's frame came
    first (the shared audio, interleaved with the video; any rendition while the leader holds
    its first frames to measure the frame rate).
    """

    def __init__(
        self,
        name: str,
        window: RenditionWindow,
        *,
        part_target: float,
        segment_target: float,
        window_segments: int,
        part_hold_back: float = 2.0,
        first_msn: int = 0,
        clock: Callable[[], float] = time.time,
        on_segment: Callable[[HlsRendition, StoredSegment], None] | None = None,
        reports: Callable[[HlsRendition], Sequence[RenditionReport]] | None = None,
        log_extra: dict[str, object] | None = None,
        on_part_published: Callable[[float], None] | None = None,
        lead: SegmentBoundaries | None = None,
        follow: SegmentBoundaries | None = None,
        hold: bool = False,
        on_segment_open: Callable[[HlsRendition, StoredSegment], None] | None = None,
        on_ended: Callable[[HlsRendition], None] | None = None,
        dvr: Callable[[str], DvrHistory | None] | None = None,
        dvr_reports: Callable[[HlsRendition], Sequence[RenditionReport]] | None = None,
    ) -> None:
        self.name = name
        self.window = window
        self.tracks: list[Track] = []
        self._primary_id: int | None = None
        self._primary_timescale = 1
        self.segmenter = CmafSegmenter(
            part_target=part_target,
            segment_target=segment_target,
            first_msn=first_msn,
            follow=follow,
        )
        self._lead = lead
        self._follow = follow
        self._on_segment_open = on_segment_open
        self._on_ended = on_ended
        self._held: deque[Frame] | None = None
        if follow is not None and hold:
            self._held = deque()
            follow.listen(self._release_held)
        self._writer = MediaPlaylistWriter(
            uri_prefix=f"{window.stream_token}/", part_hold_back_factor=part_hold_back
        )
        window.set_renderer(self._render_snapshot)
        self._window_segments = max(3, window_segments)
        self._clock = clock
        self._on_segment = on_segment
        self._reports = reports
        # DVR: the rendition's recorded past, if it is recorded (see store.dvr_history).
        self._dvr = dvr
        self._dvr_reports = dvr_reports
        self._log_extra = log_extra or {}
        self._anchor_wall = 0.0
        self._anchor_media = 0.0
        self._candidate_wall: float | None = None
        self._playlist_first = 0  # index into window.segments order of the playlist's start
        self._discontinuity_sequence = 0
        self._current: StoredSegment | None = None
        self._forced_logged = 0
        # Metrics, read when scraped: counts, and the delay from the arrival of a part's last
        # frame to its publication, reported to on_part_published (seconds).
        self.parts_published = 0
        self.segments_completed = 0
        self._on_part_published = on_part_published
        self._last_arrival = 0.0
        # The rendition made from one of our tracks (see set_companion), or the one we are
        # made from.
        self.companion: HlsRendition | None = None
        self.on_companion_failed: Callable[[HlsRendition], None] | None = None
        self._derived_from: HlsRendition | None = None
        self._derived_msn = -1  # the leader's segment our current segment belongs to
        self._derived_ticks = 0
        self._derived_discontinuity = False

    # -- StreamConsumer ---------------------------------------------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self.tracks = sorted(tracks, key=lambda t: t.id)
        # Only the primary track's frames decide cuts (audio may run ahead of the video).
        primary = self.video or (self.tracks[0] if self.tracks else None)
        self._primary_id = primary.id if primary is not None else None
        self._primary_timescale = primary.timescale if primary is not None else 1
        self._handle(self.segmenter.set_tracks(list(tracks)))

    def on_frame(self, frame: Frame) -> None:
        held = self._held
        if held is not None:
            held.append(frame)
            self._release_held()
            return
        self._push(frame)

    def on_discontinuity(self) -> None:
        self._release_held(everything=True)
        self._handle(self.segmenter.discontinuity())
        self._candidate_wall = None

    def on_end(self) -> None:
        self._release_held(everything=True)
        self._handle(self.segmenter.flush())
        self.window.end(self._render_snapshot(ended=True))
        if self._on_ended is not None:
            self._on_ended(self)

    def _push(self, frame: Frame) -> None:
        if self._on_part_published is not None:
            self._last_arrival = time.perf_counter()
        if self._candidate_wall is None and frame.keyframe:
            self._candidate_wall = self._clock()
        self._handle(self.segmenter.push(frame))
        lead = self._lead
        if (
            lead is not None
            and frame.track_id == self._primary_id
            and self.segmenter.part_target is not None
        ):
            lead.advance(frame.dts / self._primary_timescale)

    def _release_held(self, *, everything: bool = False) -> None:
        """Push the held frames the leader has decided on (all of them with ``everything``)."""
        held = self._held
        if not held:
            return
        follow = self._follow
        assert follow is not None
        frontier = follow.frontier
        while held:
            frame = held[0]
            track = next((t for t in self.tracks if t.id == frame.track_id), None)
            scale = track.timescale if track is not None else 1
            newest = held[-1].pts / scale
            pts = frame.pts / scale
            decided = frontier is not None and pts <= frontier
            stale = newest - pts > _MAX_HOLD_SECONDS
            if not (everything or decided or stale):
                return
            held.popleft()
            self._push(frame)

    def restore(
        self,
        segments: Sequence[StoredSegment],
        init_segments: dict[int, bytes],
        *,
        target_duration: int,
        part_target: float,
        discontinuity_sequence: int,
    ) -> None:
        """Take back the complete segments a previous server run saved (see golive.resume).

        They are listed again, the next segment follows them after a discontinuity, and the
        playlist is published at once (without ENDLIST) so players can go on while the
        publisher reconnects.
        """
        for seg in segments:
            self.window.segments[seg.msn] = seg
        self.window.init_segments.update(init_segments)
        self.window.target_duration = target_duration
        self.window.part_target = part_target
        self._discontinuity_sequence = discontinuity_sequence
        self._current = segments[-1] if segments else None
        next_msn = segments[-1].msn + 1 if segments else 0
        self.segmenter.resume(
            next_msn=next_msn,
            next_init_id=max(init_segments, default=-1) + 1,
            target_duration=target_duration,
        )
        snapshot = self._render_snapshot()
        if snapshot is not None:
            self.window.publish(snapshot)

    @property
    def discontinuity_sequence(self) -> int:
        return self._discontinuity_sequence

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
                if ev.companion is not None and self.companion is not None:
                    self._to_companion(ev)
            elif isinstance(ev, SegmentStarted):
                self._on_segment_started(ev)
            elif isinstance(ev, SegmentReady):
                self._on_segment_ready(ev)
                if self.companion is not None:
                    self._to_companion(ev)
            elif isinstance(ev, InitReady):
                self.window.init_segments[ev.init_id] = ev.data
                if self.companion is not None:
                    self._to_companion(ev)

    # -- the companion: a rendition made of one of our tracks, from our own parts ---------------

    def set_companion(self, companion: HlsRendition | None, track_id: int | None) -> None:
        """Also publish ``track_id`` alone (the audio-only rendition) into ``companion``.

        Its parts are the samples of that track in each of our parts, written into a fragment
        of their own as each part closes: cut where we cut, with no segmenter, hold or
        frame-by-frame work of its own.
        """
        self.companion = companion
        self.segmenter.companion_track = track_id if companion is not None else None
        if companion is not None:
            companion._derived_from = self

    def _to_companion(self, ev: PartReady | SegmentReady | InitReady) -> None:
        companion = self.companion
        assert companion is not None
        try:
            if isinstance(ev, PartReady):
                seg = self._current
                if seg is not None and seg.msn == ev.msn:
                    companion._take_part(seg, ev)
            elif isinstance(ev, SegmentReady):
                companion._take_segment_end(ev.msn)
            else:
                companion._take_init(ev.init_id)
        except Exception:
            log.exception(
                "rendition %s failed; it is no longer offered",
                companion.name,
                extra=self._log_extra,
            )
            self.set_companion(None, None)
            if self.on_companion_failed is not None:
                self.on_companion_failed(companion)

    def _take_init(self, init_id: int) -> None:
        track = self.tracks[0] if self.tracks else None
        if track is not None:
            self.window.init_segments[init_id] = init_segment([track])

    def _take_part(self, leader_seg: StoredSegment, ev: PartReady) -> None:
        leader = self._derived_from
        assert leader is not None and ev.companion is not None and self.tracks
        timescale = self.tracks[0].timescale
        self.segmenter.part_target = leader.segmenter.companion_part_target()
        self.segmenter.target_duration = leader.segmenter.target_duration
        seg = self._current
        if seg is None or seg.complete or self._derived_msn != leader_seg.msn:
            # The leader's segment's first part with our samples: our segment starts here
            # (numbered on from ours, so that a leader segment without any leaves no gap).
            seg = StoredSegment(
                msn=seg.msn + 1 if seg is not None else leader_seg.msn,
                init_id=leader_seg.init_id,
                discontinuity=leader_seg.discontinuity or self._derived_discontinuity,
                # The same media time has the same date as in the leader.
                program_date_time=leader_seg.program_date_time
                + (ev.companion_dts / timescale - leader_seg.media_start / leader_seg.timescale),
                independent=True,
                media_start=ev.companion_dts,
                timescale=timescale,
            )
            self._derived_discontinuity = False
            self._derived_msn = leader_seg.msn
            self._derived_ticks = 0
            self._current = seg
            self.window.segments[seg.msn] = seg
        self._derived_ticks += ev.companion_ticks
        duration = ev.companion_ticks / timescale
        self._on_part(PartReady(seg.msn, len(seg.parts), duration, True, ev.companion, 0))

    def _take_segment_end(self, leader_msn: int) -> None:
        leader = self._derived_from
        assert leader is not None
        seg = self._current
        if seg is None or seg.complete or self._derived_msn != leader_msn:
            # None of the leader's segment was ours: a timeline break it began is ours too.
            leader_seg = leader.window.segments.get(leader_msn)
            if leader_seg is not None and leader_seg.discontinuity:
                self._derived_discontinuity = True
            return
        ticks = self._derived_ticks
        self._on_segment_ready(SegmentReady(seg.msn, ticks / seg.timescale, ticks))

    def _on_segment_started(self, ev: SegmentStarted) -> None:
        boundary = ev.boundary
        if boundary is not None:
            # A follower dates its segments by its leader's clock: the same media time has
            # the same program date time in every rendition.
            self._anchor_wall = boundary.program_date_time
            self._anchor_media = boundary.pts
            start = ev.pts
        elif ev.timeline_start:
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
            start = ev.start
        else:
            start = ev.pts if self._follow is not None else ev.start
        seg = StoredSegment(
            msn=ev.msn,
            init_id=ev.init_id,
            discontinuity=ev.discontinuity,
            program_date_time=self._anchor_wall + (start - self._anchor_media),
            independent=ev.independent,
            media_start=ev.media_start,
            timescale=ev.timescale,
        )
        self._current = seg
        self.window.segments[ev.msn] = seg
        if self._lead is not None:
            self._lead.add(
                Boundary(
                    msn=ev.msn,
                    pts=ev.pts,
                    program_date_time=seg.program_date_time,
                    independent=ev.independent,
                    discontinuity=ev.discontinuity,
                )
            )
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
        # No playlist until the target duration is known (first segment complete).
        target = self.window.target_duration or self.segmenter.target_duration or 0
        if target:
            self.window.target_duration = target
            self.window.part_target = self.segmenter.part_target or 0.0
            self.window.advance(seg.msn, len(seg.parts) - 1)
            self.parts_published += 1
            if self._on_part_published is not None and self._last_arrival:
                self._on_part_published(time.perf_counter() - self._last_arrival)
        if len(seg.parts) == 1 and self._on_segment_open is not None:
            # Told after the publish: the playlist now lists the segment before this one.
            self._on_segment_open(self, seg)

    def _on_segment_ready(self, ev: SegmentReady) -> None:
        seg = self.window.segments.get(ev.msn)
        if seg is None:
            return
        seg.duration = ev.duration
        seg.media_duration = ev.media_duration
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
        self.window.segment_completed()
        self.segments_completed += 1
        if self.window.target_duration == 0 and self.segmenter.target_duration is not None:
            self.window.target_duration = self.segmenter.target_duration
            self.window.part_target = self.segmenter.part_target or 0.0
        if self._lead is not None and not self._lead.target_duration:
            self._lead.target_duration = self.window.target_duration
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
        leader = self._derived_from
        if leader is not None:
            # Our next part comes with the leader's next one.
            lead = leader._current
            starts = lead is None or lead.complete or lead.msn != self._derived_msn
            if seg.complete or starts or leader.segmenter.next_part_starts_segment():
                return (seg.msn + 1, 0)
            return (seg.msn, len(seg.parts))
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
        # An ended playlist reports nothing: there is no live edge left to jump to.
        reports = self._reports(self) if self._reports is not None and not ended else ()
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
            dvr_render=self._dvr_renderer(segs, target, part_target, hint, ended),
        )

    def _dvr_renderer(
        self,
        segs: list[StoredSegment],
        target: int,
        part_target: float,
        hint: tuple[int, int] | None,
        ended: bool,
    ) -> Callable[[bool], bytes | None] | None:
        """How to render the DVR playlist of this moment, when first asked for: the recorded
        segments before the live playlist's first, then the live playlist as it is now."""
        history_of = self._dvr
        if history_of is None:
            return None
        discontinuity_sequence = self._discontinuity_sequence
        reports = self._dvr_reports(self) if self._dvr_reports is not None and not ended else ()

        def render(skip: bool) -> bytes | None:
            history = history_of(self.name)
            if history is None:
                return None
            older = history.listed_before(segs[0].msn)
            if older and older[-1].segment.msn != segs[0].msn - 1:
                older = []  # not contiguous with the live playlist (cannot happen in order)
            text = self._writer.render(
                segs,
                target_duration=target,
                part_target=part_target,
                discontinuity_sequence=(
                    history.discontinuity_sequence if older else discontinuity_sequence
                ),
                preload_hint=hint,
                reports=reports,
                ended=ended,
                skip=skip,
                older=older,
                older_version=history.version,
            )
            return text.encode() if text is not None else None

        return render
