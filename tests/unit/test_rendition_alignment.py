"""Renditions cut where the source cuts: the audio-only and the encoded renditions, and the
source audio muxed into every video variant."""

from __future__ import annotations

import dataclasses
import io
import re
from xml.etree import ElementTree

import av
import pytest

from golive.media.frame import Frame
from golive.packager.hls_stream import HlsStreamPackager, Layout
from golive.store.live_window import ChannelMedia, StoredSegment
from tests.hls_conformance import (
    assert_conformant,
    check_media_playlist,
    check_multivariant_playlist,
)
from tests.support.synthetic import AUDIO, VIDEO, av_frames

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
SMALL = dataclasses.replace(VIDEO, width=160, height=120)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass(frozen=True)
class Rendition:
    name: str


def encoded_copy(frame: Frame) -> Frame:
    """What the encoder returns for a source video frame: no B-frames, same presentation time."""
    return Frame(frame.track_id, frame.pts, frame.pts, frame.keyframe, b"\x00\x00\x00\x02\x41\x9a")


def package(
    seconds: float, *, start_encoded_at: float = 0.0, end: bool = False, **kw: object
) -> tuple[ChannelMedia, HlsStreamPackager]:
    media = ChannelMedia("demo", "0badc0de")
    pkg = HlsStreamPackager(
        media, part_target=0.2, segment_target=1.0, window_segments=20, clock=FakeClock()
    )
    pkg.on_tracks([VIDEO, AUDIO])
    small = pkg.open_rendition(Rendition("small"))
    small.on_tracks([SMALL])
    for f in av_frames(seconds, **kw):  # type: ignore[arg-type]
        pkg.on_frame(f)
        if f.track_id == VIDEO.id and f.pts >= start_encoded_at * 90_000:
            small.on_frame(encoded_copy(f))
    if end:
        pkg.on_end()
        small.on_end()
    return media, pkg


def starts(segments: dict[int, StoredSegment]) -> dict[int, float]:
    return {msn: s.media_start / s.timescale for msn, s in segments.items() if s.complete}


@pytest.mark.parametrize(
    ("bframes", "gop"),
    [
        (False, [30, 45, 30, 60, 30, 30, 30]),
        (True, [30, 45, 30, 60, 30, 30, 30]),
        # A keyframe 3 s late: the source cuts without it just under the 2 s target.
        (False, [30, 90, 30, 30, 30, 30]),
    ],
    ids=["irregular", "b-frames", "late-keyframe"],
)
def test_audio_and_encoded_renditions_cut_where_the_source_cuts(
    bframes: bool, gop: list[int]
) -> None:
    media, pkg = package(8.1, bframes=bframes, gop=gop)
    assert pkg.layout is Layout.AUDIO_VIDEO
    source = starts(media.renditions["source"].segments)
    audio = starts(media.renditions["audio"].segments)
    small = starts(media.renditions["small"].segments)
    assert len(source) >= 5
    assert set(small) == set(source) and set(audio) == set(source)
    for msn, t in source.items():
        assert small[msn] == pytest.approx(t, abs=1e-9)  # the same presentation time
        # The audio-only rendition holds the audio samples of the source's segment: those
        # that arrived with its video (an audio frame that came after the previous part
        # closed opens the next one), so it starts within an audio frame and a video frame
        # of the keyframe's decode time (B-frames present the keyframe two frames later).
        slack = 1024 / 48000 + 1 / 30 + (2 / 30 if bframes else 0) + 1e-9
        assert abs(audio[msn] - t) <= slack
    # The same media time has the same date in every rendition.
    for name in ("audio", "small"):
        for msn, seg in media.renditions[name].segments.items():
            lead = media.renditions["source"].segments[msn]
            offset = seg.media_start / seg.timescale - lead.media_start / lead.timescale
            assert seg.program_date_time - lead.program_date_time == pytest.approx(offset, abs=1e-6)


def test_a_late_rendition_takes_the_sources_numbers() -> None:
    media, _ = package(6.1, start_encoded_at=2.5)
    source = media.renditions["source"].segments
    small = media.renditions["small"].segments
    assert min(small) == 3  # the first source segment starting after 2.5 s
    for msn, seg in small.items():
        assert seg.media_start == source[msn].media_start


