"""The MPD writer on hand-made segments: timelines, gaps, periods, the open segment."""

from __future__ import annotations

from xml.etree import ElementTree

from golive.packager.dash_manifest import (
    DashPeriod,
    DashRepresentation,
    dash_manifest,
    frame_rate_text,
)
from golive.store.live_window import StoredPart, StoredSegment
from tests.support.synthetic import AUDIO, VIDEO

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
T0 = 1_700_000_000.0


def segment(msn: int, start: float, duration: float, *, complete: bool = True) -> StoredSegment:
    seg = StoredSegment(
        msn=msn,
        init_id=0,
        discontinuity=False,
        program_date_time=T0 + start,
        media_start=round(start * 90_000),
        media_duration=round(duration * 90_000) if complete else 0,
        timescale=90_000,
        complete=complete,
        duration=duration if complete else 0.0,
    )
    seg.parts.append(StoredPart(0, 0.2, True, b"x"))
    return seg


def render(segments: list[StoredSegment], **kw: object) -> ElementTree.Element:
    rep = DashRepresentation("source", VIDEO, segments, 1_000_000, 30.0, part_target=0.205)
    text = dash_manifest(
        periods=[DashPeriod("0", T0, 0.0)],
        video=[rep],
        audio=[],
        availability_start=T0,
        publish_time=T0 + 10,
        stream_token="0badc0de",
        segment_target=1.0,
        target_duration=2,
        window_seconds=10,
        **kw,  # type: ignore[arg-type]
    )
    assert text is not None
    return ElementTree.fromstring(text)


def timeline(root: ElementTree.Element) -> list[dict[str, str]]:
    return [dict(s.attrib) for s in root.iter(f"{{{NS['d']}}}S")]


def test_equal_segments_are_one_run_that_includes_the_open_one() -> None:
    segments = [segment(i, i * 1.0, 1.0) for i in range(4)]
    segments.append(segment(4, 4.0, 0.0, complete=False))
    root = render(segments)
    # The open segment is listed with its expected duration and never as @r="-1", which
    # dash.js resolves against its own live-edge estimate and so found a second late.
    assert timeline(root) == [{"t": "0", "d": "90000", "r": "4"}]
    template = root.find(".//d:SegmentTemplate", NS)
    assert template is not None
    assert template.get("availabilityTimeOffset") == "0.795"  # one part after it starts
    assert template.get("startNumber") == "0"


def test_a_gap_restarts_the_timeline_with_an_explicit_time() -> None:
    segments = [segment(0, 0.0, 1.0), segment(1, 1.0, 1.0), segment(2, 5.0, 2.0)]
    assert timeline(render(segments)) == [
        {"t": "0", "d": "90000", "r": "1"},
        {"t": str(5 * 90_000), "d": str(2 * 90_000)},
    ]


def test_irregular_segments_abut_exactly() -> None:
    segments = [segment(0, 0.0, 1.0), segment(1, 1.0, 1.5), segment(2, 2.5, 0.9)]
    entries = timeline(render(segments))
    assert [int(e["d"]) for e in entries] == [90_000, 135_000, 81_000]
    assert "t" not in entries[1] and "t" not in entries[2]


def test_audio_representation_and_no_low_latency() -> None:
    seg = segment(0, 0.0, 1.0)
    rep = DashRepresentation("audio", AUDIO, [seg], 128_000)
    text = dash_manifest(
        periods=[DashPeriod("0", T0, 0.0)],
        video=[],
        audio=[rep],
        availability_start=T0,
        publish_time=T0,
        stream_token="0badc0de",
        segment_target=1.0,
        target_duration=2,
        window_seconds=1,
        low_latency=False,
    )
    assert text is not None
    root = ElementTree.fromstring(text)
    assert root.find("d:ServiceDescription", NS) is None
    rep_el = root.find(".//d:Representation", NS)
    assert rep_el is not None and rep_el.get("audioSamplingRate") == "48000"
    assert root.find(".//d:AudioChannelConfiguration", NS) is not None
    template = root.find(".//d:SegmentTemplate", NS)
    assert template is not None and "availabilityTimeOffset" not in template.attrib


def test_frame_rates_are_whole_numbers_or_fractions() -> None:
    assert frame_rate_text(30.0) == "30"
    assert frame_rate_text(29.97) == "30000/1001"
    assert frame_rate_text(59.94) == "60000/1001"
    assert frame_rate_text(12.5) == "12500/1000"
