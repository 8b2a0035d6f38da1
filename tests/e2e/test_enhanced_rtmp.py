"""HEVC and AV1 over enhanced RTMP, end to end.

The bundled ffmpeg publishes HEVC (libx265) or AV1 (libsvtav1) with AAC over RTMP, as OBS 30+
and ffmpeg >= 6.1 do (enhanced-RTMP FourCC video tags). golive serves the source passthrough as
its own rendition (hvc1 / av01 CODECS) and, because no rung of the default ladder fits a
320x240 source, adds its H.264 fallback rendition so every browser can play. A publisher whose
hvcC is broken is told why and disconnected. Checked with PyAV and the HLS conformance checker.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from golive.ingest.rtmp.chunk_stream import ChunkStreamReader, ChunkStreamWriter
from golive.media import amf0
from tests.hls_conformance import (
    assert_conformant,
    check_multivariant_playlist,
    parse_media_playlist,
)
from tests.support.media_check import DecodedMedia, decode
from tests.support.publisher import ffmpeg_exe, finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
ENCODERS = {
    "hevc": [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "keyint=30:log-level=error",
    ],
    "av1": ["-c:v", "libsvtav1", "-preset", "12", "-g", "30"],
}
# CODECS of the source rendition, and the names PyAV's decoder may have.
SOURCE = {
    "hevc": (r"hvc1\.1\.6\.L\d+\.90", {"hevc"}),
    "av1": (r"av01\.0\.\d\dM\.08", {"av1", "libdav1d"}),
}


def publish_args(url: str, codec: str, seconds: float, size: str = "320x240") -> list[str]:
    return [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds), "-pix_fmt", "yuv420p", *ENCODERS[codec],
        "-c:a", "aac", "-b:a", "96k", "-f", "flv", url,
    ]  # fmt: skip


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


async def decode_segments(client: httpx.AsyncClient, name: str, text: str) -> list[DecodedMedia]:
    """Every segment of a rendition, decoded on its own (init segment + segment)."""
    base = f"/live/demo/{name}/"
    inits: dict[str, bytes] = {}
    out = []
    for seg in parse_media_playlist(text).segments:
        assert seg.map_uri is not None
        if seg.map_uri not in inits:
            inits[seg.map_uri] = (await client.get(base + seg.map_uri)).content
        out.append(decode(inits[seg.map_uri] + (await client.get(base + seg.uri)).content))
    return out


@pytest.mark.parametrize(
    ("codec", "ladder", "size"),
    [
        # The default ladder: no rung fits 320x240, so only the fallback encodes H.264.
        ("hevc", None, "320x240"),
        ("av1", None, "320x240"),
        # A passthrough channel (as a stream over max_transcoders gets) still gets H.264; the
        # default ladder would have made 360p from this source instead.
        ("hevc", "passthrough", "640x480"),
    ],
)
async def test_enhanced_rtmp_publish_is_served_with_an_h264_rendition(
    tmp_path: Path, codec: str, ladder: str | None, size: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="golive.transcode")
    overrides: dict[str, object] = {"channel_ladders": {"demo": ladder}} if ladder else {}
    async with running_server(
        tmp_path / "data",
        reconnect_grace=1.0,
        transcode_preset="ultrafast",
        transcode_max_lag=30.0,
        **overrides,
    ) as server:
        proc = await asyncio.create_subprocess_exec(
            *publish_args(rtmp_url(server, server.demo_key or ""), codec, seconds=5, size=size),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        async with http_client(server) as client:
            code, err = await finish(proc)
            assert code == 0, err
            texts = {n: await ended_playlist(client, n) for n in ("source", "h264", "audio")}
            multivariant = (await client.get("/live/demo/index.m3u8")).text
            mpd = ElementTree.fromstring((await client.get("/live/demo/manifest.mpd")).content)
            decoded = {n: await decode_segments(client, n, t) for n, t in texts.items()}

    assert_conformant(check_multivariant_playlist(multivariant))
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", multivariant)
    declared = {uri.split("/")[0]: attrs for attrs, uri in variants}
    assert set(declared) == {"source", "h264", "audio"}
    source_codec, decoders = SOURCE[codec]
    assert re.search(f'CODECS="{source_codec},mp4a\\.40\\.2"', declared["source"])
    assert re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', declared["h264"])
    for name in ("source", "h264"):
        assert f"RESOLUTION={size}" in declared[name]
    assert any(
        f"adding the H.264 rendition h264 ({size})" in r.getMessage() for r in caplog.records
    )

    for name, names in (("source", decoders), ("h264", {"h264"})):
        assert len(decoded[name]) >= 2, name
        for media in decoded[name]:
            assert media.video_codec in names and media.audio_codec == "aac", name
            assert f"{media.width}x{media.height}" == size, name
            assert media.video_pts and media.audio_pts, name
    frames = {n: sum(len(m.video_pts) for m in decoded[n]) for n in ("source", "h264")}
    # 5 s at 30 fps. A source segment decoded on its own may drop the leading (RASL) pictures
    # of an open-GOP HEVC CRA keyframe; the H.264 rendition was encoded from the whole stream.
    assert 140 <= frames["source"] <= frames["h264"] <= 151, frames

    # DASH: the source and the H.264 rendition in an AdaptationSet each.
    (period,) = mpd.findall("d:Period", NS)
    codecs = {
        r.get("id"): (s.get("id"), r.get("codecs", ""))
        for s in period.findall("d:AdaptationSet", NS)
        for r in s.findall("d:Representation", NS)
    }
    assert re.fullmatch(f"{source_codec},mp4a\\.40\\.2", codecs["source"][1])
    assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", codecs["h264"][1])
    assert codecs["source"][0] != codecs["h264"][0]


# -- a broken hvcC ------------------------------------------------------------------------------


def _chunks(writer: ChunkStreamWriter, csid: int, type_id: int, stream: int, body: bytes) -> bytes:
    return writer.write(csid, type_id, stream, 0, body)


async def _raw_publish(port: int, key: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x03" + bytes(1536))
    s0s1s2 = await asyncio.wait_for(reader.readexactly(1 + 2 * 1536), 5)
    w = ChunkStreamWriter()
    out = s0s1s2[1:1537]
    connect = {"app": "live", "tcUrl": "rtmp://127.0.0.1/live", "fourCcList": ["hvc1"]}
    out += _chunks(w, 3, 20, 0, amf0.encode("connect", 1.0, connect))
    out += _chunks(w, 3, 20, 0, amf0.encode("createStream", 2.0, None))
    out += _chunks(w, 8, 20, 1, amf0.encode("publish", 3.0, None, key, "live"))
    writer.write(out)
    await writer.drain()
    return reader, writer


async def _read_until_closed(
    reader: asyncio.StreamReader, chunks: ChunkStreamReader
) -> list[list[object]]:
    """Every AMF0 command the server sends until it closes the connection."""
    commands: list[list[object]] = []
    async with asyncio.timeout(10):
        while data := await reader.read(65536):
            for msg in chunks.feed(data):
                if msg.type_id == 20:
                    commands.append(amf0.decode_all(msg.payload))
    return commands


@pytest.mark.timeout(60)
async def test_broken_hvcc_fails_the_publish_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A valid header with zero NAL unit arrays: no VPS, SPS or PPS.
    hvcc = bytes([1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 60, 0xF0, 0, 0xFC, 0xFD])
    hvcc += bytes([0xF8, 0xF8, 0, 0, 0x0F, 0])
    async with running_server(tmp_path / "data") as server:
        assert server.demo_key is not None
        reader, writer = await _raw_publish(server.rtmp_port, server.demo_key)
        try:
            # Wait for the publish to be accepted, then send the enhanced SequenceStart.
            chunks = ChunkStreamReader()
            async with asyncio.timeout(10):
                started = False
                while not started:
                    data = await reader.read(65536)
                    assert data, "closed before the publish started"
                    for msg in chunks.feed(data):
                        if msg.type_id == 20:
                            values = amf0.decode_all(msg.payload)
                            info = values[3] if len(values) > 3 else None
                            started = isinstance(info, dict) and info.get("code") == (
                                "NetStream.Publish.Start"
                            )
            writer.write(ChunkStreamWriter().write(6, 9, 1, 0, b"\x90hvc1" + hvcc))
            await writer.drain()
            commands = await _read_until_closed(reader, chunks)
        finally:
            writer.close()
        statuses = [c[3] for c in commands if c and c[0] == "onStatus" and len(c) > 3]
        errors = [s for s in statuses if isinstance(s, dict) and s.get("level") == "error"]
        assert errors, commands
        assert errors[0]["description"] == "bad HEVC sequence header: hvcC record has no VPS"
        assert any("hvcC record has no VPS" in r.getMessage() for r in caplog.records)

        # Other streams are unaffected: an H.264 publish goes live on the same server.
        proc = await start_publisher(
            rtmp_url(server, server.demo_key), seconds=2, size="320x240", realtime=False
        )
        code, err = await finish(proc)
        assert code == 0, err
