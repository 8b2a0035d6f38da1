"""Tests of the HLS conformance checker (tests/hls_conformance.py) itself.

Good playlists, hand-written in golive's style, must pass; each bad playlist breaks one rule
and must be reported under that rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import hls_conformance as hc
from tests.hls_conformance import (
    PlaylistParseError,
    Violation,
    assert_conformant,
    check_media_playlist,
    check_multivariant_playlist,
    parse_media_playlist,
    parse_multivariant_playlist,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def pdt(seconds: float) -> str:
    stamp = (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    return "#EXT-X-PROGRAM-DATE-TIME:" + stamp.replace("+00:00", "Z")


def golive_playlist(
    *,
    first: int = 100,
    last: int = 105,
    trailing: int = 2,
    parts_from: int | None = None,
    skipped: int = 0,
    endlist: bool = False,
    target: int = 2,
    part: float = 0.5,
) -> str:
    """A Media Playlist the way golive writes one: segments ``first``..``last`` complete,
    ``trailing`` parts of segment ``last + 1`` published, parts listed from ``parts_from``."""
    per_segment = round(target / part)
    if parts_from is None:
        parts_from = last - 2
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={6 * target:.1f},"
        f"PART-HOLD-BACK={3 * part:.3f},HOLD-BACK={3 * target:.1f}",
        f"#EXT-X-PART-INF:PART-TARGET={part:.5f}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
    ]
    if skipped:
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
    lines.append('#EXT-X-MAP:URI="init-0.mp4"')
    for msn in range(first + skipped, last + 1):
        lines.append(pdt(msn * target))
        if msn >= parts_from:
            for k in range(per_segment):
                independent = ",INDEPENDENT=YES" if k == 0 else ""
                lines.append(f'#EXT-X-PART:DURATION={part:.5f},URI="{msn}.{k}.m4s"{independent}')
        lines.append(f"#EXTINF:{target:.5f},")
        lines.append(f"{msn}.m4s")
    if trailing and not endlist:
        msn = last + 1
        lines.append(pdt(msn * target))
        for k in range(trailing):
            independent = ",INDEPENDENT=YES" if k == 0 else ""
            lines.append(f'#EXT-X-PART:DURATION={part:.5f},URI="{msn}.{k}.m4s"{independent}')
    if not endlist:
        nxt = (last + 1, trailing) if trailing else (last + 1, 0)
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{nxt[0]}.{nxt[1]}.m4s"')
    report = (last + 1, trailing - 1) if trailing and not endlist else (last, per_segment - 1)
    lines.append(
        f'#EXT-X-RENDITION-REPORT:URI="../720p/index.m3u8",LAST-MSN={report[0]},'
        f"LAST-PART={report[1]}"
    )
    if endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


GOOD_LL = golive_playlist()
LONG_LL = golive_playlist(first=100, last=109)  # 21 s: old segments lie past the Skip Boundary
DELTA_LL = golive_playlist(first=100, last=109, skipped=4)

GOOD_VOD = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init-3.mp4"
#EXTINF:4.000,
0.m4s
#EXTINF:3.960,
1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-4.mp4"
#EXTINF:2.5,
2.m4s
#EXT-X-ENDLIST
"""

GOOD_MULTIVARIANT = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=6200000,AVERAGE-BANDWIDTH=5100000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO="aac"
source/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1400000,CODECS="avc1.4d401e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO="aac"
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS="mp4a.40.2",AUDIO="aac"
audio/index.m3u8
"""


def rules(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


def edit(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, f"{old!r} not in playlist"
    return text.replace(old, new, count)


def drop_line(text: str, start: str) -> str:
    lines = text.split("\n")
    matching = [i for i, line in enumerate(lines) if line.startswith(start)]
    assert matching, f"no line starts with {start!r}"
    del lines[matching[0]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Good playlists pass


@pytest.mark.parametrize(
    ("name", "text", "kwargs"),
    [
        ("golive-ll", GOOD_LL, {}),
        ("golive-ll-long", LONG_LL, {}),
        ("golive-ll-no-trailing-parts", golive_playlist(trailing=0), {}),
        ("golive-ll-ended", golive_playlist(endlist=True), {}),
        ("golive-ll-first-playlist", golive_playlist(first=0, last=0, parts_from=0), {}),
        ("delta-update", DELTA_LL, {"request_query": {"_HLS_skip": "YES"}}),
        (
            "delta-update-vs-full",
            DELTA_LL,
            {"request_query": {"_HLS_skip": "YES"}, "previous": LONG_LL},
        ),
        ("skip-requested-nothing-to-skip", GOOD_LL, {"request_query": {"_HLS_skip": "YES"}}),
        ("blocking-part", GOOD_LL, {"request_query": {"_HLS_msn": "106", "_HLS_part": "1"}}),
        (
            "blocking-past-last-part",
            GOOD_LL,
            {"request_query": {"_HLS_msn": "105", "_HLS_part": "4"}},
        ),
        ("blocking-old-segment", GOOD_LL, {"request_query": {"_HLS_msn": "101"}}),
        (
            "blocking-ignored-after-endlist",
            golive_playlist(endlist=True),
            {"request_query": {"_HLS_msn": "999"}},
        ),
        ("reload-one-part-later", golive_playlist(trailing=3), {"previous": GOOD_LL}),
        ("reload-segment-completed", golive_playlist(trailing=0, last=106), {"previous": GOOD_LL}),
        ("reload-window-moved", golive_playlist(first=103, last=108), {"previous": GOOD_LL}),
        ("vod", GOOD_VOD, {}),
        ("vod-unchanged", GOOD_VOD, {"previous": GOOD_VOD}),
    ],
)
def test_good_media_playlists_pass(name: str, text: str, kwargs: dict[str, object]) -> None:
    assert_conformant(check_media_playlist(text, **kwargs))  # type: ignore[arg-type]


def test_draft_low_latency_example_passes_apart_from_golive_policy() -> None:
    # The Low-Latency example of the draft (section 9.11), with a header and map added.
    text = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:4
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=6.0001
#EXT-X-PART-INF:PART-TARGET=2.00004
#EXT-X-MEDIA-SEQUENCE:268
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:4.00008,
fileSequence268.mp4
#EXTINF:4.00008,
fileSequence269.mp4
#EXTINF:4.00008,
fileSequence270.mp4
#EXT-X-PART:DURATION=2.00004,INDEPENDENT=YES,URI="filePart271.0.mp4"
#EXT-X-PART:DURATION=2.00004,URI="filePart271.1.mp4"
#EXTINF:4.00008,
fileSequence271.mp4
#EXT-X-PART:DURATION=2.00004,INDEPENDENT=YES,URI="filePart272.0.mp4"
#EXT-X-PART:DURATION=0.50001,URI="filePart272.1.mp4"
#EXTINF:2.50005,
fileSequence272.mp4
#EXT-X-DISCONTINUITY
#EXT-X-PART:DURATION=2.00004,INDEPENDENT=YES,URI="midRoll273.0.mp4"
#EXT-X-PART:DURATION=2.00004,URI="midRoll273.1.mp4"
#EXTINF:4.00008,
midRoll273.mp4
#EXT-X-PART:DURATION=2.00004,INDEPENDENT=YES,URI="midRoll274.0.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="midRoll274.1.mp4"
#EXT-X-RENDITION-REPORT:URI="/1M/LL-HLS.m3u8",LAST-MSN=274,LAST-PART=1
"""
    # golive keeps every EXTINF within the Target Duration; the draft only bounds the
    # rounded value, which 4.00008 meets.
    assert rules(check_media_playlist(text)) == {hc.G_EXTINF}


