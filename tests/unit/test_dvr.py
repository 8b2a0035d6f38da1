"""DVR: the recorded past of a live stream (store.dvr_history), its playlists and MPD (the
packager), the recording's mapping (the archive) and the origin answering old segments."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import xml.etree.ElementTree as ET
from datetime import datetime

from golive.http.live_media import LiveMediaEndpoint
from golive.packager.hls_stream import HlsStreamPackager
from golive.record.segment_archive import SegmentArchive
from golive.store.dvr_history import ChannelDvr, DvrHistory
from golive.store.live_window import ChannelMedia, LiveStore, StoredSegment
from tests.support.synthetic import AUDIO, VIDEO, av_frames
from tests.unit.test_segment_archive import MemoryIndex, MemoryStore, open_session, segment

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class StoringSink:
    """Stands for the recording: notes each segment in the DVR and stores it at once."""

    def __init__(self, dvr: ChannelDvr, objects: MemoryStore, *, store: bool = True) -> None:
        self.dvr = dvr
        self.objects = objects
        self.store = store

    def segment_done(self, rendition: str, segment: StoredSegment, init: bytes | None) -> None:
        self.dvr.add(rendition, segment, init)
        if self.store:
            key = f"rec/{rendition}/{segment.msn}.m4s"
            self.objects.objects[key] = bytes(segment.data)
            self.dvr.stored(rendition, segment.msn, key)


@dataclasses.dataclass
class Stream:
    media: ChannelMedia
    pkg: HlsStreamPackager
    dvr: ChannelDvr
    objects: MemoryStore
    clock: FakeClock

    def feed(self, seconds: float, start_ms: int = 0) -> None:
        for f in av_frames(seconds, start_ms=start_ms):
            self.pkg.on_frame(f)

    def dvr_text(self, rendition: str = "source", *, skip: bool = False) -> str:
        snapshot = self.media.renditions[rendition].latest
        assert snapshot is not None
        body = snapshot.dvr(skip)
        assert body is not None
        return body.decode()

    def live_text(self, rendition: str = "source") -> str:
        snapshot = self.media.renditions[rendition].latest
        assert snapshot is not None
        return snapshot.full.decode()


def stream(
    seconds: float,
    *,
    window_segments: int = 6,
    dvr_window: float = 3600.0,
    store: bool = True,
    live: LiveStore | None = None,
) -> Stream:
    media = (live or LiveStore()).open("demo", "0badc0de")
    objects = MemoryStore()
    dvr = media.dvr = ChannelDvr(dvr_window, objects)
    clock = FakeClock()
    pkg = HlsStreamPackager(
        media,
        part_target=0.2,
        segment_target=1.0,
        window_segments=window_segments,
        clock=clock,
        segment_sink=StoringSink(dvr, objects, store=store),
    )
    pkg.on_tracks([VIDEO, AUDIO])
    s = Stream(media, pkg, dvr, objects, clock)
    s.feed(seconds)
    return s


def msns(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"^0badc0de/(\d+)\.m4s$", text, re.M)]


def header(text: str, tag: str) -> int:
    found = re.search(rf"^#{tag}:(\d+)$", text, re.M)
    assert found is not None, tag
    return int(found.group(1))


# -- the playlist ------------------------------------------------------------------------------


def test_dvr_playlist_reaches_back_to_the_first_segment_and_ends_as_the_live_one() -> None:
    s = stream(30.1)
    live, dvr = s.live_text(), s.dvr_text()
    live_msns, dvr_msns = msns(live), msns(dvr)
    assert len(live_msns) == 6 and live_msns[0] > 10
    assert dvr_msns == list(range(0, live_msns[-1] + 1))
    assert header(dvr, "EXT-X-MEDIA-SEQUENCE") == 0
    assert "EXT-X-PLAYLIST-TYPE" not in dvr and "#EXT-X-ENDLIST" not in dvr
    # The tail is the live playlist itself: parts, preload hint, server control; the rendition
    # reports point at the other DVR playlists.
    tail_from = live.index("#EXT-X-PROGRAM-DATE-TIME")
    live_tail = live[tail_from:].replace("/index.m3u8", "/dvr.m3u8")
    assert dvr.endswith(live_tail)
    assert '#EXT-X-RENDITION-REPORT:URI="../audio/dvr.m3u8"' in dvr
    for line in ("#EXT-X-SERVER-CONTROL:", "#EXT-X-PART-INF:", "#EXT-X-TARGETDURATION:"):
        assert re.search(rf"^{line}.*$", live, re.M).group(0) in dvr.splitlines()  # type: ignore[union-attr]
    # One EXT-X-MAP for the one init segment, before the first segment.
    assert dvr.count("#EXT-X-MAP:") == 1
    assert dvr.index('#EXT-X-MAP:URI="0badc0de/init-0.mp4"') < dvr.index("#EXTINF")


def test_blocking_reload_snapshots_render_the_dvr_playlist_once() -> None:
    s = stream(20.1)
    window = s.media.renditions["source"]
    snapshot = window.latest
    assert snapshot is not None
    first = snapshot.dvr(False)
    s.feed(2.0, start_ms=20_100)
    # The snapshot of a past moment keeps its bytes; the newest one has moved on.
    assert snapshot.dvr(False) is first
    newer = window.latest
    assert newer is not None and newer is not snapshot
    assert msns(newer.dvr(False).decode())[-1] > msns(first.decode())[-1]  # type: ignore[union-attr]


def test_delta_update_skips_all_but_the_skip_boundary() -> None:
    s = stream(60.1)
    full, delta = s.dvr_text(), s.dvr_text(skip=True)
    skipped = re.search(r"^#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)$", delta, re.M)
    assert skipped is not None
    count = int(skipped.group(1))
    listed = msns(delta)
    # Every segment is accounted for: the skipped ones, then the listed ones in order.
    assert msns(full) == list(range(count)) + listed
    assert listed[0] == count
    assert header(delta, "EXT-X-MEDIA-SEQUENCE") == 0
    # Nothing within CAN-SKIP-UNTIL (6 target durations) of the end is skipped, and no more
    # than needed is kept: the first listed segment is the last one the boundary holds.
    boundary = 6.0 * header(full, "EXT-X-TARGETDURATION")
    durations = [float(d) for d in re.findall(r"^#EXTINF:([\d.]+),$", delta, re.M)]
    parts_after = sum(
        float(d)
        for d in re.findall(
            r"#EXT-X-PART:DURATION=([\d.]+)", delta.split(f"0badc0de/{listed[-1]}.m4s")[-1]
        )
    )
    assert sum(durations[1:]) + parts_after < boundary <= sum(durations) + parts_after
    assert len(delta) < len(full) / 2
    # The delta starts with the init segment the skipped segments used.
    assert delta.index("#EXT-X-MAP:") < delta.index("#EXTINF")


def test_delta_of_a_short_dvr_playlist_is_the_full_one() -> None:
    s = stream(8.1, window_segments=15)
    snapshot = s.media.renditions["source"].latest
    assert snapshot is not None
    # Nothing to skip yet: the DVR delta is not made, the endpoint answers the full playlist.
    assert snapshot.dvr(True) is None


def test_sliding_window_drops_the_oldest_and_counts_their_discontinuities() -> None:
    s = stream(6.1, window_segments=4, dvr_window=10.0)
    s.pkg.on_discontinuity()
    s.clock.now += 5
    s.feed(30.0, start_ms=6200)
    dvr = s.dvr_text()
    listed = msns(dvr)
    history = s.dvr.histories["source"]
    assert listed[0] == history.first_listed and listed[0] > 6
    # About dvr_window of segments, the live ones included.
    durations = [float(d) for d in re.findall(r"^#EXTINF:([\d.]+),$", dvr, re.M)]
    assert 9.0 <= sum(durations) <= 11.0
    assert history.listed_before(msns(s.live_text())[0])
    # The watch page's seek bar begins at the first listed segment's date, the latest such
    # date of the recorded renditions (every one of them lists media from there).
    first_pdt = re.search(r"^#EXT-X-PROGRAM-DATE-TIME:(.+)$", dvr, re.M)
    assert first_pdt is not None and history.first_listed_pdt is not None
    listed_date = datetime.fromisoformat(first_pdt[1].replace("Z", "+00:00")).timestamp()
    assert abs(history.first_listed_pdt - listed_date) < 0.002
    assert s.dvr.listed_from == max(
        h.first_listed_pdt for h in s.dvr.histories.values() if h.first_listed_pdt is not None
    )
    assert ChannelDvr(10.0, s.objects).listed_from is None
    assert "#EXT-X-DISCONTINUITY\n" not in dvr
    assert header(dvr, "EXT-X-DISCONTINUITY-SEQUENCE") == 1
    # Unlisted segments stay answerable for one more window, then are forgotten.
    assert history.get(listed[0] - 1) is not None
    assert history.get(0) is None


def test_discontinuity_and_new_init_segment_are_carried() -> None:
    s = stream(6.1, window_segments=3)
    s.pkg.on_discontinuity()
    wider = dataclasses.replace(VIDEO, width=640, height=480)
    s.pkg.on_tracks([wider, AUDIO])
    s.feed(12.0, start_ms=6200)
    dvr = s.dvr_text()
    assert header(dvr, "EXT-X-DISCONTINUITY-SEQUENCE") == 0
    lines = dvr.splitlines()
    disc = lines.index("#EXT-X-DISCONTINUITY")
    maps = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-MAP:")]
    assert len(maps) == 2 and maps[0] < disc
    assert lines[maps[1]] == '#EXT-X-MAP:URI="0badc0de/init-1.mp4"'
    # The new init applies from the first segment after the discontinuity.
    next_uri = next(
        line for line in lines[maps[1] :] if line.endswith(".m4s") and "PART" not in line
    )
    assert next_uri == next(
        line for line in lines[disc:] if line.endswith(".m4s") and "PART" not in line
    )
    # The live window let go of init-0; the DVR keeps it.
    assert 0 not in s.media.renditions["source"].init_segments
    assert 0 in s.dvr.histories["source"].init_segments


def test_a_segment_the_recording_lost_is_listed_as_a_gap() -> None:
    s = stream(20.1, store=False)
    s.dvr.lost("source", 3)
    s.feed(1.0, start_ms=20_100)  # a newer snapshot
    dvr = s.dvr_text()
    lines = dvr.splitlines()
    at = lines.index("0badc0de/3.m4s")
    assert lines[at - 2] == "#EXT-X-GAP" and lines[at - 1].startswith("#EXTINF:")
    assert dvr.count("#EXT-X-GAP") == 1
    assert msns(dvr)[:5] == [0, 1, 2, 3, 4]  # numbering keeps its place


def test_renditions_without_history_have_no_dvr() -> None:
    media = ChannelMedia("demo", "0badc0de")
    pkg = HlsStreamPackager(media, part_target=0.2, segment_target=1.0, window_segments=6)
    pkg.on_tracks([VIDEO, AUDIO])
    for f in av_frames(5.1):
        pkg.on_frame(f)
    snapshot = media.renditions["source"].latest
    assert snapshot is not None and snapshot.dvr(False) is None
    assert not media.has_dvr and media.dvr_multivariant is None


def test_dvr_multivariant_lists_the_recorded_renditions() -> None:
    s = stream(5.1)
    text = s.media.dvr_multivariant
    assert text is not None
    uris = [line for line in text.decode().splitlines() if not line.startswith("#")]
    assert uris == ["source/dvr.m3u8", "audio/dvr.m3u8"]
    assert s.media.has_dvr


# -- DASH ----------------------------------------------------------------------------------------


def test_dvr_mpd_time_shift_buffer_covers_the_recorded_range() -> None:
    s = stream(30.1)
    body = s.media.dvr_mpd
    live = s.media.dash_manifest
    assert body is not None and live is not None
    mpd = ET.fromstring(body)
    depth = mpd.get("timeShiftBufferDepth")
    assert depth is not None
    seconds = float(depth.removeprefix("PT").removesuffix("S"))
    assert 28.0 <= seconds <= 31.0
    live_depth = ET.fromstring(live).get("timeShiftBufferDepth")
    assert live_depth is not None and float(live_depth[2:-1]) < 8.0
    template = mpd.find("d:Period/d:AdaptationSet/d:Representation/d:SegmentTemplate", NS)
    assert template is not None
    assert template.get("startNumber") == "0"
    assert template.get("media") == "source/0badc0de/$Number$.m4s"

    def listed(root: ET.Element) -> int:
        found = root.findall(".//d:Representation[@id='source']//d:S", NS)
        return sum(1 + int(e.get("r", "0")) for e in found)

    older = s.dvr.histories["source"].listed_before(msns(s.live_text())[0])
    assert len(older) > 15
    assert listed(mpd) == listed(ET.fromstring(live)) + len(older)


# -- the mapping the recording keeps -------------------------------------------------------------


def test_history_releases_bytes_once_stored_and_marks_losses() -> None:
    history = DvrHistory("source", 3600.0)
    seg = segment(0)
    history.add(seg, b"init")
    entry = history.get(0)
    assert entry is not None and entry.pending is seg.data and entry.key is None
    history.stored(0, "rid/source/0.m4s")
    assert entry.pending is None and entry.key == "rid/source/0.m4s"
    history.add(segment(1), b"init")
    history.lost(1)
    lost = history.get(1)
    assert lost is not None and lost.gap and lost.pending is None
    history.lost(0)  # already stored: not a gap
    assert not entry.gap
    history.add(segment(1), None)  # twice: ignored
    assert len(history) == 2


def test_history_trims_init_segments_with_their_last_segment() -> None:
    history = DvrHistory("source", 2.0)
    history.add(segment(0, init_id=0), b"i0")
    history.add(segment(1, init_id=1), b"i1")
    for msn in range(2, 8):
        history.add(segment(msn, init_id=1), None)
    assert history.first_listed == 6 and history.listed_seconds == 2.0
    assert history.get(3) is None and history.get(4) is not None
    assert history.init_segments == {1: b"i1"}


async def test_archive_tells_the_dvr_where_each_segment_went_and_what_it_lost() -> None:
    objects, index = MemoryStore(), MemoryIndex()
    archive = SegmentArchive(
        objects, index, buffer_bytes=4000, first_retry_delay=0.001, max_retry_delay=0.01
    )
    archive.start()
    session = open_session(archive)
    session.dvr = dvr = ChannelDvr(3600.0, objects)
    session.segment_done("source", segment(0), b"init")
    session.segment_done("other", segment(0), b"init")  # not recorded: no history
    assert await archive.flush(2)
    history = dvr.histories["source"]
    entry = history.get(0)
    assert entry is not None and entry.key is not None and entry.pending is None
    assert objects.objects[entry.key] == bytes(segment(0).data)
    assert "other" not in dvr.histories
    objects.down = True
    for msn in range(1, 8):  # 7000 bytes while storage is down, 4000 held at most
        session.segment_done("source", segment(msn), None)
        await asyncio.sleep(0)
    lost = [m for m in range(1, 8) if history.get(m).gap]  # type: ignore[union-attr]
    assert lost and all(history.get(m).pending is None for m in lost)  # type: ignore[union-attr]
    held = [m for m in range(1, 8) if history.get(m).pending is not None]  # type: ignore[union-attr]
    assert held  # not stored yet: answered from the bytes the recording holds
    objects.down = False
    assert await archive.flush(5)
    for m in range(1, 8):
        e = history.get(m)
        assert e is not None and (e.gap or e.key is not None)
    await archive.close(1)


# -- the origin ----------------------------------------------------------------------------------


async def answer(
    endpoint: LiveMediaEndpoint, path: str, **query: str
) -> tuple[int, bytes, dict[str, str]]:
    got = await endpoint.answer("GET", path, query, [], "127.0.0.1")
    headers = {k.decode(): v.decode() for k, v in got.headers}
    return got.status, bytes(got.body), headers


async def test_origin_serves_old_segments_from_the_recording() -> None:
    store = LiveStore()
    s = stream(30.1, store=False, live=store)
    endpoint = LiveMediaEndpoint(store)
    window = s.media.renditions["source"]
    assert 0 not in window.segments
    history = s.dvr.histories["source"]
    entry0 = history.get(0)
    assert entry0 is not None
    # Not stored yet: the bytes the recording holds.
    status, body, headers = await answer(endpoint, "/live/demo/source/0badc0de/0.m4s")
    assert status == 200 and body == bytes(entry0.pending)  # type: ignore[arg-type]
    assert "immutable" in headers["cache-control"]
    # Stored: read back from the object store.
    s.objects.objects["rid/source/1.m4s"] = b"stored bytes"
    s.dvr.stored("source", 1, "rid/source/1.m4s")
    status, body, _ = await answer(endpoint, "/live/demo/source/0badc0de/1.m4s")
    assert (status, body) == (200, b"stored bytes")
    # Lost, or stored and gone: 404.
    s.dvr.lost("source", 2)
    assert (await answer(endpoint, "/live/demo/source/0badc0de/2.m4s"))[0] == 404
    s.dvr.stored("source", 3, "rid/source/3.m4s")
    assert (await answer(endpoint, "/live/demo/source/0badc0de/3.m4s"))[0] == 404
    # Storage down: 503.
    s.objects.down = True
    s.objects.objects.clear()
    s.dvr.stored("source", 4, "rid/source/4.m4s")

    async def failing(key: str, start: int = 0, end: int | None = None) -> bytes:
        from golive.store.object_store import ObjectStoreError

        raise ObjectStoreError("down")

    s.objects.get = failing  # type: ignore[method-assign]
    assert (await answer(endpoint, "/live/demo/source/0badc0de/4.m4s"))[0] == 503
    # The init segment the live window dropped, from the history; a wrong token: 404.
    assert (await answer(endpoint, "/live/demo/source/0badc0de/init-0.mp4"))[0] == 200
    assert (await answer(endpoint, "/live/demo/source/deadbeef/0.m4s"))[0] == 404


async def test_origin_dvr_playlists() -> None:
    store = LiveStore()
    s = stream(30.1, live=store)
    endpoint = LiveMediaEndpoint(store)
    status, body, _ = await answer(endpoint, "/live/demo/dvr.m3u8")
    assert status == 200 and b"source/dvr.m3u8" in body
    status, body, _ = await answer(endpoint, "/live/demo/source/dvr.m3u8")
    assert status == 200 and msns(body.decode())[0] == 0
    last = msns(body.decode())[-1]
    status, delta, _ = await answer(endpoint, "/live/demo/source/dvr.m3u8", _HLS_skip="YES")
    assert status == 200 and b"#EXT-X-SKIP:SKIPPED-SEGMENTS=" in delta
    # Blocking reload on the DVR playlist: answered once the next part exists.
    pending = asyncio.ensure_future(
        answer(endpoint, "/live/demo/source/dvr.m3u8", _HLS_msn=str(last + 2), _HLS_part="0")
    )
    await asyncio.sleep(0.01)
    assert not pending.done()
    s.feed(2.5, start_ms=30_100)
    status, body, headers = await asyncio.wait_for(pending, 2)
    assert status == 200 and msns(body.decode())[0] == 0 and "max-age" in headers["cache-control"]
    status, body, _ = await answer(endpoint, "/live/demo/dvr.mpd")
    assert status == 200 and b"timeShiftBufferDepth" in body


async def test_origin_without_dvr_answers_404() -> None:
    store = LiveStore()
    media = store.open("demo", "0badc0de")
    pkg = HlsStreamPackager(media, part_target=0.2, segment_target=1.0, window_segments=6)
    pkg.on_tracks([VIDEO, AUDIO])
    for f in av_frames(5.1):
        pkg.on_frame(f)
    endpoint = LiveMediaEndpoint(store)
    for path in ("/live/demo/dvr.m3u8", "/live/demo/source/dvr.m3u8", "/live/demo/dvr.mpd"):
        assert (await answer(endpoint, path))[0] == 404, path
    assert (await answer(endpoint, "/live/demo/source/index.m3u8"))[0] == 200


def test_long_dvr_playlist_rendered_in_blocks_matches_segment_by_segment() -> None:
    from golive.packager.hls_playlist import MediaPlaylistWriter
    from golive.store.live_window import StoredPart

    def seg(
        msn: int, *, init_id: int = 0, disc: bool = False, open_: bool = False
    ) -> StoredSegment:
        return StoredSegment(
            msn=msn,
            init_id=init_id,
            discontinuity=disc,
            program_date_time=1_700_000_000.0 + msn,
            duration=0.0 if open_ else 1.0,
            complete=not open_,
            parts=[StoredPart(i, 0.2, i == 0, b"") for i in range(2 if open_ else 5)],
        )

    history = DvrHistory("source", 3600.0)
    for msn in range(700):
        history.add(seg(msn, init_id=0 if msn < 300 else 1, disc=msn == 300), None)
    history.lost(520)
    live = [seg(m, init_id=1) for m in range(700, 715)] + [seg(715, init_id=1, open_=True)]
    writer = MediaPlaylistWriter(uri_prefix="0badc0de/")

    def render(skip: bool = False) -> str:
        text = writer.render(
            live,
            target_duration=2,
            part_target=0.2,
            discontinuity_sequence=history.discontinuity_sequence,
            preload_hint=(715, 2),
            skip=skip,
            older=history.listed_before(700),
            older_version=history.version,
        )
        assert text is not None
        return text

    for _ in range(2):  # made, then from the cached blocks
        text = render()
        lines = text.splitlines()
        assert msns(text) == list(range(715))
        maps = [line for line in lines if line.startswith("#EXT-X-MAP:")]
        assert maps == [
            '#EXT-X-MAP:URI="0badc0de/init-0.mp4"',
            '#EXT-X-MAP:URI="0badc0de/init-1.mp4"',
        ]
        at = lines.index("0badc0de/300.m4s")
        assert lines[at - 4 : at - 2] == [
            '#EXT-X-MAP:URI="0badc0de/init-1.mp4"',
            "#EXT-X-DISCONTINUITY",
        ]
        assert lines[lines.index("0badc0de/520.m4s") - 2] == "#EXT-X-GAP"
        assert text.count("#EXT-X-GAP") == 1
    # A segment lost later: the cached block is made again.
    history.lost(100)
    text = render()
    assert text.count("#EXT-X-GAP") == 2
    assert text.splitlines()[text.splitlines().index("0badc0de/100.m4s") - 2] == "#EXT-X-GAP"
    # The delta update starts with the init segment of its first listed segment.
    delta = render(skip=True)
    assert re.search(r"^#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)$", delta, re.M)
    assert msns(delta)[0] > 600 and msns(delta)[-1] == 714
    assert delta.count("#EXT-X-MAP:") == 1 and "init-1.mp4" in delta


def test_dvr_playlists_conform_to_rfc8216bis_across_updates() -> None:
    from tests.hls_conformance import (
        assert_conformant,
        check_media_playlist,
        check_multivariant_playlist,
    )

    s = stream(6.1, window_segments=4, dvr_window=20.0, store=False)
    s.dvr.lost("source", 2)
    s.pkg.on_discontinuity()
    s.clock.now += 5
    s.feed(20.0, start_ms=6200)
    previous = s.dvr_text()
    assert_conformant(check_media_playlist(previous))
    delta = s.dvr_text(skip=True)
    assert_conformant(check_media_playlist(delta, request_query={"_HLS_skip": "YES"}))
    # Later: the window has slid (segments left the front, with the discontinuity).
    s.feed(15.0, start_ms=26_300)
    later = s.dvr_text()
    assert msns(later)[0] > msns(previous)[0]
    assert_conformant(check_media_playlist(later, previous=previous))
    multivariant = s.media.dvr_multivariant
    assert multivariant is not None
    assert_conformant(check_multivariant_playlist(multivariant.decode()))
