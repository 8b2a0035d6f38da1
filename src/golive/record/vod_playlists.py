"""The playlists of a finished recording (a VOD), rendered from its index rows: pure, no I/O.

A recording's objects are ``<id>/<rendition>/<sequence>.m4s`` and ``init-<sequence>.mp4``
(in a cluster under a ``t<token>/`` folder per writer: ``storage_keys``); beside them go

- ``<id>/<rendition>/index.m3u8``: an HLS VOD media playlist per recorded rendition
  (RFC 8216bis): ``EXT-X-PLAYLIST-TYPE:VOD``, ``EXT-X-ENDLIST``, the stored segments with
  ``EXTINF`` to the millisecond, ``EXT-X-MAP`` wherever the init segment changes,
  ``EXT-X-PROGRAM-DATE-TIME`` on the first segment and after every discontinuity.
  A new timeline (a publisher reconnect: ``discontinuity``) and a hole (segments lost while
  storage was down: ``gap_before``) are both an ``EXT-X-DISCONTINUITY``: the missing media
  is not listed as ``EXT-X-GAP`` segments (their count and durations are not known for
  sure), so the VOD plays straight through a hole, and the date after it says how long it was.
- ``<id>/index.m3u8``: the multivariant playlist. Each video rendition is one
  ``EXT-X-STREAM-INF`` (its audio is muxed in, as live): ``BANDWIDTH`` the peak segment
  bitrate, ``AVERAGE-BANDWIDTH`` over the whole recording, ``CODECS``, ``RESOLUTION`` and
  ``FRAME-RATE`` from its init segments (``Variant``, read by ``vod_publisher``). Highest
  bitrate first (the source, as the live playlist lists it); the audio-only rendition last.
- ``<id>/manifest.mpd``: a static DASH MPD over the same segments: one ``Period`` per
  timeline (split at ``discontinuity``; a hole inside a timeline stays a hole in its
  ``SegmentTimeline``, which DASH players jump), ``SegmentTemplate`` with ``$Number$`` (the
  recording's sequence) and a ``SegmentTimeline`` of media times. Video Representations
  carry their muxed audio, so the audio-only rendition is listed only when there is no video
  (as in the live MPD).

URIs are relative to the playlist, so the files work under any URL prefix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from golive.record.recording_index import IndexedSegment
from golive.record.storage_keys import rendition_relative

__all__ = [
    "Variant",
    "dash_mpd",
    "media_playlist",
    "multivariant_playlist",
    "split_renditions",
]

HLS_VERSION = 6  # EXT-X-MAP outside I-frame playlists (RFC 8216bis section 8)
MPD_PROFILES = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"
# Consecutive segments this close (seconds) abut: a segment ends where the next starts.
_ABUT_SLACK = 0.05


@dataclass(frozen=True, slots=True)
class Variant:
    """What a rendition's init segments (and one of its segments) say about it."""

    codecs: tuple[str, ...] = ()
    width: int = 0
    height: int = 0
    frame_rate: float | None = None
    video: bool = True
    audio_sampling_rate: int = 0


def split_renditions(rows: Sequence[IndexedSegment]) -> dict[str, list[IndexedSegment]]:
    """Rows by rendition, each in sequence order."""
    out: dict[str, list[IndexedSegment]] = {}
    for row in rows:
        out.setdefault(row.rendition, []).append(row)
    for segs in out.values():
        segs.sort(key=lambda r: r.sequence)
    return out


def _name(seg: IndexedSegment, key: str) -> str:
    """The URI of ``seg``'s object ``key`` relative to the rendition's playlist."""
    return rendition_relative(key, seg.rendition)


def _folder(seg: IndexedSegment) -> str:
    """The token folder ``seg`` was written in, with its slash ("" for none)."""
    folder, slash, _ = _name(seg, seg.storage_key).rpartition("/")
    return folder + slash