def test_every_playlist_is_conformant_and_every_video_variant_carries_the_audio() -> None:
    media, _ = package(6.1)
    for name in ("source", "audio", "small"):
        window = media.renditions[name]
        assert window.latest is not None
        assert_conformant(check_media_playlist(window.latest.full.decode()))
    assert media.multivariant is not None
    text = media.multivariant.decode()
    assert_conformant(check_multivariant_playlist(text))
    assert "#EXT-X-MEDIA" not in text  # no separate audio playlist to load in step
    variants = [x for x in text.splitlines() if x.startswith("#EXT-X-STREAM-INF")]
    assert len(variants) == 3  # source, small, and the audio-only variant
    assert "RESOLUTION=320x240" in variants[0] and "RESOLUTION=160x120" in variants[1]
    assert all('CODECS="avc1.' in v and ',mp4a.40.2"' in v for v in variants[:2])
    assert 'CODECS="mp4a.40.2"' in variants[2] and "RESOLUTION" not in variants[2]
    # BANDWIDTH is the variant's own peak segment bitrate, audio included.
    segs = [s for s in media.renditions["source"].segments.values() if s.complete]
    source_peak = max(len(s.data) * 8 / s.duration for s in segs)
    source_bandwidth = int(re.search(r"BANDWIDTH=(\d+)", variants[0])[1])  # type: ignore[index]
    assert source_bandwidth == round(source_peak)
    # The encoded rendition's parts hold the audio of their own time span.
    small = media.renditions["small"]
    assert stream_types(media, "small") == ["video", "audio"]
    # Renditions report each other's live edge.
    latest = small.latest
    assert (
        latest is not None and 'RENDITION-REPORT:URI="../source/index.m3u8"' in latest.full.decode()
    )


def stream_types(media: ChannelMedia, name: str) -> list[str]:
    """The kinds of track in a rendition's newest segment, read back with PyAV."""
    window = media.renditions[name]
    seg = max(window.segments.values(), key=lambda s: s.msn)
    data = window.init_segments[seg.init_id] + b"".join(p.data for p in seg.parts)
    with av.open(io.BytesIO(data), format="mp4") as container:
        return [st.type for st in container.streams]


def test_closing_a_rendition_removes_it() -> None:
    media, pkg = package(4.1)
    pkg.close_rendition("small")
    assert "small" not in media.renditions and "small" not in pkg.renditions
    assert media.multivariant is not None and b"small" not in media.multivariant
    assert media.dash_manifest is not None and b'id="small"' not in media.dash_manifest


def test_single_track_streams_keep_one_rendition() -> None:
    media = ChannelMedia("demo", "0badc0de")
    pkg = HlsStreamPackager(media, part_target=0.2, segment_target=1.0, window_segments=6)
    pkg.on_tracks([VIDEO])
    for f in av_frames(3.1, audio=False):
        pkg.on_frame(f)
    assert pkg.layout is Layout.VIDEO
    assert set(media.renditions) == {"source"}
    assert media.multivariant is not None and b"EXT-X-MEDIA" not in media.multivariant


def mpd(media: ChannelMedia) -> ElementTree.Element:
    assert media.dash_manifest is not None
    return ElementTree.fromstring(media.dash_manifest)


def test_dash_manifest_describes_the_same_segments() -> None:
    media, _ = package(6.3)
    root = mpd(media)
    assert root.get("type") == "dynamic"
    assert root.get("availabilityStartTime") == "2023-11-14T22:13:20.000Z"
    (period,) = root.findall("d:Period", NS)
    (video,) = period.findall("d:AdaptationSet", NS)  # the audio is muxed in
    assert video.get("contentType") == "video"
    reps = video.findall("d:Representation", NS)
    assert [r.get("id") for r in reps] == ["source", "small"]
    assert all(r.get("codecs", "").endswith(",mp4a.40.2") for r in reps)
    for rep in reps:
        name = rep.get("id")
        assert name is not None
        window = media.renditions[name]
        template = rep.find("d:SegmentTemplate", NS)
        assert template is not None
        assert template.get("media") == f"{name}/0badc0de/$Number$.m4s"
        assert template.get("availabilityTimeComplete") == "false"
        assert float(template.get("availabilityTimeOffset", "0")) > 0.5
        listed = [s for s in window.segments.values() if s.complete or s.parts]
        assert int(template.get("startNumber", "-1")) == listed[0].msn
        entries = template.findall("d:SegmentTimeline/d:S", NS)
        t = int(entries[0].get("t", "0"))
        assert t == listed[0].media_start
        count = 0
        for s in entries:
            repeat = int(s.get("r", "0"))
            if repeat < 0:  # the segment being built: its duration is a forecast
                assert s is entries[-1] and not listed[-1].complete
                count += 1
                break
            explicit = s.get("t")
            if explicit is not None:
                t = int(explicit)
            for _ in range(repeat + 1):
                seg = listed[count]
                assert t == seg.media_start
                t += int(s.get("d", "0"))
                count += 1
        assert count == len(listed)


