"""Cutting rules of the CMAF segmenter, on synthetic timing."""

from __future__ import annotations

import math

import pytest

from golive.media.frame import Frame
from golive.packager.cmaf_segmenter import (
    CmafSegmenter,
    InitReady,
    PartReady,
    SegmenterEvent,
    SegmentReady,
    SegmentStarted,
)
from tests.support.synthetic import AUDIO, VIDEO, av_frames


def run(
    frames: list[Frame], tracks=(VIDEO, AUDIO), part=0.2, segment=1.0
) -> tuple[CmafSegmenter, list[SegmenterEvent]]:
    seg = CmafSegmenter(part_target=part, segment_target=segment)
    events = seg.set_tracks(list(tracks))
    for f in frames:
        events += seg.push(f)
    events += seg.flush()
    return seg, events


def segments_of(
    events: list[SegmenterEvent],
) -> list[tuple[SegmentStarted, list[PartReady], SegmentReady]]:
    out = []
    current: tuple[SegmentStarted, list[PartReady]] | None = None
    for ev in events:
        if isinstance(ev, SegmentStarted):
            current = (ev, [])
        elif isinstance(ev, PartReady):
            assert current is not None and ev.msn == current[0].msn
            current[1].append(ev)
        elif isinstance(ev, SegmentReady):
            assert current is not None and ev.msn == current[0].msn
            out.append((current[0], current[1], ev))
            current = None
    return out


def check_part_rules(seg: CmafSegmenter, events: list[SegmenterEvent]) -> None:
    assert seg.part_target is not None
    for _started, parts, _ready in segments_of(events)[:-1]:
        for p in parts:
            assert p.duration <= seg.part_target + 1e-9, p
        for p in parts[:-1]:
            assert p.duration >= 0.85 * seg.part_target, (p, seg.part_target)


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0])
def test_parts_fit_the_part_target_at_common_frame_rates(fps: float) -> None:
    seg, events = run(av_frames(6, fps=fps, gop=round(fps)))
    check_part_rules(seg, events)
    segs = segments_of(events)
    assert len(segs) >= 5
    for started, parts, ready in segs[:-1]:
        assert started.independent
        assert parts[0].independent
        assert abs(sum(p.duration for p in parts) - ready.duration) < 0.01
        assert 0.95 <= ready.duration <= 1.05


def test_part_target_is_fitted_to_whole_frames() -> None:
    seg, _ = run(av_frames(2, fps=30))
    assert seg.part_target == pytest.approx(0.2 + 0.005, abs=1e-3)
    seg, _ = run(av_frames(2, fps=24, gop=24))
    assert seg.part_target == pytest.approx(5 / 24 + 0.005, abs=2e-3)


def test_first_event_is_init_and_segments_start_on_keyframes() -> None:
    frames = av_frames(3, fps=30, gop=30)
    _seg, events = run(frames[5:])  # starts mid-GOP: everything before the keyframe is dropped
    assert isinstance(events[0], InitReady)
    first = next(e for e in events if isinstance(e, SegmentStarted))
    assert first.independent and first.timeline_start
    assert first.start == pytest.approx(1.0, abs=0.002)


def test_obs_default_keyframe_interval_makes_long_segments_within_target() -> None:
    seg, events = run(av_frames(30, fps=30, gop=250))
    segs = segments_of(events)
    assert seg.target_duration == math.ceil(250 / 30 * 1.1 + 0.1)
    for _started, _parts, ready in segs:
        assert ready.duration <= seg.target_duration
    check_part_rules(seg, events)
    assert seg.forced_cuts == 0


def test_late_keyframe_forces_a_cut_at_the_target_duration() -> None:
    seg, events = run(av_frames(30, fps=30, gop=[30, 30, 600]))
    assert seg.target_duration == 2
    segs = segments_of(events)
    assert all(ready.duration <= seg.target_duration + 1e-9 for _, _, ready in segs)
    assert seg.forced_cuts > 0
    assert any(not started.independent for started, _, _ in segs)
    check_part_rules(seg, events)


def test_irregular_gops_merge_into_segments_of_at_least_the_target() -> None:
    # The first (longest) GOP sets the target duration; shorter ones merge up to it.
    gops = [45, 7, 13, 30, 3, 27, 20, 10, 40, 45, 30, 30, 30, 30]
    seg, events = run(av_frames(sum(gops) / 30, fps=30, gop=gops))
    assert seg.forced_cuts == 0
    segs = segments_of(events)
    for started, _parts, ready in segs[:-1]:
        assert started.independent
        assert ready.duration >= 0.98
    check_part_rules(seg, events)


