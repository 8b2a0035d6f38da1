"""A 1080p30 publish through the real transcoder: the ladder, aligned and decodable.

ffmpeg publishes 1080p30 with B-frames over RTMP; golive encodes 720p, 480p and 360p in one
ffmpeg child and packages them with the source; the publisher's audio is muxed into every
video variant and also makes the audio-only variant. Checked with the HLS
conformance checker, PyAV and the MPD, never with our own parsers of our own output.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.hls_conformance import (
    assert_conformant,
    check_media_playlist,
    check_multivariant_playlist,
    parse_media_playlist,
)
from tests.support.media_check import DecodedMedia, decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

FRAME = 1 / 30
LADDER = {"source": (1920, 1080), "720p": (1280, 720), "480p": (854, 480), "360p": (640, 360)}
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


async def ended_playlist(client: httpx.AsyncClient, name: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        r = await client.get(f"/live/demo/{name}/index.m3u8")
        text = r.text
        if r.status_code == 200 and "#EXT-X-ENDLIST" in text:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} never ended:\n{text}")


async def decode_segments(
    client: httpx.AsyncClient, name: str, text: str
) -> dict[int, DecodedMedia]:
    """Every segment of a rendition, decoded on its own (init segment + segment)."""
    playlist = parse_media_playlist(text)
    base = f"/live/demo/{name}/"
    inits: dict[str, bytes] = {}
    out = {}
    for seg in playlist.segments:
        assert seg.map_uri is not None
        if seg.map_uri not in inits:
            inits[seg.map_uri] = (await client.get(base + seg.map_uri)).content
        body = (await client.get(base + seg.uri)).content
        out[seg.msn] = decode(inits[seg.map_uri] + body)
    return out


async def test_1080p_publish_yields_the_ladder_aligned_and_decodable(tmp_path: Path) -> None:
    async with running_server(
        tmp_path / "data",
        reconnect_grace=1.0,
        # Structure is under test here, not the encoder's quality: the cheapest preset, and no
        # shedding on a machine shared with other tests.
        transcode_preset="ultrafast",
        transcode_max_lag=30.0,
    ) as server:
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""),
            seconds=7,
            size="1920x1080",
            gop=30,
            bframes=2,
        )
        async with http_client(server) as client:
            code, err = await finish(proc)
            assert code == 0, err
            texts = {name: await ended_playlist(client, name) for name in [*LADDER, "audio"]}
            multivariant = (await client.get("/live/demo/index.m3u8")).text
            mpd = ElementTree.fromstring((await client.get("/live/demo/manifest.mpd")).content)
            decoded = {name: await decode_segments(client, name, t) for name, t in texts.items()}

    # The multivariant playlist: every rendition, declared as it is.
    assert_conformant(check_multivariant_playlist(multivariant))
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", multivariant)
    declared = {uri.split("/")[0]: attrs for attrs, uri in variants}
    assert list(declared) == [*LADDER, "audio"]  # highest first, audio-only last
    for name, (width, height) in LADDER.items():
        attrs = declared[name]
        assert f"RESOLUTION={width}x{height}" in attrs
        assert re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', attrs)
        assert re.search(r"FRAME-RATE=(29\.9\d\d|30\.000)", attrs)
        assert "AVERAGE-BANDWIDTH=" in attrs
    assert 'CODECS="mp4a.40.2"' in declared["audio"]
    assert "#EXT-X-MEDIA" not in multivariant  # the audio is muxed into each variant
    peaks = [int(re.search(r"BANDWIDTH=(\d+)", declared[n])[1]) for n in LADDER]  # type: ignore[index]
    assert peaks == sorted(peaks, reverse=True)

    # Every media playlist is conformant; every segment decodes, at the declared size.
    for text in texts.values():
        assert_conformant(check_media_playlist(text))
        assert "#EXT-X-DISCONTINUITY\n" not in text
    for name, (width, height) in LADDER.items():
        for msn, media in decoded[name].items():
            assert media.video_codec == "h264" and media.audio_codec == "aac", (name, msn)
            assert (media.width, media.height) == (width, height), (name, msn)
            assert media.video_pts, (name, msn)
    for media in decoded["audio"].values():
        assert media.audio_codec == "aac" and media.video_codec is None and media.audio_pts

    # Segment boundaries: the same media sequence numbers, starting within one frame.
    source = decoded["source"]
    assert len(source) >= 6
    for name in [*LADDER, "audio"]:
        assert set(decoded[name]) == set(source), name
    for msn, media in source.items():
        start = min(media.video_pts)
        for name in LADDER:
            other = min(decoded[name][msn].video_pts)
            assert abs(other - start) < FRAME / 2, (name, msn, start, other)
            # Every source frame was encoded once: none dropped, none duplicated.
            assert len(decoded[name][msn].video_pts) == len(media.video_pts), (name, msn)
        # Audio: the audio-only variant carries the source's audio samples, segment by
        # segment; the encoded variants carry the audio of their own time span.
        for name in [*LADDER, "audio"]:
            audio_start = min(decoded[name][msn].audio_pts)
            # The publisher interleaves by decode time, up to 2 B-frames ahead of the
            # presentation time the source's cut is measured in.
            slack = 3 * FRAME if name in ("source", "audio") else FRAME
            assert abs(audio_start - start) < slack, (name, msn, start, audio_start)

    # DASH describes the same renditions over the same segments.
    (period,) = mpd.findall("d:Period", NS)
    (video_set,) = period.findall("d:AdaptationSet", NS)  # the audio is muxed in
    reps = {r.get("id"): r for r in video_set.findall("d:Representation", NS)}
    assert list(reps) == list(LADDER)
    for name, (width, height) in LADDER.items():
        assert (reps[name].get("width"), reps[name].get("height")) == (str(width), str(height))
        template = reps[name].find("d:SegmentTemplate", NS)
        assert template is not None and template.get("startNumber") == str(min(source))
        assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", reps[name].get("codecs", ""))


async def test_a_killed_encoder_is_restarted_and_the_source_never_stops(
    tmp_path: Path,
) -> None:
    ladder = [
        {"name": "source", "kind": "source"},
        {"name": "180p", "height": 180, "bitrate": 300_000},
    ]
    async with running_server(
        tmp_path / "data", reconnect_grace=1.0, transcode_ladder=ladder
    ) as server:
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""), seconds=9, gop=30, bframes=0
        )
        async with http_client(server) as client:
            deadline = time.monotonic() + 20
            while "#EXTINF" not in (await client.get("/live/demo/180p/index.m3u8")).text:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)
            (transcoder,) = server.transcoders.running
            first = transcoder.child_pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            code, err = await finish(proc)
            assert code == 0, err
            source = await ended_playlist(client, "source")
            encoded = await ended_playlist(client, "180p")
            decoded = await decode_segments(client, "180p", encoded)
        hub_health = transcoder.health
    assert hub_health.restarts == 1 and hub_health.failed is None
    assert "#EXT-X-DISCONTINUITY\n" not in source
    assert_conformant(check_media_playlist(source))
    assert_conformant(check_media_playlist(encoded))
    assert encoded.count("#EXT-X-DISCONTINUITY\n") == 1
    before, after = encoded.split("#EXT-X-DISCONTINUITY\n")
    assert before.count("#EXTINF") >= 1 and after.count("#EXTINF") >= 3
    assert parse_media_playlist(source).segments[-1].msn >= 7
    for media in decoded.values():
        assert (media.width, media.height) == (320, 180) and media.video_pts
