"""The dynamic MPD of a live stream (ISO/IEC 23009-1, DASH-IF IOP), over the HLS segments.

DASH reads the very CMAF segments the HLS playlists list, by the same URLs. How it maps:

- **Addressing.** Segments are cut at keyframes, so their durations vary: every
  Representation has a ``SegmentTemplate`` with a ``SegmentTimeline`` (exact start and
  duration of each segment, in the track's timescale) and ``$Number$`` addressing, where the
  number is the HLS media sequence number (``media="source/<token>/$Number$.m4s"``).
- **Time.** ``availabilityStartTime`` is the ingest wall clock at the stream's first media
  time, as EXT-X-PROGRAM-DATE-TIME is. Each timeline of the source (a new one after a
  publisher reconnect, HLS's EXT-X-DISCONTINUITY) is a Period whose ``start`` is its
  first segment's date and whose ``presentationTimeOffset`` is its first media time; segment
  times are media times (presentation time of the first frame), so a player places them by
  the same clock the HLS playlists date them with.
- **Low latency.** The segment being built is listed too, with its expected duration (the
  previous segment's), as an ordinary S element (not ``@r="-1"``, see ``_timeline``); the
  MPD is re-rendered as each segment starts. ``availabilityTimeOffset``
  makes a segment available one part after it starts, and ``availabilityTimeComplete="false"``
  says it is then still being written: the origin sends it part by part with chunked transfer
  encoding as the parts are made, so a player plays each part as it arrives. A
  ``ServiceDescription`` gives the target latency and the catch-up playback rates, and
  ``UTCTiming`` the server's clock.
- **Renditions.** Video renditions (the source and the encoded ones) form one AdaptationSet
  with ``segmentAlignment`` (their segments are cut at the same media times). Their segments
  carry the audio too (the HLS variants are muxed, for LL-HLS latency in hls.js), so each
  Representation's ``codecs`` names both codecs and there is no separate audio set; DASH-IF
  IOP prefers demuxed sets, but muxed Representations are valid ISO/IEC 23009-1 and play in
  dash.js (one SourceBuffer with both codecs). A stream without video has one audio set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from golive.media.frame import Track, TrackKind
from golive.store.live_window import StoredSegment

__all__ = ["DashPeriod", "DashRepresentation", "dash_manifest"]

PROFILES = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"
UTC_TIMING_PATH = "/live/utc"
# A segment belongs to the period whose media start it is at most this early for (audio
# segments start on the audio frame nearest the video cut).
_PERIOD_SLACK = 0.05
_CATCH_UP = ("0.96", "1.04")
# Segments this close (seconds) are contiguous: millisecond timestamps and audio frames that
# straddle a cut leave a little slack between one segment's end and the next one's start.
_ABUT_SLACK = 0.05


@dataclass(frozen=True, slots=True)
class DashPeriod:
    """One timeline of the source: where it starts on the wall clock and in media time."""

    id: str
    program_date_time: float  # wall clock of its first media time (seconds since the epoch)
    media_start: float  # seconds on the stream timeline


@dataclass(frozen=True, slots=True)
class DashRepresentation:
    """One rendition as the MPD describes it."""

    name: str
    track: Track
    segments: Sequence[StoredSegment]  # the listed ones, oldest first (last may be open)
    bandwidth: int  # bits per second, measured peak
    frame_rate: float | None = None
    part_target: float = 0.0
    codecs: str = ""  # every track's codec when the segments carry more than ``track``


def _date(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _duration(seconds: float) -> str:
    return f"PT{max(0.0, seconds):.3f}S"


def _attrs(**values: object) -> str:
    return "".join(
        f' {name}="{escape(str(value), quote=True)}"'
        for name, value in values.items()
        if value is not None
    )


def frame_rate_text(fps: float) -> str:
    """A FrameRateType: a whole number or a fraction (29.97 is 30000/1001)."""
    whole = round(fps)
    if abs(fps - whole) < 0.01:
        return str(whole)
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 0.01:
        return f"{ntsc * 1000}/1001"
    return f"{round(fps * 1000)}/1000"


def _expected_duration(rep: DashRepresentation, segment_target: float) -> int:
    """Ticks the open segment is expected to last: the previous segment's, or the target."""
    scale = rep.track.timescale
    complete = [s for s in rep.segments if s.complete]
    if complete:
        return complete[-1].media_duration or round(complete[-1].duration * scale)
    return round(segment_target * scale)