def test_good_multivariant_passes() -> None:
    assert_conformant(check_multivariant_playlist(GOOD_MULTIVARIANT))


def test_program_date_time_may_jump_across_a_discontinuity() -> None:
    text = edit(GOOD_LL, pdt(104 * 2), "#EXT-X-DISCONTINUITY\n" + pdt(104 * 2 + 30))
    text = edit(text, pdt(105 * 2), pdt(105 * 2 + 30))
    text = edit(text, pdt(106 * 2), pdt(106 * 2 + 30))
    assert_conformant(check_media_playlist(text))


# ------------------------------------------------------------------------------------------
# One bad playlist per rule


@dataclass(frozen=True)
class Bad:
    id: str
    text: Callable[[], str]
    rule: str
    previous: str | None = None
    query: dict[str, str] | None = None


def _parts_of_old_segments() -> str:
    return golive_playlist(parts_from=100)


def _pdt_twice() -> str:
    return edit(GOOD_LL, pdt(104 * 2), pdt(104 * 2) + "\n" + pdt(104 * 2))


MEDIA_BAD: list[Bad] = [
    # 4.1, 4.2, 4.4.1.x: syntax
    Bad("no-extm3u", lambda: GOOD_LL.replace("#EXTM3U\n", "", 1), hc.R_EXTM3U),
    Bad("extm3u-not-first", lambda: "\n" + GOOD_LL, hc.R_EXTM3U),
    Bad("bom", lambda: "\ufeff" + GOOD_LL, hc.R_PLAYLIST),
    Bad("control-character", lambda: edit(GOOD_LL, "101.m4s", "101\x07.m4s"), hc.R_PLAYLIST),
    Bad("trailing-whitespace", lambda: edit(GOOD_LL, "101.m4s\n", "101.m4s \n"), hc.R_PLAYLIST),
    Bad("uri-with-space", lambda: edit(GOOD_LL, "101.m4s\n", "101 .m4s\n"), hc.R_PLAYLIST),
    Bad(
        "duplicate-attribute",
        lambda: edit(GOOD_LL, 'URI="104.1.m4s"', 'URI="104.1.m4s",URI="x.m4s"'),
        hc.R_ATTRIBUTES,
    ),
    Bad(
        "lowercase-attribute",
        lambda: edit(GOOD_LL, "CAN-BLOCK-RELOAD=YES", "can-block-reload=YES"),
        hc.R_ATTRIBUTES,
    ),
    Bad(
        "unterminated-quote",
        lambda: edit(GOOD_LL, 'URI="init-0.mp4"', 'URI="init-0.mp4'),
        hc.R_ATTRIBUTES,
    ),
    Bad("version-missing", lambda: drop_line(GOOD_LL, "#EXT-X-VERSION"), hc.R_VERSION),
    Bad(
        "version-twice",
        lambda: edit(GOOD_LL, "#EXT-X-VERSION:9", "#EXT-X-VERSION:9\n#EXT-X-VERSION:9"),
        hc.R_VERSION,
    ),
    Bad(
        "version-not-integer",
        lambda: edit(GOOD_LL, "#EXT-X-VERSION:9", "#EXT-X-VERSION:nine"),
        hc.R_VERSION,
    ),
    # 8: version floors
    Bad(
        "version-too-low-for-map",
        lambda: edit(GOOD_VOD, "#EXT-X-VERSION:6", "#EXT-X-VERSION:5"),
        hc.R_COMPAT,
    ),
    Bad(
        "version-too-low-for-float-extinf",
        lambda: edit(GOOD_VOD, "#EXT-X-VERSION:6", "#EXT-X-VERSION:2"),
        hc.R_COMPAT,
    ),
    Bad(
        "version-too-low-for-skip",
        lambda: edit(DELTA_LL, "#EXT-X-VERSION:9", "#EXT-X-VERSION:8"),
        hc.R_COMPAT,
        query={"_HLS_skip": "YES"},
    ),
    Bad(
        "version-too-low-for-ll",
        lambda: edit(GOOD_LL, "#EXT-X-VERSION:9", "#EXT-X-VERSION:7"),
        hc.G_VERSION,
    ),
    # 4.4.2, 4.4.3: tags that appear at most once
    Bad(
        "independent-segments-twice",
        lambda: edit(
            GOOD_VOD,
            "#EXT-X-INDEPENDENT-SEGMENTS",
            "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-INDEPENDENT-SEGMENTS",
        ),
        hc.R_ONCE,
    ),
    Bad(
        "targetduration-twice",
        lambda: edit(
            GOOD_LL, "#EXT-X-TARGETDURATION:2", "#EXT-X-TARGETDURATION:2\n#EXT-X-TARGETDURATION:2"
        ),
        hc.R_MEDIA_TAGS,
    ),
    # 4.4.3.1
    Bad(
        "targetduration-missing",
        lambda: drop_line(GOOD_LL, "#EXT-X-TARGETDURATION"),
        hc.R_TARGETDURATION,
    ),
    Bad(
        "targetduration-zero",
        lambda: edit(GOOD_VOD, "#EXT-X-TARGETDURATION:4", "#EXT-X-TARGETDURATION:0"),
        hc.R_TARGETDURATION,
    ),
    Bad(
        "extinf-rounds-above-target",
        lambda: edit(GOOD_VOD, "#EXTINF:3.960,", "#EXTINF:4.5,"),
        hc.R_TARGETDURATION,
    ),
    Bad(
        "extinf-above-target", lambda: edit(GOOD_VOD, "#EXTINF:3.960,", "#EXTINF:4.4,"), hc.G_EXTINF
    ),
    # 4.4.3.2, 4.4.3.3
    Bad(
        "media-sequence-after-first-segment",
        lambda: edit(
            drop_line(GOOD_VOD, "#EXT-X-PLAYLIST-TYPE"),
            "1.m4s\n",
            "1.m4s\n#EXT-X-MEDIA-SEQUENCE:7\n",
        ),
        hc.R_MEDIA_SEQUENCE,
    ),
    Bad(
        "media-sequence-negative",
        lambda: edit(GOOD_LL, "#EXT-X-MEDIA-SEQUENCE:100", "#EXT-X-MEDIA-SEQUENCE:-1"),
        hc.R_MEDIA_SEQUENCE,
    ),
    Bad(
        "discontinuity-sequence-after-first-segment",
        lambda: edit(
            drop_line(GOOD_LL, "#EXT-X-DISCONTINUITY-SEQUENCE"),
            "100.m4s\n",
            "100.m4s\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n",
        ),
        hc.R_DISCONTINUITY_SEQUENCE,
    ),
    Bad(
        "discontinuity-sequence-after-discontinuity",
        lambda: edit(
            GOOD_VOD,
            "#EXT-X-DISCONTINUITY\n",
            "#EXT-X-DISCONTINUITY\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n",
        ),
        hc.R_DISCONTINUITY_SEQUENCE,
    ),
    Bad(
        "discontinuity-sequence-negative",
        lambda: edit(
            GOOD_LL, "#EXT-X-DISCONTINUITY-SEQUENCE:0", "#EXT-X-DISCONTINUITY-SEQUENCE:-3"
        ),
        hc.R_DISCONTINUITY_SEQUENCE,
    ),
    # 4.4.3.5
    Bad(
        "playlist-type-bad",
        lambda: edit(GOOD_VOD, "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:LIVE"),
        hc.R_PLAYLIST_TYPE,
    ),
    # 4.4.4.1
    Bad("uri-without-extinf", lambda: edit(GOOD_VOD, "#EXTINF:3.960,\n", ""), hc.R_EXTINF),
    Bad(
        "extinf-without-uri",
        lambda: edit(GOOD_VOD, "#EXT-X-ENDLIST", "#EXTINF:1.0,\n#EXT-X-ENDLIST"),
        hc.R_EXTINF,
    ),
    Bad(
        "extinf-without-comma",
        lambda: edit(GOOD_VOD, "#EXTINF:3.960,", "#EXTINF:3.960"),
        hc.R_EXTINF,
    ),
    Bad(
        "extinf-not-a-number",
        lambda: edit(GOOD_VOD, "#EXTINF:3.960,", "#EXTINF:3.96s,"),
        hc.R_EXTINF,
    ),
    # 4.4.4.2
    Bad(
        "byterange-without-offset-first",
        lambda: edit(GOOD_VOD, "#EXTINF:4.000,", "#EXT-X-BYTERANGE:1000\n#EXTINF:4.000,"),
        hc.R_BYTERANGE,
    ),
    # 4.4.4.4
    Bad(
        "key-without-method",
        lambda: edit(
            GOOD_VOD,
            "#EXT-X-INDEPENDENT-SEGMENTS",
            '#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-KEY:URI="k"',
        ),
        hc.R_KEY,
    ),
    # 4.4.4.5, 3.1.2
    Bad("map-missing", lambda: drop_line(GOOD_LL, "#EXT-X-MAP"), hc.R_FMP4),
    Bad(
        "map-after-first-segment",
        lambda: edit(
            drop_line(GOOD_VOD, "#EXT-X-MAP"), "0.m4s\n", '0.m4s\n#EXT-X-MAP:URI="init-3.mp4"\n'
        ),
        hc.R_FMP4,
    ),
    Bad(
        "map-without-uri",
        lambda: edit(GOOD_LL, '#EXT-X-MAP:URI="init-0.mp4"', '#EXT-X-MAP:BYTERANGE="700@0"'),
        hc.R_MAP,
    ),
    Bad("map-uri-empty", lambda: edit(GOOD_LL, 'URI="init-0.mp4"', 'URI=""'), hc.R_MAP),
    Bad(
        "map-byterange-without-offset",
        lambda: edit(GOOD_LL, 'URI="init-0.mp4"', 'URI="init-0.mp4",BYTERANGE="700"'),
        hc.R_MAP,
    ),
    # 4.4.4.6, 6.2.1
    Bad(
        "pdt-not-a-date",
        lambda: edit(GOOD_LL, pdt(202), "#EXT-X-PROGRAM-DATE-TIME:yesterday"),
        hc.R_PDT,
    ),
    Bad(
        "pdt-invalid-date",
        lambda: edit(GOOD_LL, pdt(202), "#EXT-X-PROGRAM-DATE-TIME:2026-02-30T12:03:22.000Z"),
        hc.R_PDT,
    ),
    Bad(
        "pdt-without-time-zone",
        lambda: edit(GOOD_LL, pdt(202), pdt(202).removesuffix("Z")),
        hc.R_PDT,
    ),
    Bad(
        "pdt-without-milliseconds",
        lambda: edit(GOOD_LL, pdt(202), pdt(202).replace(".000", "")),
        hc.R_PDT,
    ),
    Bad("pdt-twice-for-one-segment", _pdt_twice, hc.R_PDT),
    Bad("pdt-decreasing", lambda: edit(GOOD_LL, pdt(204), pdt(190)), hc.R_SERVER),
    Bad(
        "pdt-large-overlap",
        lambda: edit(
            edit(GOOD_LL, pdt(204), "#EXT-X-DISCONTINUITY\n" + pdt(201)),
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        ),
        hc.R_SERVER,
    ),
    Bad("pdt-inconsistent-with-extinf", lambda: edit(GOOD_LL, pdt(204), pdt(204.5)), hc.G_PDT),
    # 4.4.3.7, 4.4.4.9, 3.2
    Bad("part-inf-missing", lambda: drop_line(GOOD_LL, "#EXT-X-PART-INF"), hc.R_PART_INF),
    Bad(
        "part-target-missing",
        lambda: edit(GOOD_LL, "#EXT-X-PART-INF:PART-TARGET=0.50000", "#EXT-X-PART-INF:TARGET=0.5"),
        hc.R_PART_INF,
    ),
    Bad(
        "part-longer-than-target",
        lambda: edit(
            GOOD_LL, 'DURATION=0.50000,URI="104.1.m4s"', 'DURATION=0.51000,URI="104.1.m4s"'
        ),
        hc.R_PART,
    ),
    Bad(
        "part-shorter-than-85-percent",
        lambda: edit(
            GOOD_LL, 'DURATION=0.50000,URI="104.1.m4s"', 'DURATION=0.40000,URI="104.1.m4s"'
        ),
        hc.R_PART,
    ),
    Bad(
        "part-uri-missing",
        lambda: edit(GOOD_LL, 'DURATION=0.50000,URI="104.1.m4s"', "DURATION=0.50000"),
        hc.R_PART,
    ),
    Bad("part-uri-empty", lambda: edit(GOOD_LL, 'URI="104.1.m4s"', 'URI=""'), hc.R_PART),
    Bad(
        "part-duration-missing",
        lambda: edit(GOOD_LL, 'DURATION=0.50000,URI="104.1.m4s"', 'URI="104.1.m4s"'),
        hc.R_PART,
    ),
    Bad(
        "part-independent-bad-value",
        lambda: edit(
            GOOD_LL, 'URI="104.0.m4s",INDEPENDENT=YES', 'URI="104.0.m4s",INDEPENDENT=TRUE'
        ),
        hc.R_PART,
    ),
    Bad(
        "pdt-after-first-part",
        lambda: edit(
            edit(GOOD_LL, pdt(208) + "\n", ""),
            'URI="104.0.m4s",INDEPENDENT=YES\n',
            'URI="104.0.m4s",INDEPENDENT=YES\n' + pdt(208) + "\n",
        ),
        hc.R_PART,
    ),
    Bad(
        "part-between-extinf-and-uri",
        lambda: edit(
            GOOD_LL,
            "#EXTINF:2.00000,\n105.m4s",
            '#EXTINF:2.00000,\n#EXT-X-PART:DURATION=0.5,URI="x.m4s"\n105.m4s',
        ),
        hc.R_PART,
    ),
    Bad(
        "parts-do-not-add-up",
        lambda: edit(
            GOOD_LL, 'DURATION=0.50000,URI="104.3.m4s"', 'DURATION=0.45000,URI="104.3.m4s"'
        ),
        hc.R_PARTIAL_SEGMENTS,
    ),
    # 6.2.2
    Bad("parts-kept-too-long", _parts_of_old_segments, hc.R_LIVE),
    Bad(
        "parts-removed-out-of-order",
        lambda: golive_playlist(parts_from=103).replace(
            '#EXT-X-PART:DURATION=0.50000,URI="104.', "#X-REMOVED:", 4
        ),
        hc.R_LIVE,
    ),
    # 4.4.3.8
    Bad(
        "part-hold-back-missing",
        lambda: edit(GOOD_LL, ",PART-HOLD-BACK=1.500", ""),
        hc.R_SERVER_CONTROL,
    ),
    Bad(
        "part-hold-back-too-small",
        lambda: edit(GOOD_LL, "PART-HOLD-BACK=1.500", "PART-HOLD-BACK=0.900"),
        hc.R_SERVER_CONTROL,
    ),
    Bad(
        "hold-back-too-small",
        lambda: edit(GOOD_LL, "HOLD-BACK=6.0", "HOLD-BACK=5.0"),
        hc.R_SERVER_CONTROL,
    ),
    Bad(
        "can-skip-until-too-small",
        lambda: edit(GOOD_LL, "CAN-SKIP-UNTIL=12.0", "CAN-SKIP-UNTIL=11.9"),
        hc.R_SERVER_CONTROL,
    ),
    Bad(
        "can-skip-dateranges-alone",
        lambda: edit(GOOD_LL, "CAN-SKIP-UNTIL=12.0", "CAN-SKIP-DATERANGES=YES"),
        hc.R_SERVER_CONTROL,
    ),
    Bad(
        "server-control-missing",
        lambda: drop_line(GOOD_LL, "#EXT-X-SERVER-CONTROL"),
        hc.R_SERVER_CONTROL,
    ),
    Bad(
        "server-control-bad-number",
        lambda: edit(GOOD_LL, "HOLD-BACK=6.0", "HOLD-BACK=6s"),
        hc.R_SERVER_CONTROL,
    ),
    Bad("no-blocking-reload", lambda: edit(GOOD_LL, "CAN-BLOCK-RELOAD=YES,", ""), hc.G_BLOCK),
    # 4.4.5.3, 6.2.6, B.1
    Bad(
        "hint-with-endlist",
        lambda: golive_playlist(endlist=True).replace(
            "#EXT-X-ENDLIST", '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.0.m4s"\n#EXT-X-ENDLIST'
        ),
        hc.R_PRELOAD_HINT,
    ),
    Bad(
        "hint-before-last-part",
        lambda: edit(
            drop_line(GOOD_LL, "#EXT-X-PRELOAD-HINT"),
            '#EXT-X-PART:DURATION=0.50000,URI="106.1.m4s"',
            '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.2.m4s"\n'
            '#EXT-X-PART:DURATION=0.50000,URI="106.1.m4s"',
        ),
        hc.R_PRELOAD_HINT,
    ),
    Bad(
        "hint-without-uri",
        lambda: edit(
            GOOD_LL,
            '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.2.m4s"',
            "#EXT-X-PRELOAD-HINT:TYPE=PART",
        ),
        hc.R_PRELOAD_HINT,
    ),
    Bad(
        "hint-without-type",
        lambda: edit(
            GOOD_LL,
            '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.2.m4s"',
            '#EXT-X-PRELOAD-HINT:URI="106.2.m4s"',
        ),
        hc.R_PRELOAD_HINT,
    ),
    Bad(
        "hint-unknown-type",
        lambda: edit(GOOD_LL, "#EXT-X-PRELOAD-HINT:TYPE=PART", "#EXT-X-PRELOAD-HINT:TYPE=SEGMENT"),
        hc.R_PRELOAD_HINT,
    ),
    Bad(
        "hint-names-a-listed-part",
        lambda: edit(
            GOOD_LL,
            '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.2.m4s"',
            '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.1.m4s"',
        ),
        hc.R_PRELOAD_HINT,
    ),
    Bad(
        "two-part-hints",
        lambda: edit(
            GOOD_LL,
            '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.2.m4s"',
            '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.2.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="106.3.m4s"',
        ),
        hc.R_PRELOAD,
    ),
    Bad("no-hint-in-live-ll", lambda: drop_line(GOOD_LL, "#EXT-X-PRELOAD-HINT"), hc.R_LL_PROFILE),
    Bad(
        "no-pdt-in-ll",
        lambda: "\n".join(
            ln for ln in GOOD_LL.split("\n") if not ln.startswith("#EXT-X-PROGRAM-DATE-TIME")
        ),
        hc.R_LL_PROFILE,
    ),
    Bad(
        "segment-without-independent-part",
        lambda: edit(GOOD_LL, 'URI="104.0.m4s",INDEPENDENT=YES', 'URI="104.0.m4s"'),
        hc.R_LL_PROFILE,
    ),
    # 4.4.5.4
    Bad(
        "report-absolute-uri",
        lambda: edit(
            GOOD_LL, 'URI="../720p/index.m3u8"', 'URI="https://cdn.example/720p/index.m3u8"'
        ),
        hc.R_RENDITION_REPORT,
    ),
    Bad(
        "report-without-uri",
        lambda: edit(GOOD_LL, 'URI="../720p/index.m3u8",', ""),
        hc.R_RENDITION_REPORT,
    ),
    Bad("report-without-last-msn", lambda: edit(GOOD_LL, "LAST-MSN=106,", ""), hc.G_REPORT),
    Bad("report-without-last-part", lambda: edit(GOOD_LL, ",LAST-PART=1", ""), hc.G_REPORT),
    # 4.4.5.2, 6.2.5.1
    Bad("skip-not-requested", lambda: DELTA_LL, hc.R_DELTA),
    Bad(
        "skip-without-can-skip-until",
        lambda: edit(DELTA_LL, "CAN-SKIP-UNTIL=12.0,", ""),
        hc.R_DELTA,
        query={"_HLS_skip": "YES"},
    ),
    Bad(
        "skip-twice",
        lambda: edit(
            DELTA_LL,
            "#EXT-X-SKIP:SKIPPED-SEGMENTS=4",
            "#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n#EXT-X-SKIP:SKIPPED-SEGMENTS=4",
        ),
        hc.R_SKIP,
        query={"_HLS_skip": "YES"},
    ),
    Bad(
        "skip-count-missing",
        lambda: edit(DELTA_LL, "SKIPPED-SEGMENTS=4", "SKIPPED=4"),
        hc.R_SKIP,
        query={"_HLS_skip": "YES"},
    ),
    Bad(
        "skip-after-segments",
        lambda: edit(
            edit(DELTA_LL, "#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n", ""),
            "104.m4s\n",
            "104.m4s\n#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n",
        ),
        hc.R_SKIP,
        query={"_HLS_skip": "YES"},
    ),
    Bad(
        "skip-v2-without-removed-dateranges",
        lambda: edit(
            DELTA_LL, "CAN-SKIP-UNTIL=12.0", "CAN-SKIP-UNTIL=12.0,CAN-SKIP-DATERANGES=YES"
        ),
        hc.R_SKIP,
        query={"_HLS_skip": "v2"},
    ),
    Bad("skip-requested-not-delivered", lambda: LONG_LL, hc.R_DELTA, query={"_HLS_skip": "YES"}),
    Bad(
        "skipped-too-few",
        lambda: golive_playlist(first=100, last=109, skipped=1),
        hc.R_DELTA,
        query={"_HLS_skip": "YES"},
    ),
    Bad(
        "skipped-too-many",
        lambda: golive_playlist(first=100, last=109, skipped=8),
        hc.R_DELTA,
        query={"_HLS_skip": "YES"},
    ),
    Bad(
        "skipped-count-inconsistent",
        lambda: golive_playlist(first=100, last=109, skipped=4).replace(
            "SKIPPED-SEGMENTS=4", "SKIPPED-SEGMENTS=5"
        ),
        hc.G_NAMING,
        query={"_HLS_skip": "YES"},
    ),
    # 6.2.5.2
    Bad("blocking-part-without-msn", lambda: GOOD_LL, hc.R_BLOCKING, query={"_HLS_part": "2"}),
    Bad("blocking-msn-not-reached", lambda: GOOD_LL, hc.R_BLOCKING, query={"_HLS_msn": "106"}),
    Bad(
        "blocking-part-not-reached",
        lambda: GOOD_LL,
        hc.R_BLOCKING,
        query={"_HLS_msn": "106", "_HLS_part": "2"},
    ),
    Bad(
        "blocking-next-segment-not-reached",
        lambda: golive_playlist(trailing=0),
        hc.R_BLOCKING,
        query={"_HLS_msn": "105", "_HLS_part": "4"},
    ),
    # golive conventions
    Bad(
        "endlist-not-last",
        lambda: edit(
            golive_playlist(endlist=True, last=104),
            "#EXT-X-ENDLIST",
            "#EXT-X-ENDLIST\n#EXT-X-PROGRAM-DATE-TIME:2026-03-01T12:03:30.000Z\n#EXTINF:2.0,\n105.m4s",
        ),
        hc.G_ENDLIST,
    ),
    Bad("segment-name-wrong-msn", lambda: edit(GOOD_LL, "\n101.m4s\n", "\n107.m4s\n"), hc.G_NAMING),
    Bad(
        "part-name-wrong-index",
        lambda: edit(GOOD_LL, 'URI="104.1.m4s"', 'URI="104.2.m4s"'),
        hc.G_NAMING,
    ),
    Bad(
        "hint-names-wrong-part",
        lambda: edit(GOOD_LL, 'TYPE=PART,URI="106.2.m4s"', 'TYPE=PART,URI="106.3.m4s"'),
        hc.G_NAMING,
    ),
    # 4.4.6: Multivariant Playlist tags in a Media Playlist
    Bad(
        "stream-inf-in-media-playlist",
        lambda: edit(GOOD_LL, "#EXT-X-MAP", "#EXT-X-STREAM-INF:BANDWIDTH=1\nx.m3u8\n#EXT-X-MAP"),
        hc.R_MULTIVARIANT_TAGS,
    ),
    # Against the previous version of the playlist (6.2.1, 6.2.2)
    Bad(
        "media-sequence-decreased", lambda: GOOD_LL, hc.R_LIVE, previous=golive_playlist(first=101)
    ),
    Bad(
        "discontinuity-sequence-decreased",
        lambda: GOOD_LL,
        hc.R_LIVE,
        previous=edit(GOOD_LL, "SEQUENCE:0", "SEQUENCE:1"),
    ),
    Bad(
        "target-duration-changed",
        lambda: edit(GOOD_LL, "#EXT-X-TARGETDURATION:2", "#EXT-X-TARGETDURATION:3"),
        hc.R_SERVER,
        previous=GOOD_LL,
    ),
    Bad(
        "segment-uri-changed",
        lambda: edit(
            GOOD_LL,
            'init-0.mp4"',
            'init-0.mp4"\n#X',
        ).replace("\n100.m4s\n", "\n100.m4s?v=2\n"),
        hc.R_SERVER,
        previous=GOOD_LL,
    ),
    Bad(
        "segment-duration-changed",
        lambda: edit(GOOD_LL, "#EXTINF:2.00000,\n101.m4s", "#EXTINF:1.90000,\n101.m4s"),
        hc.R_SERVER,
        previous=GOOD_LL,
    ),
    Bad(
        "segment-pdt-changed",
        lambda: edit(GOOD_LL, pdt(202), pdt(202.1)),
        hc.R_SERVER,
        previous=GOOD_LL,
    ),
    Bad(
        "segment-map-changed",
        lambda: edit(GOOD_LL, "init-0.mp4", "init-1.mp4"),
        hc.R_SERVER,
        previous=GOOD_LL,
    ),
    Bad(
        "discontinuity-number-changed",
        lambda: edit(GOOD_LL, pdt(206), "#EXT-X-DISCONTINUITY\n" + pdt(206)),
        hc.R_LIVE,
        previous=GOOD_LL,
    ),
    Bad(
        "part-changed",
        lambda: edit(golive_playlist(trailing=3), 'URI="106.1.m4s"', 'URI="106.1.m4s?v=2"'),
        hc.R_SERVER,
        previous=GOOD_LL,
    ),
    Bad(
        "parts-dropped-from-the-end",
        lambda: golive_playlist(trailing=1),
        hc.R_LIVE,
        previous=GOOD_LL,
    ),
    Bad(
        "segments-lost-at-the-end",
        lambda: golive_playlist(last=104, trailing=0),
        hc.R_SERVER,
        previous=GOOD_LL,
    ),
    Bad("endlist-removed", lambda: GOOD_LL, hc.R_SERVER, previous=golive_playlist(endlist=True)),
    Bad(
        "segments-after-endlist",
        lambda: golive_playlist(last=106, endlist=True),
        f"{hc.DRAFT} 4.4.3.4 EXT-X-ENDLIST",
        previous=golive_playlist(endlist=True),
    ),
    Bad(
        "window-below-three-target-durations",
        lambda: golive_playlist(first=104, last=105),
        hc.R_LIVE,
        previous=GOOD_LL,
    ),
    Bad(
        "event-playlist-lost-segments",
        lambda: edit(
            drop_line(GOOD_VOD, "#EXT-X-ENDLIST"),
            "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS",
            "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-MEDIA-SEQUENCE:1",
        ).replace("#EXTINF:4.000,\n0.m4s\n", ""),
        hc.R_PLAYLIST_TYPE,
        previous=edit(
            drop_line(GOOD_VOD, "#EXT-X-ENDLIST"),
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-PLAYLIST-TYPE:EVENT",
        ),
    ),
    Bad(
        "vod-playlist-changed",
        lambda: edit(GOOD_VOD, "#EXTINF:2.5,", "#EXTINF:2.6,"),
        hc.R_PLAYLIST_TYPE,
        previous=GOOD_VOD,
    ),
]


