"""DVR while live: a real publisher, a short live window, the DVR playlists reaching back to
the stream's first segment, old segments read back from the recording (local disk and an
S3-compatible server on loopback) and decoded with PyAV, delta updates, and dvr.mpd."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.hls_conformance import assert_conformant, check_media_playlist
from tests.support.media_check import decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server, wait_for_text

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
PUBLISH = 30.0  # seconds the publisher runs (it is stopped once the checks are done)
WINDOW = 3  # live_window_segments: the live playlist holds 3 one-second segments


@pytest.fixture(params=["local", "s3"])
def recording_storage(request: pytest.FixtureRequest) -> str:
    if request.param == "local":
        return ""
    url: str = request.getfixturevalue("s3_server")
    base, _, query = url.partition("?")
    return f"{base.rstrip('/')}/t-{uuid.uuid4().hex}?{query}"


def segment_uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def msn_of(uri: str) -> int:
    found = re.search(r"/(\d+)\.m4s$", uri)
    assert found is not None, uri
    return int(found.group(1))


def tag_int(text: str, tag: str) -> int:
    found = re.search(rf"^#{tag}:(\d+)$", text, re.M)
    assert found is not None, tag
    return int(found.group(1))


async def get(client: httpx.AsyncClient, path: str, **params: str) -> httpx.Response:
    r = await client.get(path, params=params)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
    return r


async def test_dvr_reaches_back_past_the_live_window(
    tmp_path: Path, recording_storage: str
) -> None:
    async with running_server(
        tmp_path / "data",
        channel_ladders={"demo": "passthrough"},
        live_window_segments=WINDOW,
        recording_storage=recording_storage,
    ) as server:
        publisher = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=PUBLISH)
        try:
            async with http_client(server) as client:
                await wait_for_text(client, "/live/demo/index.m3u8", "source/index.m3u8")
                # Wait until the first segment has left the live window (and its memory), and
                # the stream is longer than the skip boundary (six target durations).
                deadline = time.monotonic() + 40
                while True:
                    live = (await get(client, "/live/demo/source/index.m3u8")).text
                    media = server.store.get("demo")
                    assert media is not None
                    newest = max(msn_of(u) for u in segment_uris(live))
                    if 0 not in media.renditions["source"].segments and newest >= 16:
                        break
                    assert time.monotonic() < deadline, "the live window never slid"
                    await asyncio.sleep(0.3)
                assert len(segment_uris(live)) == WINDOW
                assert min(msn_of(u) for u in segment_uris(live)) > WINDOW

                channel = (await get(client, "/web/channels/demo")).json()
                assert channel["live"] is True and channel["dvr"] is True
                # Where the watch page's seek bar begins: the oldest listed media's date.
                assert channel["started_at"] - 5 < channel["dvr_from"] < time.time(), channel

                multivariant = (await get(client, "/live/demo/dvr.m3u8")).text
                assert segment_uris(multivariant) == ["source/dvr.m3u8", "audio/dvr.m3u8"]

                full = (await get(client, "/live/demo/source/dvr.m3u8")).text
                uris = segment_uris(full)
                assert tag_int(full, "EXT-X-MEDIA-SEQUENCE") == 0
                assert [msn_of(u) for u in uris] == list(range(len(uris)))
                assert len(uris) > WINDOW + 3
                assert "#EXT-X-PRELOAD-HINT:TYPE=PART" in full
                assert "#EXT-X-PART:" in full and "#EXT-X-GAP" not in full
                assert "EXT-X-PLAYLIST-TYPE" not in full
                assert_conformant(check_media_playlist(full))

                # The first segment, from the recording store (the live window let it go, and
                # the recording has stored it), decodes with its init segment.
                dvr = media.dvr
                assert dvr is not None
                entry = dvr.histories["source"].get(0)
                assert entry is not None and entry.key is not None and entry.pending is None
                init_uri = re.search(r'#EXT-X-MAP:URI="([^"]+)"', full)
                assert init_uri is not None
                started = time.perf_counter()
                init = await get(client, f"/live/demo/source/{init_uri.group(1)}")
                first = await get(client, f"/live/demo/source/{uris[0]}")
                elapsed = time.perf_counter() - started
                assert elapsed < 1.0, f"seek back took {elapsed:.3f} s"
                assert "immutable" in first.headers["cache-control"]
                decoded = decode(init.content + first.content)
                assert decoded.video_codec == "h264" and len(decoded.video_pts) >= 25
                assert decoded.audio_pts

                # Delta update: everything before the skip boundary is skipped.
                delta = (await get(client, "/live/demo/source/dvr.m3u8", _HLS_skip="YES")).text
                skipped = re.search(r"^#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)$", delta, re.M)
                assert skipped is not None
                count = int(skipped.group(1))
                assert tag_int(delta, "EXT-X-MEDIA-SEQUENCE") == 0
                listed = [msn_of(u) for u in segment_uris(delta)]
                assert listed[0] == count and listed == list(range(count, listed[-1] + 1))
                assert len(delta) < len(full)
                assert_conformant(check_media_playlist(delta, request_query={"_HLS_skip": "YES"}))

                # DASH: the DVR MPD's first segment is the stream's first, and decodes.
                mpd = ET.fromstring((await get(client, "/live/demo/dvr.mpd")).content)
                depth = mpd.get("timeShiftBufferDepth", "")
                assert float(depth.removeprefix("PT").removesuffix("S")) > WINDOW + 3
                template = mpd.find(".//d:Representation[@id='source']/d:SegmentTemplate", NS)
                assert template is not None
                assert template.get("startNumber") == "0"
                mpd_init = await get(client, f"/live/demo/{template.get('initialization')}")
                media_path = str(template.get("media")).replace("$Number$", "0")
                mpd_first = await get(client, f"/live/demo/{media_path}")
                assert mpd_first.content == first.content
                assert len(decode(mpd_init.content + mpd_first.content).video_pts) >= 25
        finally:
            publisher.kill()
            await finish(publisher, timeout=10)


@pytest.mark.parametrize("settings", [{"record": False}, {"dvr_window": 0.0}])
async def test_no_dvr_without_recording_or_with_dvr_off(
    tmp_path: Path, settings: dict[str, object]
) -> None:
    async with running_server(
        tmp_path / "data", channel_ladders={"demo": "passthrough"}, **settings
    ) as server:
        publisher = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=20)
        try:
            async with http_client(server) as client:
                await wait_for_text(client, "/live/demo/source/index.m3u8", "#EXTINF")
                channel = (await get(client, "/web/channels/demo")).json()
                assert channel["live"] is True and channel["dvr"] is False
                assert channel["dvr_from"] is None
                for path in ("dvr.m3u8", "source/dvr.m3u8", "dvr.mpd"):
                    r = await client.get(f"/live/demo/{path}")
                    assert r.status_code == 404, path
        finally:
            publisher.kill()
            await finish(publisher, timeout=10)
