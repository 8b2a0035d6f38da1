"""RtmpServer end to end: a real ffmpeg publisher, and hostile raw-socket clients."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

import imageio_ffmpeg
import pytest

from golive.ingest.rtmp.chunk_stream import ChunkStreamReader, ChunkStreamWriter
from golive.ingest.rtmp.server import (
    PublishRefused,
    PublishRequest,
    RtmpLimits,
    RtmpServer,
    StreamSink,
)
from golive.media import amf0
from golive.media.frame import VIDEO_TRACK_ID, Frame, Track, TrackKind

pytestmark = pytest.mark.e2e

LOGGER = "golive.ingest.rtmp"
GOOD_KEY = "KEY0123456789"
BAD_KEY_DESCRIPTION = "Invalid stream key (test authorizer)"


@dataclass
class RecordingSink:
    """Stands in for the live layer: records what one publish delivered."""

    request: PublishRequest
    tracks: list[Track] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    metadata: list[Mapping[str, object]] = field(default_factory=list)
    closes: list[str] = field(default_factory=list)
    kick_after_frames: int | None = None

    def on_track(self, track: Track) -> None:
        self.tracks.append(track)

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        if self.kick_after_frames is not None and len(self.frames) == self.kick_after_frames:
            self.request.disconnect("kicked by the live layer (test)")

    def on_metadata(self, metadata: Mapping[str, object]) -> None:
        self.metadata.append(metadata)

    def on_close(self, reason: str) -> None:
        self.closes.append(reason)


@dataclass
class Harness:
    server: RtmpServer
    sinks: list[RecordingSink]
    kick_after_frames: int | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, key: str = GOOD_KEY) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"


@contextlib.asynccontextmanager
async def running(**limits: object) -> AsyncIterator[Harness]:
    sinks: list[RecordingSink] = []
    harness: Harness

    async def authorize(request: PublishRequest) -> StreamSink:
        if request.stream_name != GOOD_KEY:
            raise PublishRefused("NetStream.Publish.BadName", BAD_KEY_DESCRIPTION)
        sink = RecordingSink(request, kick_after_frames=harness.kick_after_frames)
        sinks.append(sink)
        return sink

    server = RtmpServer(authorize, RtmpLimits(**limits))  # type: ignore[arg-type]
    harness = Harness(server, sinks)
    await server.start("127.0.0.1", 0)
    try:
        yield harness
    finally:
        await server.close()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running(max_message_size=1024 * 1024) as h:
        yield h


# -- helpers -------------------------------------------------------------------------------


def ffmpeg_args(url: str, *, seconds: float = 3, video: Sequence[str] = ()) -> list[str]:
    return [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        *(video or ("-c:v", "libx264", "-preset", "ultrafast", "-g", "30")),
        "-c:a",
        "aac",
        "-t",
        str(seconds),
        "-f",
        "flv",
        url,
    ]


async def run_ffmpeg(url: str, **kw: object) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *ffmpeg_args(url, **kw),  # type: ignore[arg-type]
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace")


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


class RawClient:
    """A hand-driven RTMP client on a plain socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.chunks = ChunkStreamWriter()
        self.incoming = ChunkStreamReader()

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def handshake(self) -> None:
        self.writer.write(b"\x03" + bytes(1536))
        s0s1s2 = await asyncio.wait_for(self.reader.readexactly(1 + 2 * 1536), 5)
        self.writer.write(s0s1s2[1:1537])  # C2 echoes S1
        await self.writer.drain()

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def command(self, *values: object, csid: int = 3, msid: int = 0) -> None:
        self.send(self.chunks.write(csid, 20, msid, 0, amf0.encode(*values)))

    async def connect(self) -> list[object]:
        """Send connect and return the decoded ``_result``/``_error``."""
        self.command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live"})
        return await self.next_command()

    async def next_command(self) -> list[object]:
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            assert data, "connection closed"
            for msg in self.incoming.feed(data):
                if msg.type_id == 20:
                    return amf0.decode_all(msg.payload)

    async def closed_by_server(self, timeout: float = 5.0) -> None:
        """Read until EOF (the server closed the connection)."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    data = await self.reader.read(65536)
                except ConnectionError:
                    return
                if not data:
                    return

    def close(self) -> None:
        self.writer.close()


async def assert_serving(h: Harness) -> None:
    """The server still completes a handshake and a connect."""
    client = await RawClient.open(h.port)
    try:
        await client.handshake()
        reply = await client.connect()
        assert reply[0] == "_result"
        info = reply[3]
        assert isinstance(info, dict) and info["code"] == "NetConnection.Connect.Success"
    finally:
        client.close()


def warnings_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING
    )


def check_publish(sink: RecordingSink, seconds: float = 3) -> None:
    kinds = {t.kind: t for t in sink.tracks}
    assert kinds[TrackKind.VIDEO].sample_entry == "avc1"
    assert kinds[TrackKind.AUDIO].sample_entry == "mp4a"
    assert (kinds[TrackKind.VIDEO].width, kinds[TrackKind.VIDEO].height) == (320, 240)
    video = [f for f in sink.frames if f.track_id == VIDEO_TRACK_ID]
    audio = [f for f in sink.frames if f.track_id == kinds[TrackKind.AUDIO].id]
    expected = round(30 * seconds)
    assert expected - 3 <= len(video) <= expected + 3
    assert video[0].keyframe
    assert sum(f.keyframe for f in video) >= seconds - 1
    for frames in (video, audio):
        dts = [f.dts for f in frames]
        assert all(b > a for a, b in itertools.pairwise(dts)), "dts must increase"
    assert len(audio) > 40 * seconds  # 48 kHz AAC: 46.9 frames per second
    assert sink.metadata and sink.metadata[0]["width"] == 320.0


# -- a real publisher ------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_ffmpeg_publish(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    rc, err = await run_ffmpeg(harness.url())
    assert rc == 0, err
    await wait_for(lambda: harness.sinks and harness.sinks[0].closes)
    (sink,) = harness.sinks
    assert sink.request.app == "live"
    assert sink.request.stream_name == GOOD_KEY
    check_publish(sink)
    assert sink.closes == ["publisher unpublished"]
    await asyncio.sleep(0.2)
    assert sink.closes == ["publisher unpublished"]  # exactly once, also after the TCP close
    assert GOOD_KEY not in caplog.text
    assert f"live/{GOOD_KEY[:4]}…: publishing" in caplog.text
    await wait_for(lambda: harness.server.connection_count == 0)


@pytest.mark.timeout(60)
def test_ffmpeg_publish_on_uvloop() -> None:
    # The app may run on uvloop, whose transports are not asyncio classes.
    import uvloop

    async def main() -> RecordingSink:
        async with running() as h:
            rc, err = await run_ffmpeg(h.url(), seconds=2)
            assert rc == 0, err
            await wait_for(lambda: h.sinks and h.sinks[0].closes)
            return h.sinks[0]

    sink = uvloop.run(main())
    check_publish(sink, seconds=2)
    assert sink.closes == ["publisher unpublished"]


@pytest.mark.timeout(60)
async def test_query_string_is_split_off(harness: Harness) -> None:
    rc, err = await run_ffmpeg(harness.url(f"{GOOD_KEY}?token=abc"), seconds=1)
    assert rc == 0, err
    (sink,) = harness.sinks
    assert (sink.request.stream_name, sink.request.query) == (GOOD_KEY, "token=abc")


@pytest.mark.timeout(60)
async def test_wrong_key_is_refused(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    rc, err = await run_ffmpeg(harness.url("WRONGKEY42"))
    assert rc != 0
    assert BAD_KEY_DESCRIPTION in err
    log = warnings_text(caplog)
    assert "publish refused" in log and BAD_KEY_DESCRIPTION in log
    assert "live/WRON…" in log
    assert "WRONGKEY42" not in caplog.text
    assert harness.sinks == []
    await assert_serving(harness)


@pytest.mark.timeout(60)
async def test_unsupported_codec_is_explained(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    vp9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8")
    rc, err = await run_ffmpeg(harness.url(), video=vp9)
    assert rc != 0
    assert "VP9" in err and "not supported" in err
    assert "VP9" in warnings_text(caplog)
    await wait_for(lambda: harness.sinks and harness.sinks[0].closes)
    (sink,) = harness.sinks
    assert len(sink.closes) == 1 and "VP9" in sink.closes[0]
    await assert_serving(harness)


@pytest.mark.timeout(60)
async def test_live_layer_can_disconnect_the_publisher(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    harness.kick_after_frames = 20
    rc, _err = await run_ffmpeg(harness.url(), seconds=5)
    assert rc != 0
    await wait_for(lambda: harness.sinks and harness.sinks[0].closes)
    (sink,) = harness.sinks
    assert sink.closes == ["kicked by the live layer (test)"]
    assert len(sink.frames) < 60
    assert "kicked by the live layer" in warnings_text(caplog)
    await assert_serving(harness)


# -- hostile clients -------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_malformed_handshake(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    client = await RawClient.open(harness.port)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.closed_by_server()
    assert "bad handshake" in warnings_text(caplog)
    assert "127.0.0.1:" in warnings_text(caplog)
    await assert_serving(harness)


async def _after_connect(h: Harness) -> RawClient:
    client = await RawClient.open(h.port)
    await client.handshake()
    assert (await client.connect())[0] == "_result"
    return client


@pytest.mark.timeout(30)
async def test_chunk_header_on_unknown_chunk_stream(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    client = await _after_connect(harness)
    client.send(b"\x49" + bytes(7))  # type 1 header on chunk stream 9, never opened
    await client.closed_by_server()
    assert "chunk stream 9, which no type 0 header opened" in warnings_text(caplog)
    await assert_serving(harness)


@pytest.mark.timeout(30)
async def test_oversize_message_length(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    client = await _after_connect(harness)
    # Type 0 header announcing a 2 MiB video message before any publish: until a publish is
    # accepted every message gets the 64 KiB command limit.
    client.send(b"\x06" + bytes(3) + (2 * 1024 * 1024).to_bytes(3, "big") + b"\x09" + bytes(4))
    await client.closed_by_server()
    assert "exceeds the 65536-byte limit for media messages" in warnings_text(caplog)
    await assert_serving(harness)


@pytest.mark.timeout(30)
async def test_oversize_set_chunk_size(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    client = await _after_connect(harness)
    client.send(client.chunks.write(2, 1, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
    await client.closed_by_server()
    assert "Set Chunk Size 2147483647 exceeds" in warnings_text(caplog)
    await assert_serving(harness)


@pytest.mark.timeout(30)
async def test_truncated_amf_in_connect(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    client = await RawClient.open(harness.port)
    await client.handshake()
    body = amf0.encode("connect", 1.0, {"app": "live", "tcUrl": "rtmp://x/live"})[:-6]
    client.send(client.chunks.write(3, 20, 0, 0, body))
    await client.closed_by_server()
    assert "malformed AMF0 in command message" in warnings_text(caplog)
    await assert_serving(harness)


@pytest.mark.timeout(30)
async def test_play_is_refused(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    client = await _after_connect(harness)
    client.command("createStream", 2.0, None)
    await client.next_command()
    client.command("play", 3.0, None, GOOD_KEY, csid=8, msid=1)
    status = await client.next_command()
    assert status[0] == "onStatus"
    info = status[3]
    assert isinstance(info, dict) and info["code"] == "NetStream.Play.Failed"
    await client.closed_by_server()
    assert "play refused" in warnings_text(caplog)


@pytest.mark.timeout(30)
async def test_silent_client_times_out(caplog: pytest.LogCaptureFixture) -> None:
    async with running(handshake_timeout=0.5) as h:
        client = await RawClient.open(h.port)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await client.closed_by_server(timeout=5)
        assert 0.4 <= loop.time() - start < 3
        assert "no publish within 0.5 s" in warnings_text(caplog)
        await assert_serving(h)


@pytest.mark.timeout(30)
async def test_idle_client_times_out(caplog: pytest.LogCaptureFixture) -> None:
    async with running(idle_timeout=0.5) as h:
        client = await _after_connect(h)
        await client.closed_by_server(timeout=5)
        assert "no data for" in warnings_text(caplog)


@pytest.mark.timeout(30)
async def test_connection_limit(caplog: pytest.LogCaptureFixture) -> None:
    async with running(max_connections=3) as h:
        clients = [await RawClient.open(h.port) for _ in range(3)]
        await wait_for(lambda: h.server.connection_count == 3)
        extra = await RawClient.open(h.port)
        await extra.closed_by_server()
        assert "connection refused" in warnings_text(caplog)
        for c in clients:
            c.close()
        await wait_for(lambda: h.server.connection_count == 0)
        await assert_serving(h)


@pytest.mark.timeout(90)
async def test_many_idle_connections_while_ffmpeg_publishes() -> None:
    async with running(max_message_size=1024 * 1024, max_connections_per_address=1000) as h:
        await _many_idle_connections_while_ffmpeg_publishes(h)


async def _many_idle_connections_while_ffmpeg_publishes(harness: Harness) -> None:
    # All from 127.0.0.1, hence the raised per-address limit.
    opened = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", harness.port) for _ in range(200))
    )
    try:
        # Half of them start a handshake and stall; the rest say nothing at all.
        for _, writer in opened[:100]:
            writer.write(b"\x03" + bytes(700))
        await wait_for(lambda: harness.server.connection_count >= 200)
        rc, err = await run_ffmpeg(harness.url())
        assert rc == 0, err
        await wait_for(lambda: harness.sinks and harness.sinks[0].closes)
        check_publish(harness.sinks[0])
    finally:
        for _, writer in opened:
            writer.close()
    await wait_for(lambda: harness.server.connection_count == 0)


@pytest.mark.timeout(30)
async def test_server_close_ends_publishers() -> None:
    async with running() as h:
        proc = await asyncio.create_subprocess_exec(
            *ffmpeg_args(h.url(), seconds=20),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await wait_for(lambda: h.sinks and len(h.sinks[0].frames) > 10, timeout=15)
            await h.server.close()
            assert h.sinks[0].closes == ["server is shutting down"]
            assert h.server.connection_count == 0
            assert await asyncio.wait_for(proc.wait(), 15) != 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