@pytest.mark.parametrize("case", MEDIA_BAD, ids=[c.id for c in MEDIA_BAD])
def test_bad_media_playlist_is_reported_under_its_rule(case: Bad) -> None:
    violations = check_media_playlist(case.text(), previous=case.previous, request_query=case.query)
    assert case.rule in rules(violations), "\n".join(str(v) for v in violations) or "no violation"


def test_every_media_rule_has_a_failing_case() -> None:
    covered = {c.rule for c in MEDIA_BAD}
    media_rules = {
        value
        for name, value in vars(hc).items()
        if (name.startswith(("R_", "G_")))
        and value
        not in {
            hc.R_MEDIA,
            hc.R_RENDITION_GROUPS,
            hc.R_STREAM_INF,
            hc.R_I_FRAME_STREAM_INF,
            hc.G_STREAM_INF,
            hc.R_DATERANGE,
        }
    }
    assert media_rules - covered == set()


MULTIVARIANT_BAD: list[Bad] = [
    Bad("no-extm3u", lambda: GOOD_MULTIVARIANT.replace("#EXTM3U\n", "", 1), hc.R_EXTM3U),
    Bad(
        "bandwidth-missing",
        lambda: edit(GOOD_MULTIVARIANT, "BANDWIDTH=1400000,", ""),
        hc.R_STREAM_INF,
    ),
    Bad(
        "bandwidth-zero",
        lambda: edit(GOOD_MULTIVARIANT, "BANDWIDTH=1400000", "BANDWIDTH=0"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "bandwidth-not-integer",
        lambda: edit(GOOD_MULTIVARIANT, "BANDWIDTH=1400000", "BANDWIDTH=1.4e6"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "average-bandwidth-quoted",
        lambda: edit(GOOD_MULTIVARIANT, "AVERAGE-BANDWIDTH=5100000", 'AVERAGE-BANDWIDTH="5100000"'),
        hc.R_STREAM_INF,
    ),
    Bad(
        "codecs-missing",
        lambda: edit(GOOD_MULTIVARIANT, 'CODECS="avc1.4d401e,mp4a.40.2",', ""),
        hc.G_STREAM_INF,
    ),
    Bad(
        "codecs-not-rfc6381",
        lambda: edit(GOOD_MULTIVARIANT, "avc1.4d401e", "h264 main"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "codecs-unquoted",
        lambda: edit(GOOD_MULTIVARIANT, 'CODECS="mp4a.40.2"', "CODECS=mp4a.40.2"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "resolution-malformed",
        lambda: edit(GOOD_MULTIVARIANT, "RESOLUTION=640x360", "RESOLUTION=640*360"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "resolution-zero",
        lambda: edit(GOOD_MULTIVARIANT, "RESOLUTION=640x360", "RESOLUTION=0x360"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "resolution-missing-for-video",
        lambda: edit(GOOD_MULTIVARIANT, "RESOLUTION=640x360,", ""),
        hc.G_STREAM_INF,
    ),
    Bad(
        "frame-rate-not-decimal",
        lambda: edit(GOOD_MULTIVARIANT, "FRAME-RATE=30.000", "FRAME-RATE=30fps"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "frame-rate-not-rounded",
        lambda: edit(GOOD_MULTIVARIANT, "FRAME-RATE=29.970", "FRAME-RATE=29.97003"),
        hc.R_STREAM_INF,
    ),
    Bad(
        "uri-line-missing",
        lambda: edit(GOOD_MULTIVARIANT, "360p/index.m3u8\n", ""),
        hc.R_STREAM_INF,
    ),
    Bad(
        "uri-line-missing-at-end",
        lambda: edit(GOOD_MULTIVARIANT, "audio/index.m3u8\n", "", count=2).replace(
            'CHANNELS="2",', 'CHANNELS="2",URI="audio/index.m3u8",', 1
        ),
        hc.R_STREAM_INF,
    ),
    Bad(
        "uri-without-stream-inf", lambda: GOOD_MULTIVARIANT + "extra/index.m3u8\n", hc.R_STREAM_INF
    ),
    Bad(
        "no-variants",
        lambda: "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        hc.R_STREAM_INF,
    ),
    Bad(
        "audio-group-undefined",
        lambda: edit(
            GOOD_MULTIVARIANT, 'FRAME-RATE=30.000,AUDIO="aac"', 'FRAME-RATE=30.000,AUDIO="ac3"'
        ),
        hc.R_STREAM_INF,
    ),
    Bad(
        "video-group-undefined",
        lambda: edit(GOOD_MULTIVARIANT, 'AUDIO="aac"\nsource', 'AUDIO="aac",VIDEO="cams"\nsource'),
        hc.R_STREAM_INF,
    ),
    Bad(
        "captions-group-undefined",
        lambda: edit(
            GOOD_MULTIVARIANT, 'AUDIO="aac"\nsource', 'AUDIO="aac",CLOSED-CAPTIONS="cc"\nsource'
        ),
        hc.R_STREAM_INF,
    ),
    Bad(
        "captions-none-on-some",
        lambda: edit(
            GOOD_MULTIVARIANT, 'AUDIO="aac"\nsource', 'AUDIO="aac",CLOSED-CAPTIONS=NONE\nsource'
        ),
        hc.R_STREAM_INF,
    ),
    Bad(
        "media-segment-tag",
        lambda: GOOD_MULTIVARIANT + "#EXTINF:2.0,\n0.m4s\n",
        hc.R_MULTIVARIANT_TAGS,
    ),
    Bad(
        "media-playlist-tag",
        lambda: edit(
            GOOD_MULTIVARIANT, "#EXT-X-VERSION:9", "#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2"
        ),
        hc.R_MULTIVARIANT_TAGS,
    ),
    Bad("media-without-name", lambda: edit(GOOD_MULTIVARIANT, 'NAME="English",', ""), hc.R_MEDIA),
    Bad("media-without-group", lambda: edit(GOOD_MULTIVARIANT, 'GROUP-ID="aac",', ""), hc.R_MEDIA),
    Bad("media-bad-type", lambda: edit(GOOD_MULTIVARIANT, "TYPE=AUDIO", "TYPE=SOUND"), hc.R_MEDIA),
    Bad(
        "media-default-not-autoselect",
        lambda: edit(GOOD_MULTIVARIANT, "AUTOSELECT=YES", "AUTOSELECT=NO"),
        hc.R_MEDIA,
    ),
    Bad(
        "captions-with-uri",
        lambda: edit(
            GOOD_MULTIVARIANT,
            "#EXT-X-STREAM-INF",
            '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC",INSTREAM-ID="CC1",URI="cc.m3u8"\n#EXT-X-STREAM-INF',
        ),
        hc.R_MEDIA,
    ),
    Bad(
        "captions-without-instream-id",
        lambda: edit(
            GOOD_MULTIVARIANT,
            "#EXT-X-STREAM-INF",
            '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC"\n#EXT-X-STREAM-INF',
        ),
        hc.R_MEDIA,
    ),
    Bad(
        "subtitles-without-uri",
        lambda: edit(
            GOOD_MULTIVARIANT,
            "#EXT-X-STREAM-INF",
            '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English"\n#EXT-X-STREAM-INF',
        ),
        hc.R_MEDIA,
    ),
    Bad(
        "channels-on-video",
        lambda: edit(
            GOOD_MULTIVARIANT,
            "#EXT-X-STREAM-INF",
            '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="v",NAME="Main",CHANNELS="2"\n#EXT-X-STREAM-INF',
        ),
        hc.R_MEDIA,
    ),
    Bad(
        "group-duplicate-name",
        lambda: edit(
            GOOD_MULTIVARIANT,
            "#EXT-X-STREAM-INF",
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",URI="b.m3u8"\n#EXT-X-STREAM-INF',
            1,
        ),
        hc.R_RENDITION_GROUPS,
    ),
    Bad(
        "group-two-defaults",
        lambda: edit(
            GOOD_MULTIVARIANT,
            "#EXT-X-STREAM-INF",
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="Deutsch",DEFAULT=YES,AUTOSELECT=YES,URI="de.m3u8"\n#EXT-X-STREAM-INF',
            1,
        ),
        hc.R_RENDITION_GROUPS,
    ),
    Bad(
        "i-frame-without-uri",
        lambda: GOOD_MULTIVARIANT + "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000\n",
        hc.R_I_FRAME_STREAM_INF,
    ),
    Bad(
        "version-twice",
        lambda: edit(GOOD_MULTIVARIANT, "#EXT-X-VERSION:9", "#EXT-X-VERSION:9\n#EXT-X-VERSION:9"),
        hc.R_VERSION,
    ),
    Bad(
        "independent-segments-twice",
        lambda: edit(
            GOOD_MULTIVARIANT,
            "#EXT-X-INDEPENDENT-SEGMENTS",
            "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-INDEPENDENT-SEGMENTS",
        ),
        hc.R_ONCE,
    ),
    Bad(
        "version-too-low-for-service-captions",
        lambda: edit(
            edit(GOOD_MULTIVARIANT, "#EXT-X-VERSION:9", "#EXT-X-VERSION:6"),
            "#EXT-X-STREAM-INF",
            '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC",INSTREAM-ID="SERVICE3"\n#EXT-X-STREAM-INF',
            1,
        ),
        hc.R_COMPAT,
    ),
    Bad(
        "attribute-syntax",
        lambda: edit(GOOD_MULTIVARIANT, "BANDWIDTH=140000,", "BANDWIDTH = 140000,"),
        hc.R_ATTRIBUTES,
    ),
]


@pytest.mark.parametrize("case", MULTIVARIANT_BAD, ids=[c.id for c in MULTIVARIANT_BAD])
def test_bad_multivariant_playlist_is_reported_under_its_rule(case: Bad) -> None:
    violations = check_multivariant_playlist(case.text())
    assert case.rule in rules(violations), "\n".join(str(v) for v in violations) or "no violation"


# ------------------------------------------------------------------------------------------
# The parser


def test_parse_media_playlist_reads_every_part_of_a_golive_playlist() -> None:
    text = edit(GOOD_LL, 'URI="104.2.m4s"', 'URI="104.2.m4s",BYTERANGE="800@0"')
    pl = parse_media_playlist(text)
    assert pl.version == 9
    assert pl.target_duration == 2
    assert (pl.media_sequence, pl.discontinuity_sequence) == (100, 0)
    assert not pl.endlist
    assert pl.part_inf is not None and pl.part_inf.part_target == 0.5
    sc = pl.server_control
    assert sc is not None
    assert (sc.can_block_reload, sc.can_skip_until, sc.hold_back, sc.part_hold_back) == (
        True,
        12.0,
        6.0,
        1.5,
    )
    assert [s.msn for s in pl.segments] == [100, 101, 102, 103, 104, 105]
    assert [s.uri for s in pl.segments][:2] == ["100.m4s", "101.m4s"]
    assert all(s.duration == 2.0 and s.map_uri == "init-0.mp4" for s in pl.segments)
    assert pl.segments[0].program_date_time == T0 + timedelta(seconds=200)
    assert [len(s.parts) for s in pl.segments] == [0, 0, 0, 4, 4, 4]
    first = pl.segments[3].parts[0]
    assert (first.uri, first.duration, first.independent, first.msn, first.index) == (
        "103.0.m4s",
        0.5,
        True,
        103,
        0,
    )
    ranged = pl.segments[4].parts[2]
    assert ranged.byterange == hc.ByteRange(800, 0) and not ranged.independent
    assert [(p.msn, p.index) for p in pl.trailing_parts] == [(106, 0), (106, 1)]
    assert (pl.last_msn, pl.last_part, pl.next_msn) == (106, 1, 106)
    assert len(pl.parts) == 14
    assert [(h.type, h.uri) for h in pl.preload_hints] == [("PART", "106.2.m4s")]
    assert [(r.uri, r.last_msn, r.last_part) for r in pl.rendition_reports] == [
        ("../720p/index.m3u8", 106, 1)
    ]
    assert pl.skip is None
    assert [t.name for t in pl.tags][:3] == ["EXTM3U", "EXT-X-VERSION", "EXT-X-TARGETDURATION"]


def test_parse_media_playlist_numbers_segments_after_a_skip() -> None:
    pl = parse_media_playlist(DELTA_LL)
    assert pl.skip is not None and pl.skip.skipped_segments == 4
    assert pl.segments[0].msn == 104 and pl.segments[0].uri == "104.m4s"
    assert pl.segments[0].discontinuity_sequence is None  # unknown inside a delta update


def test_parse_media_playlist_tracks_discontinuities() -> None:
    pl = parse_media_playlist(GOOD_VOD)
    assert [s.discontinuity for s in pl.segments] == [False, False, True]
    assert [s.discontinuity_sequence for s in pl.segments] == [0, 0, 1]
    assert [s.map_uri for s in pl.segments] == ["init-3.mp4", "init-3.mp4", "init-4.mp4"]
    assert pl.endlist and pl.playlist_type == "VOD" and pl.independent_segments


def test_parse_media_playlist_rejects_what_clients_cannot_parse() -> None:
    with pytest.raises(PlaylistParseError) as info:
        parse_media_playlist("<html>404 Not Found</html>")
    assert hc.R_EXTM3U in rules(info.value.violations)
    with pytest.raises(PlaylistParseError):
        parse_media_playlist(edit(GOOD_LL, 'URI="104.1.m4s"', 'URI="104.1.m4s",URI="x"'))


def test_parse_multivariant_playlist() -> None:
    pl = parse_multivariant_playlist(GOOD_MULTIVARIANT)
    assert [v.uri for v in pl.variants] == [
        "source/index.m3u8",
        "360p/index.m3u8",
        "audio/index.m3u8",
    ]
    assert pl.variants[0].attributes["BANDWIDTH"].value == "6200000"
    assert pl.renditions[0].attributes["GROUP-ID"] == hc.AttributeValue("aac", quoted=True)
    with pytest.raises(PlaylistParseError):
        parse_multivariant_playlist(GOOD_LL)


def test_attribute_list_keeps_commas_inside_quoted_strings() -> None:
    attrs, problems = hc._attribute_list('CODECS="avc1.64001f,mp4a.40.2",BANDWIDTH=1')
    assert problems == []
    assert attrs["CODECS"] == hc.AttributeValue("avc1.64001f,mp4a.40.2", quoted=True)
    assert attrs["BANDWIDTH"] == hc.AttributeValue("1", quoted=False)


def test_crlf_line_endings_are_allowed() -> None:
    assert_conformant(check_media_playlist(GOOD_LL.replace("\n", "\r\n")))


def test_assert_conformant_lists_every_violation() -> None:
    assert_conformant([])
    violations = [Violation("rule a", 3, "first"), Violation("rule b", None, "second")]
    with pytest.raises(AssertionError) as info:
        assert_conformant(violations)
    message = str(info.value)
    assert "2 HLS conformance violation(s)" in message
    assert "[rule a] line 3: first" in message
    assert "[rule b] playlist: second" in message


def test_violations_carry_line_numbers() -> None:
    text = edit(GOOD_LL, 'DURATION=0.50000,URI="104.1.m4s"', 'DURATION=0.60000,URI="104.1.m4s"')
    line = text.split("\n").index('#EXT-X-PART:DURATION=0.60000,URI="104.1.m4s"') + 1
    found = [v for v in check_media_playlist(text) if v.rule == hc.R_PART]
    assert found and found[0].line == line


# ------------------------------------------------------------------------------------------
# Fuzzing: the parser only ever raises its own error; the checkers never raise

_FRAGMENTS = [
    "#EXTM3U",
    "#EXT-X-VERSION:",
    "#EXT-X-TARGETDURATION:",
    "#EXT-X-MEDIA-SEQUENCE:",
    "#EXT-X-DISCONTINUITY-SEQUENCE:",
    "#EXT-X-DISCONTINUITY",
    "#EXT-X-ENDLIST",
    "#EXT-X-PLAYLIST-TYPE:",
    "#EXT-X-I-FRAMES-ONLY",
    "#EXT-X-PART-INF:PART-TARGET=",
    "#EXT-X-SERVER-CONTROL:",
    "#EXTINF:",
    "#EXT-X-BYTERANGE:",
    "#EXT-X-KEY:METHOD=",
    "#EXT-X-MAP:URI=",
    "#EXT-X-PROGRAM-DATE-TIME:",
    "#EXT-X-GAP",
    "#EXT-X-PART:",
    "#EXT-X-SKIP:SKIPPED-SEGMENTS=",
    "#EXT-X-PRELOAD-HINT:",
    "#EXT-X-RENDITION-REPORT:",
    "#EXT-X-DATERANGE:",
    "#EXT-X-DEFINE:",
    "#EXT-X-STREAM-INF:",
    "#EXT-X-MEDIA:",
    "#EXT-X-I-FRAME-STREAM-INF:",
    "#EXT-X-START:TIME-OFFSET=",
]
_VALUES = [
    "",
    "9",
    "2",
    "-1",
    "2.00000,",
    "0.5",
    "99999999999999999999999",
    'URI="1.0.m4s",DURATION=0.5,INDEPENDENT=YES',
    'DURATION=0.5,URI="a",BYTERANGE="10@0"',
    'TYPE=PART,URI="x"',
    "CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12",
    'URI="r.m3u8",LAST-MSN=3,LAST-PART=1',
    "2026-03-01T12:00:00.000Z",
    "2026-02-30T25:61:61.000+99:99",
    'BANDWIDTH=1,CODECS="avc1.64001f",RESOLUTION=1x1,FRAME-RATE=30',
    'TYPE=AUDIO,GROUP-ID="a",NAME="n",DEFAULT=YES',
    'A="',
    "A=B,,C",
    "=",
    "1000@",
]

_line = st.one_of(
    st.builds(
        str.__add__,
        st.sampled_from(_FRAGMENTS),
        st.one_of(st.sampled_from(_VALUES), st.text(max_size=24)),
    ),
    st.sampled_from(["1.m4s", "2.m4s", "", " ", "\r", "#comment", "a b"]),
    st.text(max_size=24),
)
_playlist_like = st.lists(_line, max_size=40).map("\n".join)
_queries = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["_HLS_msn", "_HLS_part", "_HLS_skip"]),
        st.one_of(st.sampled_from(["0", "1", "106", "YES", "v2", "-1"]), st.text(max_size=5)),
    ),
)


def _parse_or_own_error(text: str) -> None:
    with contextlib.suppress(PlaylistParseError):
        parse_media_playlist(text)
    with contextlib.suppress(PlaylistParseError):
        parse_multivariant_playlist(text)


def _checks_return_violations(
    text: str, previous: str | None, query: dict[str, str] | None
) -> None:
    result = check_media_playlist(text, previous=previous, request_query=query)
    assert isinstance(result, list) and all(isinstance(v, Violation) for v in result)
    result = check_multivariant_playlist(text)
    assert isinstance(result, list) and all(isinstance(v, Violation) for v in result)


_FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@_FUZZ
@given(st.text())
def test_parser_never_crashes_on_arbitrary_text(text: str) -> None:
    _parse_or_own_error(text)
    _checks_return_violations(text, None, None)


@_FUZZ
@given(_playlist_like, st.one_of(st.none(), _playlist_like), _queries)
def test_parser_never_crashes_on_playlist_like_text(
    text: str, previous: str | None, query: dict[str, str] | None
) -> None:
    _parse_or_own_error(text)
    _checks_return_violations(text, previous, query)


@_FUZZ
@given(st.data())
def test_parser_never_crashes_on_damaged_good_playlists(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([GOOD_LL, DELTA_LL, GOOD_VOD, GOOD_MULTIVARIANT]))
    lines = base.split("\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    lines[index] = data.draw(st.one_of(_line, st.just(lines[index][: len(lines[index]) // 2])))
    text = "\n".join(lines)
    _parse_or_own_error(text)
    _checks_return_violations(text, data.draw(st.sampled_from([None, GOOD_LL])), None)