def _date(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _extinf(seconds: float) -> str:
    return f"{seconds:.3f}"


def media_playlist(segments: Sequence[IndexedSegment]) -> str:
    """The VOD media playlist of one rendition (``segments`` in sequence order, not empty)."""
    if not segments:
        raise ValueError("a media playlist needs at least one segment")
    target = max(1, math.ceil(max(float(_extinf(s.duration)) for s in segments)))
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0].sequence}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    init: str | None = None
    for i, seg in enumerate(segments):
        new_timeline = i > 0 and (seg.discontinuity or seg.gap_before)
        if new_timeline:
            lines.append("#EXT-X-DISCONTINUITY")
        if seg.init_key != init:
            init = seg.init_key
            lines.append(f'#EXT-X-MAP:URI="{_name(seg, init)}"')
        if i == 0 or new_timeline:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_date(seg.program_date_time)}")
        lines += [f"#EXTINF:{_extinf(seg.duration)},", _name(seg, seg.storage_key)]
    lines += ["#EXT-X-ENDLIST", ""]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Rates:
    peak: int
    average: int


def _rates(segments: Sequence[IndexedSegment]) -> _Rates:
    timed = [s for s in segments if s.duration > 0]
    if not timed:
        return _Rates(1, 1)
    seconds = sum(s.duration for s in timed)
    return _Rates(
        peak=max(1, round(max(s.byte_size * 8 / s.duration for s in timed))),
        average=max(1, round(sum(s.byte_size for s in timed) * 8 / seconds)),
    )


def _ordered(
    renditions: Mapping[str, Sequence[IndexedSegment]], variants: Mapping[str, Variant]
) -> tuple[list[str], list[str]]:
    """Video renditions (highest peak bitrate first) and audio-only ones."""
    listed = [name for name, segs in renditions.items() if segs]
    video = [name for name in listed if variants.get(name, Variant()).video]
    audio = sorted(name for name in listed if name not in video)
    video.sort(key=lambda name: (-_rates(renditions[name]).peak, name))
    return video, audio


def multivariant_playlist(
    renditions: Mapping[str, Sequence[IndexedSegment]], variants: Mapping[str, Variant]
) -> str:
    """The multivariant playlist over every recorded rendition's media playlist."""
    video, audio = _ordered(renditions, variants)
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for name in [*video, *audio]:
        rates = _rates(renditions[name])
        info = variants.get(name, Variant())
        attrs = [f"BANDWIDTH={rates.peak}", f"AVERAGE-BANDWIDTH={rates.average}"]
        if info.codecs:
            attrs.append('CODECS="' + ",".join(info.codecs) + '"')
        if info.video and info.width and info.height:
            attrs.append(f"RESOLUTION={info.width}x{info.height}")
        if info.video and info.frame_rate:
            attrs.append(f"FRAME-RATE={info.frame_rate:.3f}")
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), f"{name}/index.m3u8"]
    lines.append("")
    return "\n".join(lines)


# -- DASH ---------------------------------------------------------------------------------------


def _timelines(segments: Sequence[IndexedSegment]) -> list[list[IndexedSegment]]:
    """A rendition's segments split where a new timeline starts (``discontinuity``), and
    where the writer's token folder changes (a takeover always starts a new timeline; this
    keeps one SegmentTemplate per run true whatever the rows say)."""
    runs: list[list[IndexedSegment]] = []
    for seg in segments:
        if not runs or seg.discontinuity or _folder(seg) != _folder(runs[-1][0]):
            runs.append([])
        runs[-1].append(seg)
    return runs


def _ticks(seg: IndexedSegment) -> int:
    return round(seg.duration * seg.timescale)


def _span(run: Sequence[IndexedSegment]) -> float:
    """Seconds from the run's first media time to its last segment's end."""
    first, last = run[0], run[-1]
    return (last.media_start + _ticks(last) - first.media_start) / first.timescale


def _segment_timeline(run: Sequence[IndexedSegment]) -> list[str]:
    """S elements: an explicit @t where the time jumps (and first), @r for equal runs."""
    entries: list[list[int]] = []  # [t, d, r]
    for i, seg in enumerate(run):
        t, d = seg.media_start, _ticks(seg)
        nxt = run[i + 1] if i + 1 < len(run) else None
        if nxt is not None and abs(nxt.media_start - (t + d)) <= _ABUT_SLACK * seg.timescale:
            d = nxt.media_start - t  # abutting: the next start ends this one
        d = max(d, 1)
        last = entries[-1] if entries else None
        if last is not None and last[0] + last[1] * (last[2] + 1) == t and last[1] == d:
            last[2] += 1
        else:
            entries.append([t, d, 0])
    out = []
    end: int | None = None
    for t, d, r in entries:
        attrs = ([f'd="{d}"'] if t == end else [f't="{t}"', f'd="{d}"']) + (
            [f'r="{r}"'] if r else []
        )
        out.append(f"<S {' '.join(attrs)}/>")
        end = t + d * (r + 1)
    return out