def test_dash_periods_follow_the_source_timelines() -> None:
    media = ChannelMedia("demo", "0badc0de")
    clock = FakeClock()
    pkg = HlsStreamPackager(
        media, part_target=0.2, segment_target=1.0, window_segments=20, clock=clock
    )
    pkg.on_tracks([VIDEO, AUDIO])
    for f in av_frames(3.1):
        pkg.on_frame(f)
    pkg.on_discontinuity()
    clock.now += 30  # the publisher came back 30 s later, its media time 0.1 s on
    for f in av_frames(3.1, start_ms=3200):
        pkg.on_frame(f)
    periods = mpd(media).findall("d:Period", NS)
    assert [p.get("id") for p in periods] == ["0", "4"]
    assert periods[0].get("start") == "PT0.000S"
    # The clock stood still while the first timeline played (a publisher faster than real
    # time): the second starts 30 s later on the wall clock, 3.2 s later in media time.
    assert periods[1].get("start") == "PT30.000S"
    template = periods[1].find("d:AdaptationSet/d:Representation/d:SegmentTemplate", NS)
    assert template is not None and template.get("presentationTimeOffset") == str(3200 * 90)


def test_tracks_of_each_rendition() -> None:
    _, pkg = package(2.1)
    assert pkg.audio is not None
    assert pkg.audio.tracks == [AUDIO]
    assert pkg.source.tracks == [VIDEO, AUDIO]
    assert pkg.renditions["small"].tracks == [SMALL, AUDIO]


def test_encoded_parts_carry_the_audio_of_their_own_time() -> None:
    """Audio arrives before the encoded video of the same time; it waits for it."""
    media, _ = package(4.1)
    small = media.renditions["small"]
    for seg in small.segments.values():
        if not seg.complete:
            continue
        data = small.init_segments[seg.init_id] + seg.data
        with av.open(io.BytesIO(data), format="mp4") as container:
            firsts: dict[str, float] = {}
            for packet in container.demux():
                if packet.pts is None or packet.stream.type in firsts:
                    continue
                firsts[packet.stream.type] = float(packet.pts * packet.time_base)
        assert set(firsts) == {"video", "audio"}
        assert abs(firsts["audio"] - firsts["video"]) < 0.05, firsts


def test_the_mpd_of_an_ended_stream_states_its_duration() -> None:
    media, _ = package(4.1)
    assert "mediaPresentationDuration" not in mpd(media).attrib
    media, _ = package(4.1, end=True)
    root = mpd(media)
    assert "minimumUpdatePeriod" not in root.attrib
    duration = root.get("mediaPresentationDuration", "")
    assert re.fullmatch(r"PT4\.\d{3}S", duration), duration
    assert not [s for s in root.iter(f"{{{NS['d']}}}S") if s.get("r") == "-1"]


def test_a_failing_follower_is_dropped_and_the_source_goes_on() -> None:
    media = ChannelMedia("demo", "0badc0de")
    pkg = HlsStreamPackager(
        media, part_target=0.2, segment_target=1.0, window_segments=20, clock=FakeClock()
    )
    pkg.on_tracks([VIDEO, AUDIO])
    assert pkg.audio is not None

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the audio rendition")

    pkg.audio._take_part = broken  # type: ignore[method-assign]
    for f in av_frames(4.1):
        pkg.on_frame(f)
    assert pkg.audio is None and "audio" not in media.renditions
    source = media.renditions["source"]
    assert sum(1 for s in source.segments.values() if s.complete) >= 3
    assert media.multivariant is not None and b"audio/index.m3u8" not in media.multivariant
