"""Cuts a stream of Frames into CMAF segments and LL-HLS partial segments.

Pure logic: fed Tracks and Frames, it returns what became ready. It knows nothing of HTTP,
playlists or clocks.

Rules (RFC 8216bis and the LL-HLS requirements we hold ourselves to):

- A segment starts at a keyframe of the primary track (video if there is one, else audio),
  at the first keyframe at least ``segment_target`` after the segment's start.
- A part is closed as soon as its last frame has arrived: when one more frame of the primary
  track would no longer fit in the part target. That is what keeps availability delay low:
  nothing waits for the next frame to learn the previous one's duration.
- The advertised part target is the configured one fitted to a whole number of frames of the
  primary track (plus a little slack for millisecond timestamp jitter), so every part but the
  last of a segment lasts at least 85% of it.
- No part ever exceeds it, whatever the input's timing: a part ends at the latest at its start
  plus the target (its last sample is shortened to fit), and a frame that would end past it
  goes to the next part. A gap left between two parts of a segment (late frames) is counted
  in the next part's duration as far as that part still fits the target, so the parts' durations
  add up to the segment's and to the media time, but for what no part can hold (a gap longer
  than the target).
- A segment never exceeds the target duration: if a keyframe is late (irregular GOP), the
  segment is cut anyway at a part boundary and the next one is marked not independent.
- A *following* segmenter (given the leading rendition's :class:`SegmentBoundaries`) does not
  choose its cuts: it cuts at its frame nearest each of the leader's segment starts (at a
  keyframe for video, unless the leader cut without one), so renditions stay aligned, and its
  first segment takes the leader's media sequence number.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from statistics import fmean, median

from golive.media.fmp4 import TrackRun, init_segment, media_fragment
from golive.media.frame import Frame, Track, TrackKind
from golive.packager.segment_boundaries import Boundary, SegmentBoundaries

# FLV timestamps are whole milliseconds: each end of a part wobbles by up to 1 ms, and the
# frame rate is estimated from a few deltas; the slack keeps every part within the target.
_JITTER_SLACK_SECONDS = 0.005
_DELTAS_FOR_ESTIMATE = 8


@dataclass(slots=True)
class SegmentStarted:
    msn: int
    init_id: int
    discontinuity: bool
    independent: bool
    start: float  # seconds on the stream timeline (decode time of the first frame)
    timeline_start: bool  # first segment of a new timeline (stream start or discontinuity)
    media_start: int = 0  # presentation time of the first frame, in the primary timescale
    timescale: int = 1
    boundary: Boundary | None = None  # the leader's segment this one follows

    @property
    def pts(self) -> float:
        """Presentation time of the first frame, in seconds."""
        return self.media_start / self.timescale


@dataclass(slots=True)
class PartReady:
    msn: int
    index: int
    duration: float
    independent: bool
    data: bytes
    frame_count: int  # primary-track frames in the part
    # With a companion track: that track's samples of the part on their own (the audio-only
    # rendition), their decode time and duration in the track's timescale; None when the
    # part has none of them.
    companion: bytes | None = None
    companion_dts: int = 0
    companion_ticks: int = 0


@dataclass(slots=True)
class SegmentReady:
    msn: int
    duration: float
    media_duration: int = 0  # in the primary track's timescale


@dataclass(slots=True)
class InitReady:
    init_id: int
    data: bytes


SegmenterEvent = SegmentStarted | PartReady | SegmentReady | InitReady


@dataclass(slots=True)
class _OpenPart:
    # Where the part's duration counts from, in primary ticks: its first frame's dts, or
    # earlier when it takes in a gap after the previous part.
    start: int
    frames: dict[int, list[Frame]] = field(default_factory=dict)
    primary_frames: int = 0
    independent: bool = False


class CmafSegmenter:
    """Turns Frames into CMAF chunks (parts) grouped into segments."""

    def __init__(
        self,
        *,
        part_target: float,
        segment_target: float,
        first_msn: int = 0,
        follow: SegmentBoundaries | None = None,
    ) -> None:
        self._follow = follow
        self._follow_msn = -1  # the leader segment our current segment started on
        self._start_boundary: Boundary | None = None
        self.configured_part_target = part_target
        self.segment_target = segment_target
        self.part_target: float | None = None  # advertised, fitted to the frame rate
        self.target_duration: int | None = None  # fixed once the first segment is complete
        self.forced_cuts = 0
        self.dropped_frames = 0  # frames whose decode time went backwards
        self._tracks: dict[int, Track] = {}
        self._init_tracks: list[Track] | None = None
        self._init_id = -1
        self._next_msn = first_msn
        self._sequence_number = 1
        self._primary: Track | None = None
        self._started = False  # a timeline is running (we have had its first keyframe)
        self._seg_open = False
        self._seg_msn = -1
        self._seg_start = 0
        self._seg_parts = 0
        self._seg_uncovered = 0  # ticks of gaps in the segment that no part counts
        self._part_end: int | None = None  # where the segment's last closed part ended
        self._part: _OpenPart | None = None
        self._pending_discontinuity = False
        self._deltas: list[int] = []
        self._nominal_delta = 0
        self._observed_last: int | None = None
        self._last_dts: dict[int, int] = {}
        self._last_delta: dict[int, int] = {}
        self._held: list[Frame] = []
        self._last_keyframe: int | None = None
        self._gop = 0
        # The track whose samples each part also writes into a fragment of their own, for a
        # rendition made of that track alone (cut exactly where this one cuts, for free).
        self.companion_track: int | None = None
        self._companion_sequence = 1
        self._companion_carry: list[Frame] = []

    def resume(self, *, next_msn: int, next_init_id: int, target_duration: int) -> None:
        """Continue a stream saved by a previous server run, after a discontinuity.

        Media sequence numbers and init segment ids go on from the saved ones, and the target
        duration stays what the playlist already advertised.
        """
        self._next_msn = next_msn
        self._seg_msn = next_msn - 1
        self._init_id = next_init_id - 1
        self._pending_discontinuity = True
        self.target_duration = target_duration

    # -- input --------------------------------------------------------------------------------

    def set_tracks(self, tracks: list[Track]) -> list[SegmenterEvent]:
        """Declare the stream's tracks; a change of codec configuration starts a new segment."""
        self._tracks = {t.id: t for t in tracks}
        ordered = sorted(tracks, key=lambda t: t.id)
        if self._init_tracks is not None and self._init_tracks != ordered:
            events = self.discontinuity()
            self._init_tracks = None
            self._primary = None
            return events
        return []

    def discontinuity(self) -> list[SegmenterEvent]:
        """The timeline is broken (publisher reconnected, timestamps jumped): close and restart."""
        events = self.flush()
        self._companion_carry = []  # samples of the broken timeline
        self._pending_discontinuity = self._seg_msn >= 0
        self._started = False
        self._observed_last = None
        self._last_keyframe = None
        self._last_dts.clear()
        self._last_delta.clear()
        return events

    def push(self, frame: Frame) -> list[SegmenterEvent]:
        """Add one frame; returns the parts, segments and init segments it completed."""
        track = self._tracks.get(frame.track_id)
        if track is None:
            return []
        if not self._started:
            if not self._can_start(track, frame):
                return []
            self._started = True
        primary = self._primary
        assert primary is not None
        if self.part_target is None:
            # Hold the first few frames until the frame rate is known, so that the very first
            # parts already respect the advertised part target.
            self._held.append(frame)
            if frame.track_id == primary.id:
                self._observe_delta(frame)
            if len(self._deltas) < _DELTAS_FOR_ESTIMATE and primary.kind is TrackKind.VIDEO:
                return []
            return self._release_held()
        if frame.track_id != primary.id:
            return self._push_other(frame)
        self._observe_delta(frame)
        return self._push_primary(frame)

    def flush(self) -> list[SegmenterEvent]:
        """Close the open part and segment (end of stream or before a discontinuity)."""
        events: list[SegmenterEvent] = []
        if self._held:
            events += self._release_held()
        if self._part is not None and self._part.primary_frames:
            end = self._estimated_end()
            events += self._close_part(end)
            events += self._close_segment(end)
        elif self._seg_open:
            events += self._close_segment(self._estimated_end())
        self._part = None
        return events

    def next_part_starts_segment(self) -> bool:
        """Whether the next part is expected to open a new segment (for the preload hint).

        True when the open segment is long enough and the keyframe cadence seen so far puts a
        keyframe on the next frame; a wrong guess only costs the player one 404 on a hint.
        """
        primary = self._primary
        if primary is None or not self._seg_open or self.part_target is None:
            return False
        d = self._estimated_delta(primary.id)
        next_dts = self._estimated_end()
        if next_dts - self._seg_start < self.segment_target * primary.timescale - d / 2:
            return False
        if primary.kind is TrackKind.AUDIO:
            return True
        if not self._gop or self._last_keyframe is None:
            return False
        return abs(next_dts - self._last_keyframe - self._gop) <= d / 2

    # -- internals ----------------------------------------------------------------------------

    def _can_start(self, track: Track, frame: Frame) -> bool:
        video = next((t for t in self._tracks.values() if t.kind is TrackKind.VIDEO), None)
        primary = video or next(iter(self._tracks.values()))
        if track.id != primary.id or not frame.keyframe:
            return False  # wait for a keyframe of the primary track
        if self._primary is not None and self._primary.id != primary.id:
            self._init_tracks = None
        self._primary = primary
        if primary.kind is TrackKind.AUDIO and not self._deltas:
            # AAC: 1024 samples per access unit, timescale = sample rate.
            self._nominal_delta = 1024
        if self._follow is not None:
            boundary = self._leader_boundary(frame, starting=True)
            if boundary is None:
                return False  # wait for the frame on one of the leader's cuts
            self._start_boundary = boundary
        return True

    def _half_frame(self) -> float:
        """Half the primary track's frame interval, in seconds (the alignment tolerance)."""
        primary = self._primary
        assert primary is not None
        delta = self._nominal_delta or (
            1024 if primary.kind is TrackKind.AUDIO else primary.timescale // 30
        )
        return delta / primary.timescale / 2

    def _leader_boundary(self, frame: Frame, *, starting: bool) -> Boundary | None:
        """The leader's segment that ``frame`` should start, if any."""
        follow = self._follow
        primary = self._primary
        assert follow is not None and primary is not None
        t = frame.pts / primary.timescale
        half = self._half_frame()
        boundary = follow.latest_at(t + half)
        if boundary is None or boundary.msn <= self._follow_msn:
            return None
        if primary.kind is TrackKind.VIDEO and not frame.keyframe and boundary.independent:
            return None  # the leader cut at a keyframe: so do we, at ours
        if starting and t - boundary.pts > 2 * half + 1e-6:
            return None  # we came in after the leader's segment began: wait for the next
        return boundary

    def _release_held(self) -> list[SegmenterEvent]:
        if self.part_target is None:
            self._fix_part_target()
        events: list[SegmenterEvent] = []
        held, self._held = self._held, []
        primary_id = self._primary.id if self._primary else -1
        for f in held:
            events += self._push_primary(f) if f.track_id == primary_id else self._push_other(f)
        return events

    def _observe_delta(self, frame: Frame) -> None:
        last = self._observed_last
        self._observed_last = frame.dts
        if last is not None and frame.dts > last and len(self._deltas) < 16:
            self._deltas.append(frame.dts - last)
            # The mean of the usual intervals (whole-millisecond timestamps make them 33, 33,
            # 34 ms at 30 fps): a stall among the first frames must not stretch it.
            usual = median(self._deltas) * 1.5
            self._nominal_delta = round(fmean(d for d in self._deltas if d <= usual))

    def _fix_part_target(self) -> None:
        primary = self._primary
        assert primary is not None
        ts = primary.timescale
        if self._nominal_delta <= 0:
            self._nominal_delta = max(1, round(ts / 30))
        frame_seconds = self._nominal_delta / ts
        n = max(1, round(self.configured_part_target / frame_seconds))
        self.part_target = n * frame_seconds + _JITTER_SLACK_SECONDS

    def _estimated_delta(self, track_id: int) -> int:
        last = self._last_delta.get(track_id)
        if self._primary is None or track_id != self._primary.id:
            return last or 1
        nominal = self._nominal_delta
        if last is None or last <= 0 or (nominal and last > 2 * nominal):
            return nominal or 1
        return last

    def _estimated_end(self) -> int:
        assert self._primary is not None
        last = self._last_dts.get(self._primary.id, self._seg_start)
        return last + self._estimated_delta(self._primary.id)

    def _push_other(self, frame: Frame) -> list[SegmenterEvent]:
        part = self._part
        if part is None:
            if not self._seg_open:
                return []
            # Between two parts: the frame opens the next part at the primary track's edge.
            part = self._open_part(self._estimated_end(), False)
        if frame.dts < self._last_dts.get(frame.track_id, -(2**62)):
            self.dropped_frames += 1
            return []  # out of order within its track: a decoder could not use it
        self._append(part, frame)
        return []

    def _push_primary(self, frame: Frame) -> list[SegmenterEvent]:
        primary = self._primary
        assert primary is not None and self.part_target is not None
        last = self._last_dts.get(primary.id)
        if last is not None and frame.dts <= last:
            # Decode time must grow (a publisher looping a file or with audio clock jitter
            # can send a frame at or before the previous one): a decoder could not use it,
            # and its duration would be negative.
            self.dropped_frames += 1
            return []
        ts = primary.timescale
        part_ticks = self.part_target * ts
        d_est = self._estimated_delta(primary.id)
        events: list[SegmenterEvent] = []

        if self._init_tracks is None:
            events += self._new_init()

        part = self._part
        if not self._seg_open:
            events += self._start_segment(frame, self._start_boundary)
            self._start_boundary = None
            part = self._part
        else:
            seg_age = frame.dts - self._seg_start
            boundary: Boundary | None = None
            if self._follow is not None:
                boundary = self._leader_boundary(frame, starting=False)
                keyframe_cut = boundary is not None
            else:
                keyframe_cut = frame.keyframe and seg_age >= self.segment_target * ts - d_est / 2
            if self._follow is None:
                forced_cut = (
                    not frame.keyframe
                    and self.target_duration is not None
                    # Half a frame of margin absorbs millisecond jitter in the frame that follows.
                    and seg_age + 1.5 * d_est > self.target_duration * ts
                )
            else:
                # A follower cuts by itself only once its segment is past the target, keyframe
                # or not (audio frames all are): the leader's cut is then missing (it stalled).
                # Earlier would cut just before a leader's cut made close to the target.
                forced_cut = (
                    self.target_duration is not None and seg_age > self.target_duration * ts
                )
            if keyframe_cut or forced_cut:
                carried: dict[int, list[Frame]] = {}
                if part is not None and part.primary_frames:
                    events += self._close_part(frame.dts)
                elif part is not None:
                    carried = part.frames  # other tracks' frames that arrived first
                events += self._close_segment(frame.dts)
                if forced_cut and not keyframe_cut:
                    self.forced_cuts += 1
                events += self._start_segment(frame, boundary)
                part = self._part
                assert part is not None
                part.frames.update(carried)
            elif part is None:
                part = self._open_part(frame.dts, frame.keyframe)
            elif part.primary_frames and frame.dts + d_est - part.start > part_ticks:
                # A gap in the input: this frame would overflow the part, so close it first.
                events += self._close_part(frame.dts)
                part = self._open_part(frame.dts, frame.keyframe)
            elif not part.primary_frames:
                # The part was opened by another track's frame: it starts here.
                part.start = self._part_start(frame.dts)
                part.independent = frame.keyframe or primary.kind is TrackKind.AUDIO
        assert part is not None
        if frame.keyframe:
            if self._last_keyframe is not None and frame.dts > self._last_keyframe:
                self._gop = frame.dts - self._last_keyframe
            self._last_keyframe = frame.dts
        self._append(part, frame)
        part.primary_frames += 1
        # Close the part now if one more frame would not fit: its last frame is here.
        d_est = self._estimated_delta(primary.id)
        end_est = frame.dts + d_est
        if end_est + d_est - part.start > part_ticks + 0.5:
            events += self._close_part(end_est)
        return events

    def _append(self, part: _OpenPart, frame: Frame) -> None:
        tid = frame.track_id
        last = self._last_dts.get(tid)
        if last is not None and frame.dts > last:
            self._last_delta[tid] = frame.dts - last
        self._last_dts[tid] = frame.dts
        bucket = part.frames.get(tid)
        if bucket is None:
            part.frames[tid] = [frame]
        else:
            bucket.append(frame)

    def _new_init(self) -> list[SegmenterEvent]:
        tracks = sorted(self._tracks.values(), key=lambda t: t.id)
        self._init_tracks = tracks
        self._init_id += 1
        return [InitReady(self._init_id, init_segment(tracks))]

    def _start_segment(self, frame: Frame, boundary: Boundary | None) -> list[SegmenterEvent]:
        assert self._primary is not None
        timeline_start = self._seg_msn < 0 or self._pending_discontinuity
        if boundary is not None:
            if self._seg_msn < 0:
                # A follower's first segment takes the leader's number; later ones count on
                # (sequence numbers never skip, so after a gap they may lag the leader's).
                self._next_msn = boundary.msn
            self._follow_msn = boundary.msn
        self._seg_msn = self._next_msn
        self._next_msn += 1
        self._seg_start = frame.dts
        self._seg_parts = 0
        self._seg_uncovered = 0
        self._part_end = None
        self._seg_open = True
        event = SegmentStarted(
            msn=self._seg_msn,
            init_id=self._init_id,
            discontinuity=self._pending_discontinuity,
            independent=frame.keyframe,
            start=frame.dts / self._primary.timescale,
            timeline_start=timeline_start,
            media_start=frame.pts,
            timescale=self._primary.timescale,
            boundary=boundary,
        )
        self._pending_discontinuity = False
        self._open_part(frame.dts, frame.keyframe)
        return [event]

    def _open_part(self, start: int, independent: bool) -> _OpenPart:
        primary = self._primary
        assert primary is not None
        part = _OpenPart(
            start=self._part_start(start),
            independent=independent or primary.kind is TrackKind.AUDIO,
        )
        self._part = part
        return part

    def _max_part_ticks(self) -> int:
        """The longest a part may last, in primary ticks (never more than PART-TARGET)."""
        assert self._primary is not None and self.part_target is not None
        return math.floor(self.part_target * self._primary.timescale)

    def _part_start(self, dts: int) -> int:
        """Where a part whose first primary frame is at ``dts`` starts counting.

        At the previous part's end, so that parts abut; after a gap, as early as still
        leaves room for that frame (a nominal frame interval) within the part target.
        """
        previous = self._part_end
        if previous is None or previous >= dts:
            return dts if previous is None else previous
        room = self._max_part_ticks() - self._estimated_delta(self._primary_id())
        return max(previous, dts - max(0, room))

    def _primary_id(self) -> int:
        assert self._primary is not None
        return self._primary.id

    def _close_part(self, end: int) -> list[SegmenterEvent]:
        part = self._part
        primary = self._primary
        assert part is not None and primary is not None
        self._part = None
        primary_frames = part.frames.get(primary.id)
        if primary_frames:
            # Never past the target (a late frame or a long estimated interval would make
            # it longer): the last sample is shortened instead. The part's frames all start
            # before that bound, since a frame that would not fit opens the next part.
            # (A part that starts counting at an earlier part's estimated end, past its first
            # frame, still lasts at least a tick.)
            end = max(end, primary_frames[-1].dts + 1, part.start + 1)
            end = min(end, part.start + self._max_part_ticks())
        runs: list[TrackRun] = []
        companion: TrackRun | None = None
        for tid in sorted(part.frames):
            frames = part.frames[tid]
            durations = [b.dts - a.dts for a, b in itertools.pairwise(frames)]
            if tid == primary.id:
                durations.append(end - frames[-1].dts)
            else:
                durations.append(self._estimated_delta(tid))
            run = TrackRun(tid, frames[0].dts, frames, durations)
            runs.append(run)
            if tid == self.companion_track:
                companion = run
        data = media_fragment(self._sequence_number, runs)
        self._sequence_number += 1
        ready = PartReady(self._seg_msn, 0, 0.0, part.independent, data, part.primary_frames)
        if companion is not None or self._companion_carry:
            self._companion_part(ready, companion)
        index = self._seg_parts
        self._seg_parts += 1
        if self._part_end is not None and part.start > self._part_end:
            self._seg_uncovered += part.start - self._part_end
        self._part_end = end
        ready.index = index
        ready.duration = (end - part.start) / primary.timescale
        return [ready]

    def companion_part_target(self) -> float | None:
        """The longest a companion part may last (its PART-TARGET), in seconds.

        Its samples are those that arrived during our part, which may reach a little past
        our part's span: two of its frames of headroom.
        """
        track = self._tracks.get(self.companion_track) if self.companion_track else None
        if track is None or self.part_target is None:
            return None
        delta = self._last_delta.get(track.id) or (1024 if track.kind is TrackKind.AUDIO else 0)
        return self.part_target + 2 * delta / track.timescale

    def _companion_part(self, ready: PartReady, run: TrackRun | None) -> None:
        """The companion track's samples of this part, as a fragment of their own.

        Samples that would make it longer than its part target (a publisher interleaving
        the track far from the primary one) wait for the next part.
        """
        frames = [*self._companion_carry, *(run.frames if run is not None else ())]
        track = self._tracks.get(self.companion_track) if self.companion_track else None
        limit = self.companion_part_target()
        if not frames or track is None or limit is None:
            self._companion_carry = []
            return
        tid = track.id
        durations = [b.dts - a.dts for a, b in itertools.pairwise(frames)]
        durations.append(self._estimated_delta(tid))
        max_ticks = math.floor(limit * track.timescale)
        total = sum(durations)
        keep = len(frames)
        while keep > 1 and total > max_ticks:
            keep -= 1
            total -= durations[keep]
        self._companion_carry = frames[keep:]
        # (A kept sample's duration already runs to the next sample, carried or not.)
        frames, durations = frames[:keep], durations[:keep]
        ready.companion = media_fragment(
            self._companion_sequence, [TrackRun(tid, frames[0].dts, frames, durations)]
        )
        ready.companion_dts = frames[0].dts
        ready.companion_ticks = sum(durations)
        self._companion_sequence += 1

    def _close_segment(self, end: int) -> list[SegmenterEvent]:
        primary = self._primary
        assert primary is not None
        self._seg_open = False
        # The sum of its parts (gaps no part could count are left out), but running to the
        # next segment's first frame when the last part's estimated end missed it only by
        # millisecond jitter: EXTINF is then the exact media time.
        ticks = end - self._seg_start
        last_part_end = self._part_end
        if last_part_end is not None:
            ticks = last_part_end - self._seg_start - self._seg_uncovered
            if abs(end - last_part_end) <= _JITTER_SLACK_SECONDS * primary.timescale:
                ticks += end - last_part_end
        self._part_end = None
        duration = ticks / primary.timescale
        if self.target_duration is None:
            # Fixed once: RFC 8216 forbids changing it. Headroom absorbs irregular GOPs.
            self.target_duration = max(
                math.ceil(self.segment_target),
                math.ceil(duration * 1.1 + 0.1),
                # A follower's segments are its leader's: so is its target duration.
                self._follow.target_duration if self._follow is not None else 0,
            )
        return [SegmentReady(self._seg_msn, duration, ticks)]