def _duration(seconds: float) -> str:
    return f"PT{max(0.0, seconds):.3f}S"


def _frame_rate(fps: float) -> str:
    whole = round(fps)
    if abs(fps - whole) < 0.01:
        return str(whole)
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 0.01:
        return f"{ntsc * 1000}/1001"
    return f"{round(fps * 1000)}/1000"


def _attrs(values: Mapping[str, object]) -> str:
    return "".join(
        f' {name}="{escape(str(value), quote=True)}"'
        for name, value in values.items()
        if value is not None
    )


def _representation(name: str, run: Sequence[IndexedSegment], info: Variant, rates: _Rates) -> str:
    attrs: dict[str, object] = {"id": name, "bandwidth": rates.peak}
    if info.codecs:
        attrs["codecs"] = ",".join(info.codecs)
    if info.video:
        attrs["width"] = info.width or None
        attrs["height"] = info.height or None
        attrs["frameRate"] = _frame_rate(info.frame_rate) if info.frame_rate else None
    else:
        attrs["audioSamplingRate"] = info.audio_sampling_rate or None
    first = run[0]
    template = {
        "timescale": first.timescale,
        "initialization": f"{name}/{_name(first, first.init_key)}",
        "media": f"{name}/{_folder(first)}$Number$.m4s",
        "startNumber": first.sequence,
        "presentationTimeOffset": first.media_start,
    }
    return "".join(
        [
            f"<Representation{_attrs(attrs)}>",
            f"<SegmentTemplate{_attrs(template)}>",
            "<SegmentTimeline>",
            *_segment_timeline(run),
            "</SegmentTimeline></SegmentTemplate></Representation>",
        ]
    )


def dash_mpd(
    renditions: Mapping[str, Sequence[IndexedSegment]], variants: Mapping[str, Variant]
) -> str:
    """The static MPD: a Period per timeline, every rendition's segments of that timeline."""
    video, audio = _ordered(renditions, variants)
    listed = video or audio  # muxed video carries the audio: an audio set only without video
    runs = {name: _timelines(renditions[name]) for name in listed}
    rates = {name: _rates(renditions[name]) for name in listed}
    count = max((len(r) for r in runs.values()), default=0)
    periods: list[str] = []
    start = 0.0
    for index in range(count):
        members = [(name, runs[name][index]) for name in listed if index < len(runs[name])]
        length = max(_span(run) for _, run in members)
        content, mime = ("video", "video/mp4") if video else ("audio", "audio/mp4")
        reps = "".join(
            _representation(name, run, variants.get(name, Variant(video=bool(video))), rates[name])
            for name, run in members
        )
        adaptation = _attrs(
            {
                "id": 0,
                "contentType": content,
                "mimeType": mime,
                "segmentAlignment": "true",
                "startWithSAP": 1,
            }
        )
        periods.append(
            f'<Period id="{index}" start="{_duration(start)}" duration="{_duration(length)}">'
            f"<AdaptationSet{adaptation}>{reps}</AdaptationSet></Period>"
        )
        start += length
    max_target = max(
        (s.duration for name in listed for s in renditions[name]),
        default=2.0,
    )
    head = _attrs(
        {
            "xmlns": "urn:mpeg:dash:schema:mpd:2011",
            "profiles": MPD_PROFILES,
            "type": "static",
            "mediaPresentationDuration": _duration(start),
            "minBufferTime": _duration(max(1.0, math.ceil(max_target))),
        }
    )
    return "\n".join(
        ['<?xml version="1.0" encoding="UTF-8"?>', f"<MPD{head}>", *periods, "</MPD>", ""]
    )
