"""Stream lifecycle with real publishers: reconnects, second publishers, odd encoders."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import httpx
import pytest

from golive.app import GoliveServer
from tests.hls_conformance import assert_conformant, check_media_playlist, parse_media_playlist
from tests.support.media_check import assert_continuous, decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PLAYLIST = "/live/demo/source/index.m3u8"


async def playlist_when(client: httpx.AsyncClient, predicate, timeout: float = 30) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        r = await client.get(PLAYLIST)
        if r.status_code == 200:
            text = r.text
            if predicate(text):
                return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"playlist never matched; last:\n{text}")


async def download_all(client: httpx.AsyncClient, text: str) -> tuple[bytes, list[bytes]]:
    playlist = parse_media_playlist(text)
    base = PLAYLIST.rsplit("/", 1)[0] + "/"
    inits: dict[str, bytes] = {}
    bodies = []
    for seg in playlist.segments:
        assert seg.map_uri is not None
        if seg.map_uri not in inits:
            inits[seg.map_uri] = (await client.get(base + seg.map_uri)).content
        body = (await client.get(base + seg.uri)).content
        decode(inits[seg.map_uri] + body)  # every segment decodes on its own
        bodies.append(body)
    return next(iter(inits.values())), bodies


async def test_reconnect_within_grace_continues_the_playlist(server: GoliveServer) -> None:
    url = rtmp_url(server, server.demo_key or "")
    async with http_client(server) as client:
        first = await start_publisher(url, seconds=3, realtime=False)
        assert (await finish(first))[0] == 0
        await playlist_when(client, lambda t: t.count("#EXTINF") >= 2)
        second = await start_publisher(url, seconds=3, realtime=False)
        assert (await finish(second))[0] == 0
        final = await playlist_when(client, lambda t: "#EXT-X-ENDLIST" in t)
        assert_conformant(check_media_playlist(final))
        assert final.count("#EXT-X-DISCONTINUITY\n") == 1
        playlist = parse_media_playlist(final)
        # One stream: media sequence numbers run on across the reconnect.
        msns = [s.msn for s in playlist.segments]
        assert msns == list(range(msns[0], msns[0] + len(msns)))
        assert sum(s.duration for s in playlist.segments) == pytest.approx(6, abs=0.5)
        init, bodies = await download_all(client, final)
        media = decode(init + b"".join(bodies))
        assert_continuous(media.video_pts, 0.2, label="video across reconnect")


async def test_second_publisher_is_refused_while_live(
    server: GoliveServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = rtmp_url(server, server.demo_key or "")
    caplog.set_level(logging.INFO)
    first = await start_publisher(url, seconds=6)
    async with http_client(server) as client:
        await playlist_when(client, lambda t: "#EXTINF" in t)
        second = await start_publisher(url, seconds=2)
        code, err = await finish(second, timeout=20)
        assert code != 0
        assert "already live" in err
        assert "already live" in caplog.text
        # The first stream is unaffected.
        assert first.returncode is None
        assert (await client.get(PLAYLIST)).status_code == 200
    assert (await finish(first))[0] == 0


async def test_wrong_stream_key_is_refused(
    server: GoliveServer, caplog: pytest.LogCaptureFixture
) -> None:
    proc = await start_publisher(rtmp_url(server, "live_not-a-real-key-at-all"), seconds=2)
    code, err = await finish(proc, timeout=20)
    assert code != 0
    assert "Invalid stream key" in err
    assert "unknown stream key" in caplog.text
    assert "not-a-real-key" not in caplog.text  # keys are never logged whole


async def test_publisher_without_keyframes_is_disconnected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_server(tmp_path / "d", keyframe_timeout=1.0) as srv:
        # The noise bitstream filter drops every keyframe packet before it is sent.
        proc = await start_publisher(
            rtmp_url(srv, srv.demo_key or ""), seconds=8, extra=["-bsf:v", "noise=drop=key"]
        )
        code, err = await finish(proc, timeout=30)
        assert code != 0
        assert "no keyframe" in err
        assert "no keyframe" in caplog.text
        async with http_client(srv) as client:
            assert (await client.get("/live/demo/index.m3u8")).status_code == 404


@pytest.mark.parametrize(
    ("video", "audio", "codecs"),
    [(False, True, '"mp4a.40.2"'), (True, False, '"avc1.')],
    ids=["audio-only", "video-only"],
)
async def test_single_track_streams(
    server: GoliveServer, video: bool, audio: bool, codecs: str
) -> None:
    proc = await start_publisher(
        rtmp_url(server, server.demo_key or ""), seconds=4, video=video, audio=audio, realtime=False
    )
    assert (await finish(proc))[0] == 0
    async with http_client(server) as client:
        final = await playlist_when(client, lambda t: "#EXT-X-ENDLIST" in t)
        assert_conformant(check_media_playlist(final))
        multivariant = (await client.get("/live/demo/index.m3u8")).text
        assert f"CODECS={codecs}" in multivariant
        init, bodies = await download_all(client, final)
        media = decode(init + b"".join(bodies))
        if audio:
            assert_continuous(media.audio_pts, 1024 / 48000, label="audio")
            assert not media.video_pts
        else:
            assert_continuous(media.video_pts, 1 / 30, label="video")
            assert not media.audio_pts


async def test_obs_default_keyframe_interval(server: GoliveServer) -> None:
    # OBS's "auto" keyframe interval is about 8 s: segments that long, never above TARGETDURATION.
    proc = await start_publisher(
        rtmp_url(server, server.demo_key or ""), seconds=26, gop=250, realtime=False
    )
    assert (await finish(proc))[0] == 0
    async with http_client(server) as client:
        final = await playlist_when(client, lambda t: "#EXT-X-ENDLIST" in t)
        assert_conformant(check_media_playlist(final))
        playlist = parse_media_playlist(final)
        assert playlist.target_duration >= 9
        assert max(s.duration for s in playlist.segments) == pytest.approx(250 / 30, abs=0.05)
        assert len(playlist.segments) == 4


async def test_rtmp_timestamp_wrap(server: GoliveServer) -> None:
    # RTMP timestamps are 32-bit milliseconds: start 2 s before they wrap around.
    offset = str((2**32 - 2000) / 1000)
    proc = await start_publisher(
        rtmp_url(server, server.demo_key or ""),
        seconds=5,
        realtime=False,
        extra=["-output_ts_offset", offset],
    )
    assert (await finish(proc))[0] == 0
    async with http_client(server) as client:
        final = await playlist_when(client, lambda t: "#EXT-X-ENDLIST" in t)
        assert_conformant(check_media_playlist(final))
        assert "#EXT-X-DISCONTINUITY\n" not in final
        init, bodies = await download_all(client, final)
        media = decode(init + b"".join(bodies))
        assert_continuous(media.video_pts, 1 / 30, label="video across the wrap")
        assert len(media.video_pts) == 150
