"""Packages one live stream: its renditions, the multivariant playlist and the DASH MPD.

Every video variant carries the publisher's audio muxed with its video: the source rendition
(passed through) and each encoded rendition, whose audio the :class:`AudioInterleaver` puts
in step with the encoded video. One playlist per variant is what holds LL-HLS latency in
hls.js (see :mod:`golive.packager.audio_interleaver`). The audio is never re-encoded. With the
ladder's audio-only rung, the audio also makes a rendition of its own, listed as an audio-only
variant for the slowest links. A stream with one kind of track has that one track in the
source rendition.

The source rendition leads: it cuts segments by its keyframes, every other rendition cuts
where it did (see :mod:`golive.packager.segment_boundaries`).

"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol

from golive.media.frame import Frame, Track, TrackKind
from golive.packager.audio_interleaver import AudioInterleaver
from golive.packager.dash_manifest import (
    DashPeriod,
    DashRepresentation,
    dash_manifest,
    window_seconds,
)
from golive.packager.hls_multivariant import multivariant_playlist
from golive.packager.hls_playlist import RenditionReport
from golive.packager.hls_rendition import HlsRendition
from golive.packager.segment_boundaries import SegmentBoundaries
from golive.packager.segment_sink import SegmentSink
from golive.store.dvr_history import DvrHistory
from golive.store.live_window import ChannelMedia, RenditionWindow, StoredSegment

log = logging.getLogger("golive.packager")

SOURCE_RENDITION = "source"
AUDIO_RENDITION = "audio"
# The multivariant playlist and the MPD wait for every rendition's first segment, but no
# longer than this many source segments: a slow transcoder must not hold the stream back.
_READY_WAIT_SEGMENTS = 3
_MAX_PERIODS = 16


class Layout(StrEnum):
    AUDIO_VIDEO = "audio+video"  # video variants with the audio muxed in (+ audio-only)
    VIDEO = "video"  # no audio track
    AUDIO = "audio"  # no video track: the source rendition is audio only


class NamedRendition(Protocol):
    """What the transcoder says about a rendition it opens (its name is enough here)."""

    @property
    def name(self) -> str: ...


class HlsStreamPackager:
    """A StreamConsumer packaging the source; implements the transcoder's RenditionOutputs.

    ``audio_only_variant`` makes the audio a rendition of its own, listed as an audio-only
    variant (the ladder's audio-only rung). The multivariant playlist and the MPD are published once
    every rendition has a segment (or the wait is over) and renewed as segments complete.
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
        on_part_published: Callable[[float], None] | None = None,
        audio_only_variant: bool = True,
        dash_latency_target: float | None = None,
        part_hold_back: float = 2.0,
        segment_sink: SegmentSink | None = None,
    ) -> None:
        self.media = media
        # Told of every completed segment of every rendition (the recording), if any.
        self.segment_sink = segment_sink
        self._options: dict[str, object] = {
            "part_target": part_target,
            "segment_target": segment_target,
            "window_segments": window_segments,
            "part_hold_back": part_hold_back,
            "log_extra": log_extra,
            "on_part_published": on_part_published,
        }
        if clock is not None:
            self._options["clock"] = clock
        self._clock = clock or time.time
        self._log = log_extra or {}
        self._segment_target = segment_target
        self._audio_only_variant = audio_only_variant
        # What dash.js aims for: a segment and two parts behind the live edge, by default.
        self._dash_latency_target = dash_latency_target or max(
            1.0, segment_target + 2 * part_target
        )
        self.boundaries = SegmentBoundaries()
        self.layout: Layout | None = None
        self._tracks: list[Track] = []
        self._track_ids: dict[int, Track] = {}
        self.renditions: dict[str, HlsRendition] = {}
        self.encoded: dict[str, HlsRendition] = {}
        self._interleavers: dict[str, AudioInterleaver] = {}
        self._audio_track: Track | None = None
        self.source = self.add_rendition(SOURCE_RENDITION, lead=self.boundaries)
        # Made up front (so a resumed stream can take its saved segments back); dropped if
        # the stream turns out to have no audio track, or only one.
        self.audio: HlsRendition | None = (
            self.add_rendition(AUDIO_RENDITION) if audio_only_variant else None
        )
        self.source.on_companion_failed = self._audio_failed
        self._ready = False
        self._multivariant: bytes | None = None
        self._periods: list[DashPeriod] = []
        self._availability_start: float | None = None

    def add_rendition(self, name: str, **options: object) -> HlsRendition:
        window = RenditionWindow(name, stream_token=self.media.stream_token)
        self.media.renditions[name] = window
        rendition = HlsRendition(
            name,
            window,
            on_segment=self._segment_done,
            on_segment_open=self._segment_open,
            on_ended=self._rendition_ended,
            reports=self._reports,
            dvr=self._dvr_history,
            dvr_reports=self._dvr_reports,
            **self._options,  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )
        self.renditions[name] = rendition
        return rendition

    # -- StreamConsumer ---------------------------------------------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self._tracks = list(tracks)
        self._track_ids = {t.id: t for t in tracks}
        if self.layout is not None:
            self._route_tracks()

    def on_frame(self, frame: Frame) -> None:
        if self.layout is None:
            self._choose_layout()
        track = self._track_ids.get(frame.track_id)
        if track is None:
            return
        if track.kind is TrackKind.AUDIO:
            audio = self._audio_track
            if self.layout is Layout.AUDIO_VIDEO and (audio is None or frame.track_id != audio.id):
                return  # a second audio track: not offered
            for name, interleaver in list(self._interleavers.items()):
                self._feed(name, interleaver.audio_frame, frame)
        self.source.on_frame(frame)

    def _feed(self, name: str, method: Callable[[Frame], None], frame: Frame) -> None:
        """Give a frame to a rendition other than the source, which must never fail with it."""
        try:
            method(frame)
        except Exception:
            log.exception("rendition %s failed; it is no longer offered", name, extra=self._log)
            self.close_rendition(name)

    def _audio_failed(self, rendition: HlsRendition) -> None:
        if rendition is self.audio:
            self._drop_audio_rendition()
            self._publish()

    def on_discontinuity(self) -> None:
        self.source.on_discontinuity()
        if self.audio is not None:
            self.audio.on_discontinuity()

    def on_end(self) -> None:
        # Encoded renditions are ended by their producer, once it has drained.
        self.source.on_end()
        if self.audio is not None:
            self.audio.on_end()

    # -- RenditionOutputs (the transcoder) ----------------------------------------------------

    def open_rendition(self, rendition: NamedRendition) -> AudioInterleaver:
        """A new encoded video rendition, cut where the source cuts, with the source audio."""
        name = rendition.name
        if name in self.renditions:
            raise ValueError(f"rendition {name!r} exists already")
        opened = self.add_rendition(name, follow=self.boundaries, hold=True)
        self.encoded[name] = opened
        interleaver = AudioInterleaver(opened)
        interleaver.audio_tracks(self._audio_track)
        self._interleavers[name] = interleaver
        return interleaver

    def close_rendition(self, name: str) -> None:
        """Stop offering an encoded rendition (it was shed): its URLs go away."""
        rendition = self.encoded.pop(name, None)
        if rendition is None:
            return
        self._interleavers.pop(name, None)
        del self.renditions[name]
        rendition.window.end(None)  # wake blocked requests; they get the last playlist
        if self.media.renditions.get(name) is rendition.window:
            del self.media.renditions[name]
        self._publish()

    # -- layout ---------------------------------------------------------------------------------

    def _choose_layout(self) -> None:
        kinds = {t.kind for t in self._tracks}
        if TrackKind.VIDEO in kinds and TrackKind.AUDIO in kinds:
            self.layout = Layout.AUDIO_VIDEO
        elif TrackKind.VIDEO in kinds:
            self.layout = Layout.VIDEO
        else:
            self.layout = Layout.AUDIO
        if self.layout is not Layout.AUDIO_VIDEO:
            self._drop_audio_rendition()
        self._route_tracks()

    def _drop_audio_rendition(self) -> None:
        audio = self.audio
        if audio is None:
            return
        self.audio = None
        self.source.set_companion(None, None)
        self.renditions.pop(audio.name, None)
        if self.media.renditions.get(audio.name) is audio.window:
            del self.media.renditions[audio.name]

    def _route_tracks(self) -> None:
        video = [t for t in self._tracks if t.kind is TrackKind.VIDEO]
        audio = [t for t in self._tracks if t.kind is TrackKind.AUDIO]
        self._audio_track = audio[0] if audio else None
        if self.layout is Layout.AUDIO:
            if audio:
                self.source.on_tracks(audio[:1])
            return
        if video:
            self.source.on_tracks(video[:1] + audio[:1])
        if self.layout is Layout.AUDIO_VIDEO:
            if self.audio is not None and audio:
                self.audio.on_tracks(audio[:1])
                # The audio-only rendition is the source's audio samples, part by part.
                self.source.set_companion(self.audio, audio[0].id)
            for interleaver in self._interleavers.values():
                interleaver.audio_tracks(self._audio_track)

    # -- publishing -----------------------------------------------------------------------------

    def _segment_open(self, rendition: HlsRendition, segment: StoredSegment) -> None:
        if rendition is self.source and (segment.discontinuity or not self._periods):
            self._new_period(segment)
        if not self._ready:
            self._ready = self._everyone_ready()
            if self._ready:
                self._publish()
        else:
            self._publish_manifest()

    def _rendition_ended(self, rendition: HlsRendition) -> None:
        self._publish()

    def _segment_done(self, rendition: HlsRendition, segment: StoredSegment) -> None:
        sink = self.segment_sink
        if sink is not None:
            try:
                init = rendition.window.init_segments.get(segment.init_id)
                sink.segment_done(rendition.name, segment, init)
            except Exception:
                # The recording must never take the live stream down.
                log.exception("segment sink failed; no longer recording", extra=self._log)
                self.segment_sink = None
        if self._ready:
            self._publish()

    def _everyone_ready(self) -> bool:
        """Whether every rendition's playlist lists a complete segment (or the wait is over).

        A playlist lists a completed segment from the next part on: players that load one
        with parts only (hls.js: "level empty") retry, which costs start-up time.
        """

        def listed(r: HlsRendition) -> int:
            pos = r.window.last_position
            if pos is None:
                return 0
            return sum(1 for s in r.window.segments.values() if s.complete and s.msn < pos[0])

        done = listed(self.source)
        if not done:
            return False
        if done > _READY_WAIT_SEGMENTS:
            return True
        return all(listed(r) for r in self.renditions.values())

    def _publish(self) -> None:
        if not self._ready:
            return
        self.media.set_multivariant(self._render_multivariant)
        self._publish_manifest()

    # -- DVR (see store.dvr_history): the recorded renditions, with their past ----------------

    def _dvr_history(self, name: str) -> DvrHistory | None:
        dvr = self.media.dvr
        return dvr.histories.get(name) if dvr is not None else None

    def _dvr_reports(self, rendition: HlsRendition) -> list[RenditionReport]:
        return [
            RenditionReport(r.uri.removesuffix("index.m3u8") + "dvr.m3u8", r.last_msn, r.last_part)
            for r in self._reports(rendition)
            if self._dvr_history(r.uri.split("/")[1]) is not None
        ]

    def _render_dvr_multivariant(self) -> bytes | None:
        variants = self._video_variants() if self.layout is not Layout.AUDIO else [self.source]
        audio = self.audio
        text = multivariant_playlist(
            [r for r in variants if self._dvr_history(r.name) is not None],
            audio if audio is not None and self._dvr_history(audio.name) is not None else None,
            playlist="dvr.m3u8",
        )
        return text.encode() if text is not None else None

    def _render_dvr_manifest(self) -> bytes | None:
        return self._render_manifest(dvr=True)

    def _render_multivariant(self) -> bytes | None:
        text = multivariant_playlist(
            self._video_variants() if self.layout is not Layout.AUDIO else [self.source],
            self.audio,
        )
        if text is not None:
            self._multivariant = text.encode()
        return self._multivariant  # the last one made, if nothing can be listed now

    def _video_variants(self) -> list[HlsRendition]:
        variants = [self.source, *self.encoded.values()]
        # Highest quality first: players start with the first listed variant.
        return sorted(variants, key=_rendition_order)

    def _new_period(self, segment: StoredSegment) -> None:
        period = DashPeriod(
            id=str(segment.msn),
            program_date_time=segment.program_date_time,
            media_start=segment.media_start / segment.timescale,
        )
        if self._availability_start is None:
            self._availability_start = period.program_date_time
        self._periods.append(period)
        del self._periods[:-_MAX_PERIODS]

    def _publish_manifest(self) -> None:
        if self._availability_start is not None:
            self.media.set_dash_manifest(self._render_manifest)
        if self.media.dvr is not None and self._ready:
            self.media.set_dvr_playlists(
                self._render_dvr_multivariant,
                self._render_dvr_manifest if self._availability_start is not None else None,
            )

    def _render_manifest(self, *, dvr: bool = False) -> bytes | None:
        start = self._availability_start
        if start is None:
            return None
        history = self._dvr_history if dvr else None
        if self.layout is Layout.AUDIO:
            video: list[DashRepresentation] = []
            audio = _dash_representations([self.source], history)
        else:
            # The audio is muxed into every video Representation (see dash_manifest).
            video = _dash_representations(self._video_variants(), history)
            audio = []
        first_media = min(
            (r.segments[0].media_start / r.segments[0].timescale for r in video + audio),
            default=None,
        )
        if first_media is None:
            return None
        # Periods whose every segment has left the window are no longer listed.
        periods = [
            p
            for i, p in enumerate(self._periods)
            if i + 1 == len(self._periods) or self._periods[i + 1].media_start > first_media
        ]
        text = dash_manifest(
            periods=periods,
            video=video,
            audio=audio,
            availability_start=start,
            publish_time=self._clock(),
            stream_token=self.media.stream_token,
            segment_target=self._segment_target,
            target_duration=self.source.window.target_duration or 1,
            window_seconds=window_seconds(video + audio),
            latency_target=self._dash_latency_target,
            ended=all(r.window.ended for r in self.renditions.values()),
        )
        return text.encode() if text is not None else None

    def _reports(self, rendition: HlsRendition) -> list[RenditionReport]:
        reports = []
        for other in self.renditions.values():
            if other is rendition:
                continue
            pos = other.window.last_position
            if pos is not None:
                reports.append(RenditionReport(f"../{other.name}/index.m3u8", pos[0], pos[1]))
        return reports


