"""SRT ingest end to end: real SRT callers (ffmpeg, GStreamer, libsrt) publish MPEG-TS to a
running golive; the LL-HLS output is decoded with PyAV."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from golive.app import GoliveServer
from golive.ingest.srt import libsrt
from golive.ingest.srt.listener import SrtLimits, SrtPublish, SrtRefused, SrtServer
from tests.hls_conformance import parse_media_playlist
from tests.support.media_check import DecodedMedia, assert_continuous, decode
from tests.support.publisher import ffmpeg_exe, finish
from tests.support.server import http_client, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LOGGER = "golive.ingest.srt"
PASSPHRASE = "correct horse battery"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def srt_server(tmp_path: Path, **overrides: object) -> AsyncIterator[GoliveServer]:
    settings: dict[str, object] = {
        "srt_port": free_udp_port(),
        "reconnect_grace": 1.0,
        "transcode_ladder": [{"name": "source", "kind": "source"}],
        **overrides,
    }
    async with running_server(tmp_path / "data", **settings) as server:
        assert server.srt is not None and server.srt.port == settings["srt_port"]
        yield server


def srt_url(server: GoliveServer, stream_id: str, **params: str) -> str:
    assert server.srt is not None
    query = "&".join([f"streamid={quote(stream_id, safe=':/')}", "pkt_size=1316"])
    query += "".join(f"&{k}={quote(v)}" for k, v in params.items())
    return f"srt://127.0.0.1:{server.srt.port}?{query}"


H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p")
HEVC = (
    "-c:v",
    "libx265",
    "-preset",
    "ultrafast",
    "-x265-params",
    "log-level=error:keyint=30:bframes=0",
)


def ffmpeg_ts_args(
    output: list[str], seconds: float, *, realtime: bool = True, video: tuple[str, ...] = H264
) -> list[str]:
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    if realtime:
        args.append("-re")
    args += ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"]
    args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)]
    args += [*video, "-c:a", "aac", "-b:a", "96k", "-f", "mpegts", *output]
    return args


async def start_ffmpeg(
    url: str, seconds: float = 4, video: tuple[str, ...] = H264
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ffmpeg_ts_args([url], seconds, video=video),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def ended_playlist(client: httpx.AsyncClient, channel: str, timeout: float = 30) -> str:
    """The channel's source playlist once the stream has ended (ENDLIST)."""
    path = f"/live/{channel}/source/index.m3u8"
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        r = await client.get(path)
        text = r.text if r.status_code == 200 else ""
        if "#EXT-X-ENDLIST" in text:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} never ended: {text!r}")


async def decoded_channel(
    client: httpx.AsyncClient, channel: str, codec: str = "h264"
) -> DecodedMedia:
    """Every segment of the ended stream, downloaded and decoded as one fMP4."""
    playlist = parse_media_playlist(await ended_playlist(client, channel))
    base = f"/live/{channel}/source/"
    init = await client.get(base + playlist.segments[0].map_uri)
    assert init.status_code == 200
    whole = bytearray(init.content)
    for seg in playlist.segments:
        r = await client.get(base + seg.uri)
        assert r.status_code == 200
        whole += r.content
    media = decode(bytes(whole))
    assert media.video_codec == codec and media.audio_codec == "aac"
    assert (media.width, media.height) == (320, 240)
    return media


def assert_plays(media: DecodedMedia, seconds: float) -> None:
    assert len(media.video_pts) >= 30 * (seconds - 1.5), len(media.video_pts)
    assert_continuous(media.video_pts, 1 / 30, label="video")
    assert len(media.audio_pts) >= 40 * (seconds - 1.5)


def libsrt_caller(stream_id: str | None, passphrase: str = "") -> int:
    """A libsrt caller socket, not connected yet."""
    srt = libsrt.load()
    sock = srt.create_socket()
    srt.set_int(sock, libsrt.SRTO_TRANSTYPE, libsrt.SRTT_LIVE)
    if stream_id is not None:
        srt.set_str(sock, libsrt.SRTO_STREAMID, stream_id)
    if passphrase:
        srt.set_str(sock, libsrt.SRTO_PASSPHRASE, passphrase)
    return sock


def libsrt_connect(port: int, stream_id: str | None, passphrase: str = "") -> int:
    """A libsrt caller; returns the connected socket, or raises SrtError with the reject
    reason in its text. Blocking: run it in a thread."""
    srt = libsrt.load()
    sock = libsrt_caller(stream_id, passphrase)
    try:
        srt.connect(sock, "127.0.0.1", port)
    except libsrt.SrtError:
        srt.close(sock)
        raise
    return sock


