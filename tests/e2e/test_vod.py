"""A finished recording plays as a VOD through the origin: real publishers with a reconnect,
the local-disk object store, and every playlist and segment fetched over HTTP and decoded."""

from __future__ import annotations

import asyncio
import math
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import update

from golive.db.models import Recording
from tests.e2e.test_recording import FIRST, SECOND, wait_until_finished
from tests.hls_conformance import (
    MediaPlaylist,
    assert_conformant,
    check_media_playlist,
    check_multivariant_playlist,
    parse_media_playlist,
    parse_multivariant_playlist,
)
from tests.support.media_check import assert_continuous, decode
from tests.support.publisher import ffmpeg_exe, finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def runs(pl: MediaPlaylist) -> list[list[tuple[str, str]]]:
    """(init URI, segment URI) of each segment, split at every EXT-X-DISCONTINUITY."""
    out: list[list[tuple[str, str]]] = []
    for seg in pl.segments:
        if not out or seg.discontinuity:
            out.append([])
        assert seg.map_uri is not None
        out[-1].append((seg.map_uri, seg.uri))
    return out


async def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET ``path`` byte for byte (an HTTP client would remove its dot segments)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.partition(b"\r\n\r\n")[2]


async def mpd_video_frames(url: str) -> int:
    """The video frames FFmpeg's DASH demuxer decodes from the MPD (it reads the first Period
    only: a limitation of FFmpeg's dashdec, not of the MPD)."""
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(),
        *("-hide_banner", "-nostdin", "-v", "error", "-i", url),
        *("-map", "0:v:0", "-f", "framecrc", "-"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and not err.strip(), err.decode()
    return sum(1 for line in out.decode().splitlines() if line and not line.startswith("#"))


async def test_a_recording_with_a_reconnect_plays_as_a_vod(tmp_path: Path) -> None:
    async with running_server(
        tmp_path / "data", reconnect_grace=5.0, channel_ladders={"demo": "passthrough"}
    ) as server:
        url = rtmp_url(server, server.demo_key or "")
        assert (await finish(await start_publisher(url, seconds=FIRST)))[0] == 0
        assert (await finish(await start_publisher(url, seconds=SECOND)))[0] == 0
        assert server.registry.stop("demo", "test over", end=True)
        assert server.recordings is not None and server.db is not None
        recording = await wait_until_finished(server.recordings)
        assert recording.status == "ready"
        base = f"/vod/{recording.id}"
        objects: dict[str, bytes] = {}
        async with http_client(server) as client:
            r = await client.get(f"{base}/index.m3u8")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/vnd.apple.mpegurl")
            assert "immutable" in r.headers["cache-control"]
            assert_conformant(check_multivariant_playlist(r.text))
            variants = parse_multivariant_playlist(r.text).variants
            assert [v.uri for v in variants] == ["source/index.m3u8", "audio/index.m3u8"]
            assert variants[0].attributes["RESOLUTION"].value == "640x360"
            assert "avc1." in variants[0].attributes["CODECS"].value
            assert float(variants[0].attributes["FRAME-RATE"].value) == pytest.approx(30, abs=1)
            playlists: dict[str, MediaPlaylist] = {}
            for variant in variants:
                assert variant.uri is not None
                name = variant.uri.split("/")[0]
                r = await client.get(f"{base}/{variant.uri}")
                assert r.status_code == 200
                assert_conformant(check_media_playlist(r.text))
                pl = playlists[name] = parse_media_playlist(r.text)
                assert pl.endlist and pl.playlist_type == "VOD"
                for run in runs(pl):
                    for uri in {u for pair in run for u in pair}:
                        got = await client.get(f"{base}/{name}/{uri}")
                        assert got.status_code == 200, uri
                        kind = "video/mp4" if uri.startswith("init-") else "video/iso.segment"
                        assert got.headers["content-type"] == kind
                        assert "immutable" in got.headers["cache-control"]
                        objects[f"{name}/{uri}"] = got.content

            r = await client.get(f"{base}/manifest.mpd")
            assert r.status_code == 200 and r.headers["content-type"] == "application/dash+xml"
            mpd = ET.fromstring(r.content)
            mpd_url = f"http://127.0.0.1:{server.http_port}{base}/manifest.mpd"
            mpd_frames = await mpd_video_frames(mpd_url)

            # A Range request, a suffix range, one past the end, and HEAD.
            seg_uri = "source/" + playlists["source"].segments[1].uri
            whole = objects[seg_uri]
            r = await client.get(f"{base}/{seg_uri}", headers={"range": "bytes=100-1099"})
            assert r.status_code == 206 and r.content == whole[100:1100]
            assert r.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
            r = await client.get(f"{base}/{seg_uri}", headers={"range": "bytes=-50"})
            assert r.status_code == 206 and r.content == whole[-50:]
            r = await client.get(f"{base}/{seg_uri}", headers={"range": f"bytes={len(whole)}-"})
            assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(whole)}"
            r = await client.head(f"{base}/{seg_uri}")
            assert r.status_code == 200 and r.content == b""
            assert int(r.headers["content-length"]) == len(whole)
            assert r.headers["accept-ranges"] == "bytes"

            # No way out of the recording space, and nothing but the listed names.
            tricks = [
                f"{base}/../{recording.id}/index.m3u8",
                f"{base}/source/..%2F..%2Findex.m3u8",
                f"{base}/source%2F0.m4s",
                f"{base}/%2e%2e/index.m3u8",
                f"{base}/source/0.mp4",
                f"{base}/source/init-0.m4s",
                f"{base}/source/00.m4s.bak",
                f"{base}/Source/0.m4s",
                f"{base}/source/index.m3u8/",
                f"{base}/.hidden",
                "/vod/../recordings.db",
                "/vod/short/index.m3u8",
                f"{base}/source/-1.m4s",
                f"{base}/source/999999.m4s",  # well formed, not stored
                f"{base}/nosuch/index.m3u8",
                "/vod/AAAAAAAAAAAAAAAA/index.m3u8",  # well formed, no such recording
            ]
            for path in tricks:
                status, body = await raw_get(server.http_port, path)
                assert status in (400, 404), (path, status)
                assert b"#EXTM3U" not in body, path
            assert (await raw_get(server.http_port, f"{base}/index.m3u8"))[0] == 200

            # A private recording is not there for strangers; its owner's browser plays it.
            async with server.db.sessionmaker() as session, session.begin():
                await session.execute(
                    update(Recording)
                    .where(Recording.id == recording.id)
                    .values(visibility="private")
                )
            for path in (f"{base}/index.m3u8", f"{base}/{seg_uri}", f"{base}/manifest.mpd"):
                assert (await client.get(path)).status_code == 404, path
            assert server.users is not None and server.channels is not None
            await sign_up(client, "olivia")
            assert (await client.get(f"{base}/index.m3u8")).status_code == 404  # not hers
            owner = await server.users.by_name("olivia")
            assert owner is not None
            await server.channels.update("demo", owner_id=owner.id)
            r = await client.get(f"{base}/index.m3u8")
            assert r.status_code == 200 and r.headers["cache-control"].startswith("private")

    # Every segment decodes with its init segment.
    for name, pl in playlists.items():
        for run in runs(pl):
            for init, uri in run:
                media = decode(objects[f"{name}/{init}"] + objects[f"{name}/{uri}"])
                assert media.audio_pts, uri
                assert bool(media.video_pts) == (name == "source"), uri
    # Each timeline of the source plays through with continuous timestamps.
    source = playlists["source"]
    source_runs = runs(source)
    assert len(source_runs) == 2  # the reconnect
    for run in source_runs:
        body = objects[f"source/{run[0][0]}"] + b"".join(objects[f"source/{u}"] for _, u in run)
        decoded = decode(body)
        assert_continuous(decoded.video_pts, 0.2, label="VOD video within a timeline")
        assert_continuous(decoded.audio_pts, 0.2, label="VOD audio within a timeline")
    longest = max(s.duration for s in source.segments)
    duration = math.fsum(s.duration for s in source.segments)
    assert duration == pytest.approx(FIRST + SECOND, abs=longest)
    assert duration == pytest.approx(recording.duration, abs=0.01)

    # The MPD lists the same segments in two Periods, and FFmpeg reads it.
    periods = mpd.findall("d:Period", MPD_NS)
    assert len(periods) == 2 and mpd.get("type") == "static"
    timeline = mpd.findall(".//d:Representation[@id='source']//d:S", MPD_NS)
    listed = sum(int(s.get("r", "0")) + 1 for s in timeline)
    assert listed == len(source.segments)
    total = mpd.get("mediaPresentationDuration")
    assert total is not None and float(total[2:-1]) == pytest.approx(duration, abs=0.1)
    first = math.fsum(s.duration for s in source.segments if s.msn < len(source_runs[0]))
    assert mpd_frames == pytest.approx(first * 30, abs=3)