def _timeline(
    rep: DashRepresentation, segments: Sequence[StoredSegment], segment_target: float
) -> list[str]:
    """S elements: explicit @t where time jumps, @r for runs of equal durations."""
    entries: list[tuple[int, int, int]] = []  # (t, d, r)
    scale = rep.track.timescale
    expected: int | None = None
    for i, seg in enumerate(segments):
        t = seg.media_start
        if seg.complete:
            d = seg.media_duration or round(seg.duration * rep.track.timescale)
            nxt = segments[i + 1] if i + 1 < len(segments) else None
            # Consecutive segments abut exactly: the next start ends this one (durations come
            # from decode times, starts from presentation times). A gap stays a gap.
            if nxt is not None and abs(nxt.media_start - (t + d)) <= _ABUT_SLACK * scale:
                d = nxt.media_start - t
            repeat = 0
        else:
            # The open segment, with the duration it is expected to have. Listed as itself,
            # never as @r="-1": dash.js expands a negative @r only up to its own estimate of
            # the live edge, which found the open segment up to a second late, so it fetched
            # each segment once complete and stalled at every boundary.
            built = round(sum(p.duration for p in seg.parts) * rep.track.timescale)
            d = max(_expected_duration(rep, segment_target), built + 1)
            repeat = 0
        if d <= 0:
            continue
        last = entries[-1] if entries else None
        if last is not None and expected == t and last[1] == d and last[2] >= 0 and repeat == 0:
            entries[-1] = (last[0], d, last[2] + 1)
        else:
            entries.append((t, d, repeat))
        expected = t + d
    out: list[str] = []
    previous_end: int | None = None
    for t, d, r in entries:
        attrs = _attrs(t=t if t != previous_end else None, d=d, r=r if r else None)
        out.append(f"<S{attrs}/>")
        previous_end = t + d * (r + 1) if r >= 0 else None
    return out


def _representation(
    rep: DashRepresentation,
    segments: Sequence[StoredSegment],
    period: DashPeriod,
    *,
    stream_token: str,
    segment_target: float,
    low_latency: bool,
) -> list[str]:
    track = rep.track
    scale = track.timescale
    attrs: dict[str, object] = {"id": rep.name, "bandwidth": max(1, rep.bandwidth)}
    attrs["codecs"] = rep.codecs or track.codec
    if track.kind is TrackKind.VIDEO:
        attrs["width"] = track.width or None
        attrs["height"] = track.height or None
        if rep.frame_rate:
            attrs["frameRate"] = frame_rate_text(rep.frame_rate)
        attrs["sar"] = "1:1"
    else:
        attrs["audioSamplingRate"] = track.sample_rate or track.timescale
    lines = [f"<Representation{_attrs(**attrs)}>"]
    if track.kind is TrackKind.AUDIO:
        lines.append(
            "<AudioChannelConfiguration"
            ' schemeIdUri="urn:mpeg:mpegB:cicp:ChannelConfiguration"'
            f' value="{track.channels or 2}"/>'
        )
    template: dict[str, object] = {
        "timescale": scale,
        "initialization": f"{rep.name}/{stream_token}/init-{segments[0].init_id}.mp4",
        "media": f"{rep.name}/{stream_token}/$Number$.m4s",
        "startNumber": segments[0].msn,
        "presentationTimeOffset": round(period.media_start * scale),
    }
    if low_latency:
        expected = _expected_duration(rep, segment_target) / scale
        offset = max(0.0, expected - rep.part_target) if rep.part_target else 0.0
        template["availabilityTimeOffset"] = f"{offset:.3f}"
        template["availabilityTimeComplete"] = "false"
    lines.append(f"<SegmentTemplate{_attrs(**template)}>")
    lines.append("<SegmentTimeline>")
    lines += _timeline(rep, segments, segment_target)
    lines += ["</SegmentTimeline>", "</SegmentTemplate>", "</Representation>"]
    return lines


def _in_period(
    segments: Sequence[StoredSegment], start: float, end: float | None
) -> list[StoredSegment]:
    out = []
    for seg in segments:
        t = seg.media_start / seg.timescale
        if t < start - _PERIOD_SLACK:
            continue
        if end is not None and t >= end - _PERIOD_SLACK:
            continue
        if not seg.complete and not seg.parts:
            continue
        out.append(seg)
    return out


def _adaptation_sets(
    video: Sequence[DashRepresentation], audio: Sequence[DashRepresentation]
) -> list[tuple[int, Sequence[DashRepresentation], str, str]]:
    """(id, representations, content type, MIME type) of each AdaptationSet.

    Video renditions of different codecs (an HEVC or AV1 source beside its H.264 renditions)
    go in separate sets: a set's Representations must be switchable in one SourceBuffer, and
    a player picks the set whose codec it can decode. The first video set keeps id 0 and the
    audio set id 1, as when every rendition is H.264.
    """
    groups: dict[str, list[DashRepresentation]] = {}
    for rep in video:
        groups.setdefault(rep.track.sample_entry, []).append(rep)
    out: list[tuple[int, Sequence[DashRepresentation], str, str]] = [
        (i + 1 if i else 0, reps, "video", "video/mp4") for i, reps in enumerate(groups.values())
    ]
    out.append((1, audio, "audio", "audio/mp4"))
    return out