def reject_code(port: int, stream_id: str | None, passphrase: str = "") -> int:
    srt = libsrt.load()
    sock = libsrt_caller(stream_id, passphrase)
    try:
        srt.connect(sock, "127.0.0.1", port)
    except libsrt.SrtError:
        return srt.reject_reason(sock)
    finally:
        srt.close(sock)
    return 0


def libsrt_send(sock: int, data: bytes, pace: float = 0.004) -> None:
    """Send ``data`` in 1316-byte SRT payloads, paced (live mode), then close."""
    srt = libsrt.load()
    try:
        for i in range(0, len(data), 1316):
            srt.send(sock, data[i : i + 1316])
            time.sleep(pace)
        time.sleep(0.5)
    finally:
        srt.close(sock)


# -- publishing -----------------------------------------------------------------------------


async def test_ffmpeg_publishes_over_srt_and_bad_callers_are_refused_meanwhile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with srt_server(tmp_path) as server, http_client(server) as client:
        assert server.srt is not None
        port = server.srt.port
        key = server.demo_key
        assert key is not None
        good = await start_ffmpeg(srt_url(server, f"publish:{key}"), seconds=5)
        await asyncio.sleep(1.5)
        # While it streams: callers without a stream id, with a wrong key, asking to read.
        started = time.monotonic()
        for sid in ["", "publish:not-a-key-0123456789"]:
            bad = await start_ffmpeg(srt_url(server, sid) if sid else f"srt://127.0.0.1:{port}")
            code, err = await finish(bad, timeout=15)
            assert code != 0, err
        assert time.monotonic() - started < 12  # refused in the handshake, not timed out
        codes = await asyncio.gather(
            asyncio.to_thread(reject_code, port, None),
            asyncio.to_thread(reject_code, port, "publish:not-a-key-0123456789"),
            asyncio.to_thread(reject_code, port, f"#!::r=live/{key},m=request"),
            asyncio.to_thread(reject_code, port, "something-else"),
        )
        assert codes == [1400, 1401, 1405, 1400]
        code, err = await finish(good)
        assert code == 0, err
        media = await decoded_channel(client, "demo")
        assert_plays(media, 5)
    text = caplog.text
    assert "no stream id" in text
    assert "publish refused (SRT code 1401): Invalid stream key" in text
    assert "not-a-key" not in text  # the key is not logged whole
    assert "is not publish" in text


