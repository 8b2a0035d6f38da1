"""A finished recording's VOD playlists: the pure rendering (HLS media and multivariant
playlists, the static MPD), checked with the conformance checker, the fMP4 reader that feeds
the multivariant attributes, and the publisher against an in-memory store."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

import pytest

from golive.media.avc import parse_avcc
from golive.media.fmp4 import TrackRun, init_segment, media_fragment
from golive.media.fmp4_reader import Mp4FormatError, fragment_samples, init_tracks
from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TRACK_ID, Frame, TrackKind
from golive.record.storage_keys import init_key, new_recording_id, segment_key
from golive.record.vod_playlists import (
    Variant,
    dash_mpd,
    media_playlist,
    multivariant_playlist,
    split_renditions,
)
from golive.record.vod_publisher import publish_vod
from tests.hls_conformance import (
    assert_conformant,
    check_media_playlist,
    check_multivariant_playlist,
    parse_media_playlist,
    parse_multivariant_playlist,
)
from tests.support.synthetic import AUDIO
from tests.support.synthetic import VIDEO as SYNTHETIC_VIDEO
from tests.unit.test_segment_archive import MemoryStore

RID = "AbCdEfGhIjKlMnOp"
T0 = 1_700_000_000.0
MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
# A parseable avcC (High profile; its SPS says 640x480).
AVCC = bytes.fromhex(
    "01640016ffe100186764001facd940a03da1000003000100000300320f18319601000568ebecb22c"
)
VIDEO = replace(SYNTHETIC_VIDEO, config=AVCC)


@dataclass(frozen=True)
class Row:
    rendition: str
    sequence: int
    media_start: int
    timescale: int
    duration: float
    byte_size: int
    program_date_time: float
    storage_key: str
    init_key: str
    discontinuity: bool = False
    gap_before: bool = False


def rows(
    rendition: str,
    durations: list[float],
    *,
    timescale: int = 90_000,
    disc_at: tuple[int, ...] = (),
    gap_at: tuple[int, ...] = (),
    init_at: tuple[int, ...] = (0,),
    size: int = 100_000,
    jump: float = 30.0,
    tokens: dict[int, int] | None = None,
) -> list[Row]:
    """Contiguous segments; a discontinuity restarts the date ``jump`` s later (a reconnect)."""
    """``tokens``: from which segment on a writer with that fencing token wrote them."""
    out = []
    media = date = 0.0
    init = 0
    token = 0
    for seq, d in enumerate(durations):
        token = (tokens or {}).get(seq, token)
        if seq in init_at:
            init = seq
        if seq in disc_at or seq in gap_at:
            date += jump
            media += 4.0 if seq in gap_at else 0.0
        out.append(
            Row(
                rendition,
                seq,
                round(media * timescale),
                timescale,
                d,
                size,
                T0 + date,
                segment_key(RID, rendition, seq, token),
                init_key(RID, rendition, init, token),
                discontinuity=seq in disc_at,
                gap_before=seq in gap_at,
            )
        )
        media += d
        date += d
    return out


# -- media playlists --------------------------------------------------------------------------


def test_a_plain_vod_media_playlist() -> None:
    text = media_playlist(rows("source", [2.0, 2.0, 1.5334, 2.0]))
    assert_conformant(check_media_playlist(text))
    pl = parse_media_playlist(text)
    assert pl.endlist and pl.playlist_type == "VOD"
    assert pl.target_duration == 2
    assert [s.uri for s in pl.segments] == ["0.m4s", "1.m4s", "2.m4s", "3.m4s"]
    assert [s.duration for s in pl.segments] == [2.0, 2.0, 1.533, 2.0]
    assert {s.map_uri for s in pl.segments} == {"init-0.mp4"}
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text and "#EXTINF:1.533," in text
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 1
    assert "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z" in text
    assert text.count("#EXT-X-MAP:") == 1


def test_target_duration_is_the_ceiling_of_the_longest_segment() -> None:
    text = media_playlist(rows("source", [2.0, 4.2, 1.0]))
    assert_conformant(check_media_playlist(text))
    assert parse_media_playlist(text).target_duration == 5
    # A segment of exactly 4 s (to the millisecond) needs no 5.
    assert parse_media_playlist(media_playlist(rows("a", [4.0004, 1.0]))).target_duration == 4


def test_a_reconnect_is_a_discontinuity_with_a_new_date_and_init() -> None:
    segs = rows("source", [2.0] * 6, disc_at=(3,), init_at=(0, 3))
    text = media_playlist(segs)
    assert_conformant(check_media_playlist(text))
    pl = parse_media_playlist(text)
    assert [s.discontinuity for s in pl.segments] == [False, False, False, True, False, False]
    assert [s.map_uri for s in pl.segments] == ["init-0.mp4"] * 3 + ["init-3.mp4"] * 3
    dated = [s.program_date_time is not None for s in pl.segments]
    assert dated == [True, False, False, True, False, False]
    # The tags come in order before the segment: DISCONTINUITY, MAP, PROGRAM-DATE-TIME.
    block = text.split("1.m4s\n")[1].split("#EXTINF")[1:3]
    assert "2.m4s" in block[0]
    lines = text.splitlines()
    at = lines.index("#EXT-X-DISCONTINUITY")
    assert lines[at + 1] == '#EXT-X-MAP:URI="init-3.mp4"'
    assert lines[at + 2].startswith("#EXT-X-PROGRAM-DATE-TIME:")


def test_a_gap_is_a_discontinuity_too() -> None:
    segs = rows("source", [2.0] * 5, gap_at=(2,))
    text = media_playlist(segs)
    assert_conformant(check_media_playlist(text))
    pl = parse_media_playlist(text)
    assert [s.discontinuity for s in pl.segments] == [False, False, True, False, False]
    assert pl.segments[2].program_date_time is not None
    assert "#EXT-X-GAP" not in text
    # Sequence numbers stay the recording's own: contiguous, so URIs match the MSN.
    assert [s.msn for s in pl.segments] == [0, 1, 2, 3, 4]


def test_an_init_change_without_discontinuity_gets_its_own_map() -> None:
    text = media_playlist(rows("source", [2.0] * 4, init_at=(0, 2)))
    assert_conformant(check_media_playlist(text))
    pl = parse_media_playlist(text)
    assert [s.map_uri for s in pl.segments] == ["init-0.mp4"] * 2 + ["init-2.mp4"] * 2
    assert not any(s.discontinuity for s in pl.segments)


def test_a_resumed_recording_keeps_its_sequence_numbers() -> None:
    segs = [replace(r, sequence=r.sequence + 7) for r in rows("source", [2.0, 2.0])]
    segs = [replace(r, storage_key=segment_key(RID, "source", r.sequence)) for r in segs]
    text = media_playlist(segs)
    assert "#EXT-X-MEDIA-SEQUENCE:7" in text
    assert_conformant(check_media_playlist(text))


def test_an_empty_rendition_has_no_playlist() -> None:
    with pytest.raises(ValueError):
        media_playlist([])


# -- multivariant -----------------------------------------------------------------------------

VARIANTS = {
    "source": Variant(("avc1.64001f", "mp4a.40.2"), 1280, 720, 30.0),
    "360p": Variant(("avc1.4d401e", "mp4a.40.2"), 640, 360, 29.97),
    "audio": Variant(("mp4a.40.2",), video=False, audio_sampling_rate=48_000),
}


def recording() -> dict[str, list[Row]]:
    segs = [
        *rows("audio", [2.0, 2.0, 2.0], timescale=48_000, size=32_000),
        *rows("360p", [2.0, 2.0, 2.0], size=150_000),
        *rows("source", [2.0, 4.0, 2.0], size=500_000),
    ]
    return split_renditions(segs)


def test_multivariant_lists_video_by_bitrate_then_audio_last() -> None:
    renditions = recording()
    text = multivariant_playlist(renditions, VARIANTS)
    assert_conformant(check_multivariant_playlist(text))
    pl = parse_multivariant_playlist(text)
    assert [v.uri for v in pl.variants] == [
        "source/index.m3u8",
        "360p/index.m3u8",
        "audio/index.m3u8",
    ]
    source = pl.variants[0].attributes
    assert source["BANDWIDTH"].value == str(500_000 * 8 // 2)  # the peak (a 2 s segment)
    assert source["AVERAGE-BANDWIDTH"].value == str(round(3 * 500_000 * 8 / 8.0))
    assert source["CODECS"].value == "avc1.64001f,mp4a.40.2"
    assert source["RESOLUTION"].value == "1280x720"
    assert source["FRAME-RATE"].value == "30.000"
    assert pl.variants[1].attributes["FRAME-RATE"].value == "29.970"
    audio = pl.variants[2].attributes
    assert "RESOLUTION" not in audio and audio["CODECS"].value == "mp4a.40.2"


# -- DASH -------------------------------------------------------------------------------------


def test_static_mpd_one_period_per_timeline() -> None:
    segs = [
        *rows("source", [2.0, 2.0, 2.0, 2.0, 1.0], disc_at=(3,), init_at=(0, 3)),
        *rows("audio", [2.0, 2.0, 2.0, 2.0, 1.0], timescale=48_000, disc_at=(3,)),
    ]
    text = dash_mpd(split_renditions(segs), VARIANTS)
    root = ET.fromstring(text)
    assert root.get("type") == "static"
    assert root.get("mediaPresentationDuration") == "PT9.000S"
    periods = root.findall("d:Period", MPD_NS)
    assert [(p.get("start"), p.get("duration")) for p in periods] == [
        ("PT0.000S", "PT6.000S"),
        ("PT6.000S", "PT3.000S"),
    ]
    # Muxed video representations carry the audio: no audio set beside them.
    sets = root.findall("d:Period/d:AdaptationSet", MPD_NS)
    assert {s.get("contentType") for s in sets} == {"video"}
    rep = periods[1].find("d:AdaptationSet/d:Representation", MPD_NS)
    assert rep is not None and rep.get("id") == "source"
    assert rep.get("codecs") == "avc1.64001f,mp4a.40.2" and rep.get("width") == "1280"
    template = rep.find("d:SegmentTemplate", MPD_NS)
    assert template is not None
    assert template.get("initialization") == "source/init-3.mp4"
    assert template.get("media") == "source/$Number$.m4s"
    assert template.get("startNumber") == "3"
    assert template.get("presentationTimeOffset") == str(6 * 90_000)
    s = [e.attrib for e in template.findall("d:SegmentTimeline/d:S", MPD_NS)]
    assert s == [{"t": str(6 * 90_000), "d": "180000"}, {"d": "90000"}]
    first = periods[0].find("d:AdaptationSet/d:Representation/d:SegmentTemplate", MPD_NS)
    assert first is not None
    s = [e.attrib for e in first.findall("d:SegmentTimeline/d:S", MPD_NS)]
    assert s == [{"t": "0", "d": "180000", "r": "2"}]


def test_a_takeover_writes_in_its_token_folder_and_both_playlists_point_there() -> None:
    """Node A (token 7) wrote 0-2; node B took over (token 9) and went on at 3."""
    segs = rows("source", [2.0] * 5, disc_at=(3,), init_at=(0, 3), tokens={0: 7, 3: 9})
    assert segs[2].storage_key == f"{RID}/source/t7/2.m4s"
    assert segs[3].storage_key == f"{RID}/source/t9/3.m4s"
    text = media_playlist(segs)
    assert 'URI="t7/init-0.mp4"' in text and 't9/init-3.mp4"' in text
    assert "\nt7/2.m4s\n" in text and "\nt9/3.m4s\n" in text
    root = ET.fromstring(dash_mpd(split_renditions(segs), VARIANTS))
    templates = root.findall(".//d:SegmentTemplate", MPD_NS)
    assert [(t.get("initialization"), t.get("media")) for t in templates] == [
        ("source/t7/init-0.mp4", "source/t7/$Number$.m4s"),
        ("source/t9/init-3.mp4", "source/t9/$Number$.m4s"),
    ]


def test_a_token_folder_change_splits_the_mpd_period_even_without_a_discontinuity() -> None:
    segs = rows("source", [2.0] * 4, tokens={0: 7, 2: 9})
    root = ET.fromstring(dash_mpd(split_renditions(segs), VARIANTS))
    media = [t.get("media") for t in root.findall(".//d:SegmentTemplate", MPD_NS)]
    assert media == ["source/t7/$Number$.m4s", "source/t9/$Number$.m4s"]


def test_a_gap_inside_a_timeline_is_a_jump_in_the_mpd() -> None:
    text = dash_mpd(split_renditions(rows("source", [2.0] * 4, gap_at=(2,))), VARIANTS)
    root = ET.fromstring(text)
    assert len(root.findall("d:Period", MPD_NS)) == 1
    s = [e.attrib for e in root.iterfind(".//d:S", MPD_NS)]
    assert s == [
        {"t": "0", "d": "180000", "r": "1"},
        {"t": str(8 * 90_000), "d": "180000", "r": "1"},
    ]
    assert root.get("mediaPresentationDuration") == "PT12.000S"


def test_audio_only_recording_has_an_audio_set() -> None:
    audio = split_renditions(rows("audio", [2.0, 2.0], timescale=48_000))
    root = ET.fromstring(dash_mpd(audio, VARIANTS))
    (aset,) = root.findall(".//d:AdaptationSet", MPD_NS)
    assert aset.get("contentType") == "audio" and aset.get("mimeType") == "audio/mp4"
    rep = aset.find("d:Representation", MPD_NS)
    assert rep is not None and rep.get("audioSamplingRate") == "48000"
    text = multivariant_playlist(audio, VARIANTS)
    assert_conformant(check_multivariant_playlist(text))


# -- reading fMP4 back --------------------------------------------------------------------------


def fragment(seq: int, frames: int, fps: int = 30) -> bytes:
    tick = 90_000 // fps
    video = [
        Frame(VIDEO_TRACK_ID, i * tick, i * tick, i == 0, b"\x00\x00\x00\x01\x65")
        for i in range(frames)
    ]
    audio = [Frame(AUDIO_TRACK_ID, i * 1024, i * 1024, True, b"\x21") for i in range(10)]
    return media_fragment(
        seq,
        [
            TrackRun(VIDEO_TRACK_ID, 0, video, [tick] * frames),
            TrackRun(AUDIO_TRACK_ID, 0, audio, [1024] * 10),
        ],
    )


def test_init_tracks_reads_back_what_the_writer_wrote() -> None:
    video, audio = init_tracks(init_segment([VIDEO, AUDIO]))
    assert video.kind is TrackKind.VIDEO and audio.kind is TrackKind.AUDIO
    assert video.id == VIDEO_TRACK_ID and video.timescale == 90_000
    assert video.codec == parse_avcc(AVCC).codec and video.config == AVCC
    assert (video.width, video.height) == (640, 480)  # the SPS's, not the sample entry's
    assert audio.codec == "mp4a.40.2" and audio.sample_rate == 48_000 and audio.channels == 2
    assert audio.config == AUDIO.config


def test_fragment_samples_counts_every_moof() -> None:
    data = fragment(1, 20) + fragment(2, 10)  # a segment of two parts
    got = fragment_samples(data)
    assert got[VIDEO_TRACK_ID].count == 30 and got[VIDEO_TRACK_ID].ticks == 30 * 3000
    assert got[AUDIO_TRACK_ID].count == 20


@pytest.mark.parametrize(
    "data", [b"", b"init-bytes", b"\x00\x00\x00\x10moov\x00\x00\x00\x20trak", b"\x00" * 7]
)
def test_garbage_is_a_format_error(data: bytes) -> None:
    with pytest.raises(Mp4FormatError):
        init_tracks(data)


def test_a_truncated_fragment_is_a_format_error() -> None:
    data = fragment(1, 20)
    with pytest.raises(Mp4FormatError):
        fragment_samples(data[:40])


# -- the publisher ----------------------------------------------------------------------------


class RowIndex:
    def __init__(self, segs: list[Row]) -> None:
        self.segs = segs

    async def segments(self, recording_id: str) -> list[Row]:
        return list(self.segs)


async def test_publisher_stores_every_playlist_with_the_init_attributes() -> None:
    rid = new_recording_id()
    store = MemoryStore()
    segs = []
    for name, tracks in (("source", [VIDEO, AUDIO]), ("audio", [AUDIO])):
        await store.put(init_key(rid, name, 0), init_segment(tracks))
        for seq in range(3):
            key = segment_key(rid, name, seq)
            await store.put(key, fragment(seq, 60 if seq == 1 else 50, fps=25))
            segs.append(
                Row(
                    name,
                    seq,
                    seq * 180_000,
                    90_000,
                    2.4 if seq == 1 else 2.0,
                    1000,
                    T0,
                    key,
                    init_key(rid, name, 0),
                )
            )
    assert await publish_vod(store, RowIndex(segs), rid)  # type: ignore[arg-type]
    # The multivariant playlist is the last one written.
    assert store.puts[-1] == f"{rid}/index.m3u8"
    assert {f"{rid}/manifest.mpd", f"{rid}/source/index.m3u8", f"{rid}/audio/index.m3u8"} <= set(
        store.objects
    )
    text = store.objects[f"{rid}/index.m3u8"].decode()
    assert_conformant(check_multivariant_playlist(text))
    source, audio = parse_multivariant_playlist(text).variants
    assert source.attributes["CODECS"].value == f"{parse_avcc(AVCC).codec},mp4a.40.2"
    assert source.attributes["RESOLUTION"].value == "640x480"
    # 60 frames over 60 * 3600 ticks of 90 kHz: the longest segment's rate.
    assert math.isclose(float(source.attributes["FRAME-RATE"].value), 25.0)
    assert audio.uri == "audio/index.m3u8" and "RESOLUTION" not in audio.attributes
    for name in ("source", "audio"):
        assert_conformant(check_media_playlist(store.objects[f"{rid}/{name}/index.m3u8"].decode()))
    ET.fromstring(store.objects[f"{rid}/manifest.mpd"])


async def test_publisher_without_segments_writes_nothing() -> None:
    store = MemoryStore()
    assert not await publish_vod(store, RowIndex([]), new_recording_id())  # type: ignore[arg-type]
    assert store.objects == {}


async def test_an_unreadable_init_leaves_the_attributes_out() -> None:
    rid = new_recording_id()
    store = MemoryStore()
    await store.put(init_key(rid, "source", 0), b"not an init segment")
    await store.put(segment_key(rid, "source", 0), b"nor a segment")
    segs = [
        Row(
            "source",
            0,
            0,
            90_000,
            2.0,
            13,
            T0,
            segment_key(rid, "source", 0),
            init_key(rid, "source", 0),
        )
    ]
    assert await publish_vod(store, RowIndex(segs), rid)  # type: ignore[arg-type]
    text = store.objects[f"{rid}/index.m3u8"].decode()
    assert "CODECS" not in text and "source/index.m3u8" in text
