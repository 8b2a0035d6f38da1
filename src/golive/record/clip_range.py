"""Which recorded segments a clip covers: pure, no I/O.

A clip is cut on segment boundaries (each segment starts with a keyframe), so nothing is
re-encoded. The range is asked for either in seconds from the recording's start (a VOD: the
time its player shows, the sum of the segments' durations before, as in its playlist) or as
an epoch time (the live DVR window: the segments' program date-times). The segment that
holds the start is the clip's first (the start is rounded down to its start); segments are
added while that brings the clip's length nearer to the duration asked (the end is rounded to
the nearest boundary), so the clip is within half a segment of the length asked.

The reference is the ``source`` rendition (else the first video-like one by name); every
other recorded rendition (audio) takes its segments whose middle falls inside the reference's
span, by date-time. A range that starts outside what is stored, or ends after it, is refused
(``ClipRangeError``, its message for the user); live, the last segments are not stored yet
for a second or two, so a range may end up to ``edge_slack`` seconds after the stored end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from golive.record.recording_index import IndexedSegment

__all__ = [
    "MAX_CLIP_SECONDS",
    "MIN_CLIP_SECONDS",
    "ClipCut",
    "ClipRangeError",
    "check_duration",
    "cut_at_offset",
    "cut_at_time",
    "reference_rendition",
]

MIN_CLIP_SECONDS = 5.0
MAX_CLIP_SECONDS = 60.0
SOURCE = "source"
_SLACK = 0.5  # seconds a range may pass the recording's ends by (rounding, clocks)


class ClipRangeError(ValueError):
    """The range asked is not (entirely) recorded; the message says what is."""


@dataclass(frozen=True, slots=True)
class ClipCut:
    """What a clip covers: seconds from the recording's start to its first segment, its
    length (the reference rendition's), and each rendition's recorded segments."""

    start: float
    duration: float
    renditions: dict[str, list[IndexedSegment]]


def check_duration(duration: float) -> None:
    """Raise ClipRangeError unless ``duration`` is a length a clip may have."""
    if not math.isfinite(duration) or not MIN_CLIP_SECONDS <= duration <= MAX_CLIP_SECONDS:
        raise ClipRangeError(f"a clip is {MIN_CLIP_SECONDS:g} to {MAX_CLIP_SECONDS:g} seconds long")


def reference_rendition(renditions: Mapping[str, Sequence[IndexedSegment]]) -> str:
    names = sorted(name for name, segs in renditions.items() if segs)
    if not names:
        raise ClipRangeError("nothing is recorded yet")
    return SOURCE if SOURCE in names else names[0]


def _pick(ref: Sequence[IndexedSegment], first: int, duration: float) -> list[IndexedSegment]:
    picked = [ref[first]]
    total = ref[first].duration
    for seg in ref[first + 1 :]:
        if total + seg.duration / 2 > duration:
            break
        picked.append(seg)
        total += seg.duration
    return picked


def _cut(
    renditions: Mapping[str, Sequence[IndexedSegment]],
    ref_name: str,
    picked: list[IndexedSegment],
    start: float,
) -> ClipCut:
    begin = picked[0].program_date_time
    end = picked[-1].program_date_time + picked[-1].duration
    out: dict[str, list[IndexedSegment]] = {ref_name: picked}
    for name, segs in renditions.items():
        if name == ref_name:
            continue
        chosen = [s for s in segs if begin <= s.program_date_time + s.duration / 2 < end]
        if chosen:
            out[name] = chosen
    return ClipCut(start=start, duration=math.fsum(s.duration for s in picked), renditions=out)


def cut_at_offset(
    renditions: Mapping[str, Sequence[IndexedSegment]], start: float, duration: float
) -> ClipCut:
    """The clip of ``duration`` seconds from ``start`` seconds into the recording (a VOD)."""
    check_duration(duration)
    ref_name = reference_rendition(renditions)
    ref = renditions[ref_name]
    total = math.fsum(s.duration for s in ref)
    if not math.isfinite(start) or start < 0 or start >= total:
        raise ClipRangeError(f"start must be between 0 and {total:.1f} s (the VOD's length)")
    if start + duration > total + _SLACK:
        raise ClipRangeError(
            f"the clip would end at {start + duration:.1f} s, after the VOD's end at {total:.1f} s"
        )
    offset = 0.0
    for index, seg in enumerate(ref):
        if start < offset + seg.duration or index == len(ref) - 1:
            return _cut(renditions, ref_name, _pick(ref, index, duration), offset)
        offset += seg.duration
    raise AssertionError("unreachable")  # pragma: no cover


def cut_at_time(
    renditions: Mapping[str, Sequence[IndexedSegment]],
    start_time: float | None,
    duration: float,
    *,
    edge_slack: float = 4.0,
) -> ClipCut:
    """The clip of ``duration`` seconds from the epoch time ``start_time`` (None: the last
    ``duration`` seconds stored) of a recording being written (the DVR window)."""
    check_duration(duration)
    ref_name = reference_rendition(renditions)
    ref = renditions[ref_name]
    stored_start = ref[0].program_date_time
    stored_end = ref[-1].program_date_time + ref[-1].duration
    if start_time is None:
        start_time = max(stored_start, stored_end - duration)
        if stored_end - stored_start + _SLACK < duration:
            raise ClipRangeError(
                f"only {stored_end - stored_start:.1f} s are recorded so far: ask for less"
            )
    if not math.isfinite(start_time) or not (stored_start - _SLACK <= start_time < stored_end):
        raise ClipRangeError(
            "start_pdt must be inside the recorded window "
            f"({stored_start:.3f} to {stored_end:.3f}, epoch seconds)"
        )
    if start_time + duration > stored_end + edge_slack:
        raise ClipRangeError(
            f"the clip would end {start_time + duration - stored_end:.1f} s after what is "
            "recorded so far"
        )
    index = 0
    for i, seg in enumerate(ref):
        if seg.program_date_time <= start_time + 1e-6:
            index = i
        else:
            break
    offset = math.fsum(s.duration for s in ref[:index])
    return _cut(renditions, ref_name, _pick(ref, index, duration), offset)