async def test_gstreamer_publishes_over_srt(tmp_path: Path) -> None:
    gst = shutil.which("gst-launch-1.0")
    if gst is None:
        pytest.skip("gst-launch-1.0 is not installed (make system-deps)")
    async with srt_server(tmp_path) as server, http_client(server) as client:
        assert server.srt is not None
        proc = await asyncio.create_subprocess_exec(
            gst,
            "-q",
            "videotestsrc",
            "num-buffers=150",
            "is-live=true",
            "!",
            "video/x-raw,width=320,height=240,framerate=30/1",
            "!",
            "x264enc",
            "tune=zerolatency",
            "key-int-max=30",
            "!",
            "h264parse",
            "!",
            "mpegtsmux",
            "name=m",
            "alignment=7",  # one SRT payload = 7 TS packets (1316 bytes)
            "!",
            "srtsink",
            f"uri=srt://127.0.0.1:{server.srt.port}",
            f"streamid=publish:{server.demo_key}",
            "audiotestsrc",
            "is-live=true",
            "num-buffers=235",
            "!",
            "audio/x-raw,rate=48000",
            "!",
            "avenc_aac",
            "!",
            "aacparse",
            "!",
            "m.",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        code, err = await finish(proc, timeout=30)
        assert code == 0, err
        media = await decoded_channel(client, "demo")
        assert_plays(media, 5)


async def test_two_publishers_on_one_port_one_in_srs_form(tmp_path: Path) -> None:
    async with srt_server(tmp_path) as server, http_client(server) as client:
        assert server.channels is not None and server.demo_key is not None
        _, second_key = await server.channels.add("second")
        first = await start_ffmpeg(srt_url(server, f"publish:{server.demo_key}"), seconds=4)
        second = await start_ffmpeg(srt_url(server, f"#!::r=live/{second_key},m=publish"), 4)
        results = await asyncio.gather(finish(first), finish(second))
        assert [code for code, _ in results] == [0, 0], results
        for channel in ("demo", "second"):
            assert_plays(await decoded_channel(client, channel), 4)


async def test_hevc_over_srt(tmp_path: Path) -> None:
    async with srt_server(tmp_path) as server, http_client(server) as client:
        proc = await start_ffmpeg(srt_url(server, f"publish:{server.demo_key}"), 4, HEVC)
        code, err = await finish(proc)
        assert code == 0, err
        multivariant = (await client.get("/live/demo/index.m3u8")).text
        assert 'CODECS="hvc1.1.' in multivariant
        assert_plays(await decoded_channel(client, "demo", "hevc"), 4)


async def test_passphrase(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with srt_server(tmp_path, srt_passphrase=PASSPHRASE) as server:
        assert server.srt is not None
        async with http_client(server) as client:
            sid = f"publish:{server.demo_key}"
            for params in ({}, {"passphrase": "wrong horse battery"}):
                proc = await start_ffmpeg(srt_url(server, sid, **params), seconds=2)
                code, err = await finish(proc, timeout=15)
                assert code != 0, (params, err)
            # Back to back: libsrt checks the passphrase after our listen callback, which
            # only checked the key; nothing went live, so nothing is held for the next one.
            codes = [
                await asyncio.to_thread(reject_code, server.srt.port, sid, passphrase)
                for passphrase in ("", "wrong horse battery")
            ]
            # libsrt's own reasons: passphrase missing (SRT_REJ_UNSECURE), wrong (BADSECRET).
            assert codes == [11, 10], codes
            # The channel never went live: no stream, no stream-started (nor its webhook, nor
            # a recording), so the right caller right after is not "already live".
            assert server.registry.hub("demo") is None
            assert "stream started" not in caplog.text
            proc = await start_ffmpeg(srt_url(server, sid, passphrase=PASSPHRASE), seconds=4)
            code, err = await finish(proc)
            assert code == 0, err
            assert_plays(await decoded_channel(client, "demo"), 4)
    text = caplog.text
    assert text.count("the SRT handshake failed right after the publish check passed") == 4
    assert text.count("stream started") == 1
    assert "already live" not in text


async def test_corrupt_transport_streams_do_not_disturb_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A real TS, then damaged: packets dropped (continuity), bytes flipped, a cut PES.
    ts_proc = await asyncio.create_subprocess_exec(
        *ffmpeg_ts_args(["pipe:1"], 4, realtime=False),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ts, err = await ts_proc.communicate()
    assert ts_proc.returncode == 0, err
    rng = random.Random(7)
    packets = [ts[i : i + 188] for i in range(0, len(ts), 188)]
    damaged = bytearray()
    for i, packet in enumerate(packets):
        if i > 50 and rng.random() < 0.01:
            continue  # lost
        if i > 50 and rng.random() < 0.005:
            packet = bytes(rng.randrange(256) for _ in range(188))  # noise
        damaged += packet
    damaged += packets[-1][:100]  # ends in a partial packet
    garbage = bytes(rng.randrange(256) for _ in range(300_000))

    async with srt_server(tmp_path) as server, http_client(server) as client:
        assert server.srt is not None and server.channels is not None
        port = server.srt.port
        _, corrupt_key = await server.channels.add("corrupt")
        _, garbage_key = await server.channels.add("garbage")
        good = await start_ffmpeg(srt_url(server, f"publish:{server.demo_key}"), seconds=5)
        corrupt_sock = await asyncio.to_thread(libsrt_connect, port, f"publish:{corrupt_key}")
        garbage_sock = await asyncio.to_thread(libsrt_connect, port, f"publish:{garbage_key}")
        await asyncio.gather(
            asyncio.to_thread(libsrt_send, corrupt_sock, bytes(damaged), 0.002),
            asyncio.to_thread(libsrt_send, garbage_sock, garbage, 0.002),
        )
        code, err = await finish(good)
        assert code == 0, err
        assert_plays(await decoded_channel(client, "demo"), 5)
        # The damaged stream went on: it was packaged and decodes.
        corrupt = await decoded_channel(client, "corrupt")
        assert len(corrupt.video_pts) > 30
        # The garbage publisher produced nothing to play and ended.
        assert (await client.get("/live/garbage/source/index.m3u8")).status_code == 404
    text = caplog.text
    assert "MPEG-TS continuity" in text or "MPEG-TS sync" in text
    assert "Traceback" not in text


# -- the listener's limits, with a stand-in for the live layer -----------------------------


class CountingSink:
    def __init__(self, delay: float = 0.0) -> None:
        self.frames = 0
        self.closes: list[str] = []
        self.delay = delay

    def on_track(self, track: object) -> None:
        pass

    def on_frame(self, frame: object) -> None:
        self.frames += 1
        if self.delay:
            time.sleep(self.delay)  # a loop that cannot keep up

    def on_close(self, reason: str) -> None:
        self.closes.append(reason)


@asynccontextmanager
async def bare_listener(
    sinks: list[CountingSink],
    delay: float = 0.0,
    refused_after_check: SrtRefused | None = None,
    **limits: object,
) -> AsyncIterator[SrtServer]:
    async def check(publish: SrtPublish) -> None:
        if publish.stream_key != "good-key-0123":
            raise SrtRefused(1401, "Invalid stream key")

    async def authorize(publish: SrtPublish) -> CountingSink:
        await check(publish)
        if refused_after_check is not None:  # another publisher got there first
            raise refused_after_check
        sink = CountingSink(delay)
        sinks.append(sink)
        return sink

    server = SrtServer(check, authorize, SrtLimits(**limits))  # type: ignore[arg-type]
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


async def test_refused_after_the_handshake_is_disconnected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    sinks: list[CountingSink] = []
    refusal = SrtRefused(1409, "Channel demo is already live")
    async with bare_listener(sinks, refused_after_check=refusal) as server:
        # The check passes, so the handshake succeeds; the admission then refuses.
        sock = await asyncio.to_thread(libsrt_connect, server.port, "publish:good-key-0123")
        srt = libsrt.load()
        try:
            # Within 3 s, before the caller's own peer idle timeout (5 s) would tell it.
            deadline = time.monotonic() + 3
            while srt.state(sock) < libsrt.SRTS_BROKEN and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert srt.state(sock) >= libsrt.SRTS_BROKEN  # the caller sees it closed
            assert server.connection_count == 0
        finally:
            srt.close(sock)
        # A caller that sends at once is closed on its first bytes, not after a pause.
        sock = await asyncio.to_thread(libsrt_connect, server.port, "publish:good-key-0123")
        started = time.monotonic()
        with pytest.raises(libsrt.SrtError):
            await asyncio.to_thread(libsrt_send, sock, bytes(1316 * 500), 0.004)  # 2 s
        assert time.monotonic() - started < 0.8
        assert (
            await asyncio.to_thread(reject_code, server.port, "publish:bad-key-0123") == 1401
        )  # a wrong key is still refused in the handshake
    assert sinks == []
    assert (
        caplog.text.count(
            "disconnecting: publish refused after the handshake (SRT code 1409): "
            "Channel demo is already live"
        )
        == 2
    )


async def test_silent_publisher_is_disconnected(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    sinks: list[CountingSink] = []
    async with bare_listener(sinks, idle_timeout=1.0) as server:
        sock = await asyncio.to_thread(libsrt_connect, server.port, "publish:good-key-0123")
        try:
            deadline = time.monotonic() + 5
            while not (sinks and sinks[0].closes) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert sinks[0].closes == ["disconnected: no data for 1 s"]
            assert server.connection_count == 0
        finally:
            libsrt.load().close(sock)


async def test_connection_limit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    sinks: list[CountingSink] = []
    async with bare_listener(sinks, max_connections=1) as server:
        sock = await asyncio.to_thread(libsrt_connect, server.port, "publish:good-key-0123")
        try:
            await asyncio.sleep(0.2)
            code = await asyncio.to_thread(reject_code, server.port, "publish:good-key-0123")
            assert code == 1402  # SRT_REJX_OVERLOAD
        finally:
            libsrt.load().close(sock)
    assert "1 SRT connections already (max_connections)" in caplog.text


async def test_publisher_the_loop_cannot_keep_up_with_is_disconnected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    ts_proc = await asyncio.create_subprocess_exec(
        *ffmpeg_ts_args(["pipe:1"], 3, realtime=False),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ts, _ = await ts_proc.communicate()
    sinks: list[CountingSink] = []
    # Every frame blocks the loop 50 ms: the I/O thread's bytes pile up past 64 KiB.
    async with bare_listener(sinks, delay=0.05, max_pending_bytes=64 * 1024) as server:
        sock = await asyncio.to_thread(libsrt_connect, server.port, "publish:good-key-0123")
        with contextlib.suppress(libsrt.SrtError):  # the server hangs up mid-send
            await asyncio.to_thread(libsrt_send, sock, ts, 0.001)
        deadline = time.monotonic() + 20
        while not (sinks and sinks[0].closes) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert sinks[0].closes == ["disconnected: the server cannot keep up with this stream"]
    assert "cannot keep up" in caplog.text