def dash_manifest(
    *,
    periods: Sequence[DashPeriod],
    video: Sequence[DashRepresentation],
    audio: Sequence[DashRepresentation],
    availability_start: float,
    publish_time: float,
    stream_token: str,
    segment_target: float,
    target_duration: int,
    window_seconds: float,
    low_latency: bool = True,
    latency_target: float = 2.0,
    utc_timing_url: str = UTC_TIMING_PATH,
    ended: bool = False,
) -> str | None:
    """The MPD text, or None if no period has a segment yet.

    Once the stream has ``ended`` the MPD stops asking for updates and states the
    presentation's duration (DASH-IF IOP: the end of a live presentation).
    """
    body: list[str] = []
    presentation_end = 0.0
    for i, period in enumerate(periods):
        end = periods[i + 1].media_start if i + 1 < len(periods) else None
        sets: list[list[str]] = []
        for set_id, reps, content, mime in _adaptation_sets(video, audio):
            rep_lines: list[str] = []
            widths, heights = [0], [0]
            for rep in reps:
                segments = _in_period(rep.segments, period.media_start, end)
                # Skip segments a timeline cannot list (no duration yet).
                if not segments:
                    continue
                widths.append(rep.track.width)
                heights.append(rep.track.height)
                last = segments[-1]
                media_end = (last.media_start + last.media_duration) / last.timescale
                presentation_end = max(
                    presentation_end,
                    period.program_date_time - availability_start + media_end - period.media_start,
                )
                rep_lines += _representation(
                    rep,
                    segments,
                    period,
                    stream_token=stream_token,
                    segment_target=segment_target,
                    low_latency=low_latency,
                )
            if not rep_lines:
                continue
            set_attrs: dict[str, object] = {
                "id": set_id,
                "contentType": content,
                "mimeType": mime,
                "segmentAlignment": "true",
                "startWithSAP": 1,
            }
            if content == "video":
                set_attrs["maxWidth"] = max(widths) or None
                set_attrs["maxHeight"] = max(heights) or None
            else:
                set_attrs["lang"] = "und"
            sets.append([f"<AdaptationSet{_attrs(**set_attrs)}>", *rep_lines, "</AdaptationSet>"])
        if not sets:
            continue
        start = period.program_date_time - availability_start
        body.append(f"<Period{_attrs(id=period.id, start=_duration(start))}>")
        for lines in sets:
            body += lines
        body.append("</Period>")
    if not body:
        return None
    mpd_attrs = {
        "xmlns": "urn:mpeg:dash:schema:mpd:2011",
        "profiles": PROFILES,
        "type": "dynamic",
        "availabilityStartTime": _date(availability_start),
        "publishTime": _date(publish_time),
        "minimumUpdatePeriod": None if ended else _duration(min(1.0, segment_target)),
        "mediaPresentationDuration": _duration(presentation_end) if ended else None,
        "timeShiftBufferDepth": _duration(window_seconds),
        "maxSegmentDuration": _duration(target_duration),
        "minBufferTime": _duration(min(1.0, segment_target)),
        "suggestedPresentationDelay": _duration(3 * segment_target),
    }
    head = ['<?xml version="1.0" encoding="UTF-8"?>', f"<MPD{_attrs(**mpd_attrs)}>"]
    if low_latency:
        target_ms = round(latency_target * 1000)
        head += [
            '<ServiceDescription id="0">',
            f'<Latency target="{target_ms}" min="{round(target_ms * 0.75)}"'
            f' max="{round(target_ms * 2)}"/>',
            f'<PlaybackRate min="{_CATCH_UP[0]}" max="{_CATCH_UP[1]}"/>',
            "</ServiceDescription>",
        ]
    tail = [
        f'<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="{utc_timing_url}"/>',
        f'<UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014" value="{_date(publish_time)}"/>',
        "</MPD>",
        "",
    ]
    return "\n".join(head + body + tail)


def window_seconds(reps: Sequence[DashRepresentation]) -> float:
    """The time span the listed segments cover (for timeShiftBufferDepth)."""
    spans = [sum(s.duration for s in rep.segments if s.complete) for rep in reps]
    return math.ceil(max(spans, default=0.0))