def _dash_representations(
    renditions: Sequence[HlsRendition],
    dvr: Callable[[str], DvrHistory | None] | None = None,
) -> list[DashRepresentation]:
    """The MPD's Representations; with ``dvr`` the DVR MPD's: only the recorded renditions,
    each with its recorded segments before the live ones (bitrates are measured on the live
    ones, whose bytes are at hand)."""
    reps = []
    for rendition in renditions:
        if not rendition.tracks:
            continue
        segments = rendition.playlist_segments()
        complete = [s for s in segments if s.complete and s.duration > 0]
        if not complete:
            continue
        listed: list[StoredSegment] = segments
        if dvr is not None:
            history = dvr(rendition.name)
            if history is None:
                continue
            older = history.listed_before(segments[0].msn)
            if older and older[-1].segment.msn == segments[0].msn - 1:
                listed = [e.segment for e in older] + segments
        seconds = sum(s.duration for s in complete)
        track = rendition.tracks[0]
        reps.append(
            DashRepresentation(
                name=rendition.name,
                track=track,
                segments=listed,
                bandwidth=round(max(len(s.data) * 8 / s.duration for s in complete)),
                frame_rate=(
                    sum(s.frame_count for s in complete) / seconds
                    if track.kind is TrackKind.VIDEO
                    else None
                ),
                part_target=rendition.segmenter.part_target or 0.0,
                codecs=",".join(t.codec for t in rendition.tracks),
            )
        )
    return reps


def _rendition_order(rendition: HlsRendition) -> tuple[int, int]:
    video = rendition.video
    if video is None:
        return (1, 0)
    return (0, -(video.width * video.height))


__all__ = [
    "AUDIO_RENDITION",
    "SOURCE_RENDITION",
    "HlsStreamPackager",
    "Layout",
    "multivariant_playlist",
]
