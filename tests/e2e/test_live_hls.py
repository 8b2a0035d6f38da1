"""ffmpeg publishes over RTMP; the LL-HLS output is checked with a conformance checker and
decoded with PyAV."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from golive.app import GoliveServer
from tests.hls_conformance import (
    assert_conformant,
    check_media_playlist,
    check_multivariant_playlist,
    parse_media_playlist,
)
from tests.support.media_check import assert_continuous, decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def wait_for_playlist(client: httpx.AsyncClient, path: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await client.get(path)
        if r.status_code == 200:
            return r.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} never became available")


def record_publish_times(server: GoliveServer, channel: str) -> dict[tuple[int, int], float]:
    """Note when each part is published, by wrapping the live window's advance."""
    window = server.store.get(channel).renditions["source"]
    seen: dict[tuple[int, int], float] = {}
    original = window.advance

    def advance(msn: int, part: int) -> None:
        seen[(msn, part)] = time.monotonic()
        original(msn, part)

    window.advance = advance  # type: ignore[method-assign]
    return seen


async def test_publish_to_ll_hls(server: GoliveServer) -> None:
    key = server.demo_key
    assert key is not None
    proc = await start_publisher(rtmp_url(server, key), seconds=9, gop=30, bframes=2)
    async with http_client(server) as client:
        multivariant = await wait_for_playlist(client, "/live/demo/index.m3u8")
        assert_conformant(check_multivariant_playlist(multivariant))
        inf = next(x for x in multivariant.splitlines() if x.startswith("#EXT-X-STREAM-INF"))
        assert 'CODECS="avc1.' in inf and 'mp4a.40.2"' in inf
        # The audio is muxed into the video variant (one playlist per variant to follow);
        # the audio-only variant comes last.
        assert "#EXT-X-MEDIA" not in multivariant
        assert multivariant.rstrip().endswith("audio/index.m3u8")
        assert "RESOLUTION=640x360" in inf
        assert re.search(r"FRAME-RATE=(29\.9|30\.0)", inf)

        published = record_publish_times(server, "demo")
        text = await wait_for_playlist(client, "/live/demo/source/index.m3u8")
        previous = text
        assert_conformant(check_media_playlist(text))
        playlist = parse_media_playlist(text)
        hint = playlist.preload_hints[0].uri
        assert hint.endswith(".m4s")

        # Follow the live edge with blocking reloads for ~3 s, as an LL-HLS player does.
        delays: list[float] = []
        for _ in range(15):
            m = re.search(r'PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+/(\d+)\.(\d+)\.m4s"', previous)
            assert m, previous
            msn, part = int(m[1]), int(m[2])
            r = await client.get(
                "/live/demo/source/index.m3u8", params={"_HLS_msn": msn, "_HLS_part": part}
            )
            arrived = time.monotonic()
            assert r.status_code == 200, r.text
            assert "max-age" in r.headers["cache-control"]
            text = r.text
            assert_conformant(check_media_playlist(text, previous=previous))
            # Same URL, same playlist while the live edge has not moved (once it has, a
            # request for a part already published gets the newest playlist).
            window = server.store.get("demo").renditions["source"]
            edge = window.last_position
            again = await client.get(
                "/live/demo/source/index.m3u8", params={"_HLS_msn": msn, "_HLS_part": part}
            )
            if window.last_position == edge:
                assert again.text == text
            key_ = (msn, part) if (msn, part) in published else (msn + 1, 0)
            if key_ in published:
                delays.append(arrived - published[key_])
            previous = text
        assert delays, "no blocking request matched a published part"
        assert max(delays) < 0.2, f"blocking reload answered late: {delays}"

        # Delta update.
        r = await client.get("/live/demo/source/index.m3u8", params={"_HLS_skip": "YES"})
        assert r.status_code == 200
        assert_conformant(check_media_playlist(r.text, request_query={"_HLS_skip": "YES"}))

        code, err = await finish(proc)
        assert code == 0, err
        # After the grace period the playlist is closed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            final = (await client.get("/live/demo/source/index.m3u8")).text
            if "#EXT-X-ENDLIST" in final:
                break
            await asyncio.sleep(0.2)
        assert final.rstrip().endswith("#EXT-X-ENDLIST"), final
        assert_conformant(check_media_playlist(final))

        # Every segment and every part decodes; timestamps are continuous across segments.
        async def download(rendition: str, playlist_text: str) -> bytes:
            playlist = parse_media_playlist(playlist_text)
            base = f"/live/demo/{rendition}/"
            init = (await client.get(base + playlist.segments[0].map_uri)).content
            whole = bytearray(init)
            for seg in playlist.segments:
                body = (await client.get(base + seg.uri)).content
                r = await client.get(base + seg.uri)
                assert r.headers["cache-control"].endswith("immutable")
                media = decode(init + body)
                if rendition == "source":
                    assert media.video_codec == "h264" and media.audio_codec == "aac"
                    assert (media.width, media.height) == (640, 360)
                    assert abs(len(media.video_pts) - round(seg.duration * 30)) <= 1
                else:
                    assert media.audio_codec == "aac" and media.video_codec is None
                    assert media.sample_rate == 48000
                whole += body
                if seg.parts:
                    joined = b""
                    for part in seg.parts:
                        r = await client.get(base + part.uri)
                        assert r.status_code == 200
                        joined += r.content
                        decode(init + joined)
                    assert joined == body
            return bytes(whole)

        media = decode(await download("source", final))
        assert_continuous(media.video_pts, 1 / 30, label="video")
        assert_continuous(media.audio_pts, 1024 / 48000, label="muxed audio")
        assert len(media.video_pts) >= 30 * 6
        audio_final = (await client.get("/live/demo/audio/index.m3u8")).text
        assert audio_final.rstrip().endswith("#EXT-X-ENDLIST")
        assert_conformant(check_media_playlist(audio_final))
        audio = decode(await download("audio", audio_final))
        assert_continuous(audio.audio_pts, 1024 / 48000, label="audio")
        # The audio-only rendition covers the video's time span (cut where the video was cut).
        assert abs(min(audio.audio_pts) - min(media.video_pts)) < 0.05