def test_audio_only_stream() -> None:
    seg, events = run(av_frames(5, video=False), tracks=(AUDIO,))
    assert seg.part_target == pytest.approx(9 * 1024 / 48000 + 0.005)
    segs = segments_of(events)
    assert len(segs) >= 4
    assert all(p.independent for _, parts, _ in segs for p in parts)
    check_part_rules(seg, events)


@pytest.mark.parametrize("kind", ["audio-only", "video-only"])
def test_a_frame_whose_decode_time_goes_back_is_dropped(kind: str) -> None:
    """A publisher looping a file resent a frame one step back: it is dropped, not packaged
    with a negative duration (which had made the fragment writer raise)."""
    track = AUDIO if kind == "audio-only" else VIDEO
    frames = av_frames(4, video=track is VIDEO, audio=track is AUDIO)
    i = len(frames) // 2
    late = frames[i - 1]
    back = Frame(late.track_id, late.dts - 1, late.pts - 1, False, late.data)
    seg, events = run([*frames[:i], back, *frames[i:]], tracks=(track,))
    assert seg.dropped_frames == 1
    segs = segments_of(events)
    assert len(segs) >= 3
    check_part_rules(seg, events)


def test_video_only_stream() -> None:
    seg, events = run(av_frames(5, audio=False), tracks=(VIDEO,))
    assert len(segments_of(events)) == 5
    check_part_rules(seg, events)


def test_b_frames_keep_cutting_on_decode_time() -> None:
    seg, events = run(av_frames(4, bframes=True))
    assert len(segments_of(events)) == 4
    check_part_rules(seg, events)


def test_discontinuity_starts_a_new_timeline_on_the_next_keyframe() -> None:
    seg = CmafSegmenter(part_target=0.2, segment_target=1.0)
    events = seg.set_tracks([VIDEO, AUDIO])
    for f in av_frames(2.5):
        events += seg.push(f)
    events += seg.discontinuity()
    for f in av_frames(2, start_ms=10_000)[3:]:  # starts without a keyframe
        events += seg.push(f)
    events += seg.flush()
    starts = [e for e in events if isinstance(e, SegmentStarted)]
    after = [s for s in starts if s.start >= 10]
    assert after[0].discontinuity and after[0].timeline_start and after[0].independent
    assert after[0].start == pytest.approx(11.0, abs=0.002)
    assert not any(s.discontinuity for s in starts if s is not after[0])
    msns = [s.msn for s in starts]
    assert msns == list(range(len(msns)))


def test_codec_change_writes_a_new_init_segment() -> None:
    seg = CmafSegmenter(part_target=0.2, segment_target=1.0)
    events = seg.set_tracks([VIDEO, AUDIO])
    for f in av_frames(2):
        events += seg.push(f)
    bigger = type(VIDEO)(**{**{k: getattr(VIDEO, k) for k in VIDEO.__slots__}, "width": 640})
    events += seg.set_tracks([bigger, AUDIO])
    for f in av_frames(2, start_ms=2000):
        events += seg.push(f)
    inits = [e for e in events if isinstance(e, InitReady)]
    assert [i.init_id for i in inits] == [0, 1]
    later = [e for e in events if isinstance(e, SegmentStarted) and e.init_id == 1]
    assert later[0].discontinuity


def test_parts_are_closed_on_their_last_frame_not_the_next_one() -> None:
    # Availability delay: a part must be ready when its last frame arrives.
    seg = CmafSegmenter(part_target=0.2, segment_target=1.0)
    seg.set_tracks([VIDEO])
    frames = av_frames(3, audio=False)
    ready_at: dict[tuple[int, int], int] = {}
    for i, f in enumerate(frames):
        for ev in seg.push(f):
            if isinstance(ev, PartReady):
                ready_at[(ev.msn, ev.index)] = i
    # After the first few (held while the frame rate is measured) parts close every 6 frames,
    # on frame 5, 11, 17... (0-based): their own last frame.
    closing = sorted(ready_at.values())
    assert all((i + 1) % 6 == 0 for i in closing[2:])
