"""Restream end to end: golive forwards a live stream to a real nginx-rtmp (Debian's nginx
with libnginx-mod-rtmp, recording what it receives), added through the API.

What reaches nginx is the publisher's H.264 and AAC untouched (same avcC, same size: no
re-encode) and the destination reports ``live``. A destination that refuses (a closed port)
fails with a reason and retries with backoff, and one that stalls (a TCP server that accepts
and never reads) is dropped as stalled, while the live HLS stream and the nginx destinations
go on. Disabling one destination stops only it. No key appears in the log or the API's
answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from golive.app import GoliveServer
from golive.media.frame import TrackKind
from tests.support.api_tokens import bearer, user_token
from tests.support.loopback import ServiceProcess, free_port, missing_dependency
from tests.support.publisher import start_publisher
from tests.support.self_signed import write_self_signed
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import csrf_token, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
SOURCE_ONLY = [{"name": "source", "kind": "source"}]
KEYS = {
    "a": "restream-key-A-3f9c1e",
    "b": "restream-key-B-7d2a44",
    "refused": "restream-key-R-c0ffee",
    "stalled": "restream-key-S-5eed00",
}

NGINX_CONF = """\
load_module {module};
{user}
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record all;
            record_path {records};
            record_unique off;
        }}
    }}
}}
"""


class NginxRtmp(ServiceProcess):
    """nginx-rtmp on loopback; every stream it receives is recorded to ``records/<key>.flv``."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.records = root / "records"
        self.port = free_port()

    def start(self) -> None:
        nginx = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if nginx is None or not RTMP_MODULE.exists():
            missing_dependency(
                "nginx with libnginx-mod-rtmp (apt-get install nginx libnginx-mod-rtmp)"
            )
        self.records.mkdir(parents=True)
        (self.root / "logs").mkdir()
        conf = self.root / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                module=RTMP_MODULE,
                user="user root;" if os.geteuid() == 0 else "",
                prefix=self.root,
                port=self.port,
                records=self.records,
            )
        )
        self._proc = subprocess.Popen(
            [nginx, "-p", str(self.root), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self._proc.poll() is None, "nginx exited at start"
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)

    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live"

    def record_size(self, key: str) -> int:
        path = self.records / f"{key}.flv"
        return path.stat().st_size if path.exists() else 0


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxRtmp]:
    service = NginxRtmp(tmp_path / "nginx")
    service.start()
    try:
        yield service
    finally:
        service.stop()


class StallingServer:
    """Accepts TCP connections and never reads from them."""

    def __init__(self) -> None:
        self.connections: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        for writer in self.connections:
            writer.transport.abort()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with running_server(
        tmp_path / "data",
        transcode_ladder=SOURCE_ONLY,
        restream_max_buffer=256 << 10,
        restream_connect_timeout=10.0,
    ) as s:
        yield s


class Api:
    """The restream API as the owner calls it; every answer's text is kept (to look for keys)."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = bearer(token)
        self.answers: list[str] = []

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        r = await self.client.request(method, f"/api/v1{path}", headers=self.headers, **kw)
        self.answers.append(r.text)
        return r

    async def add(self, name: str, url: str) -> int:
        r = await self.call(
            "POST", "/channels/show/restreams", json={"url": url, "key": KEYS[name], "name": name}
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def statuses(self) -> dict[str, dict[str, Any]]:
        r = await self.call("GET", "/channels/show/restreams")
        assert r.status_code == 200, r.text
        return {d["name"]: d for d in r.json()}

    async def wait(
        self, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = (await self.statuses())[name]
            if check(found):
                return found
            assert time.monotonic() < deadline, f"{name} never got there: {found}"
            await asyncio.sleep(0.2)


async def hls_segments(client: httpx.AsyncClient) -> int:
    """How many segments the live source playlist has had so far."""
    r = await client.get("/live/show/source/index.m3u8")
    assert r.status_code == 200
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", r.text).group(1))  # type: ignore[union-attr]
    return sequence + r.text.count("#EXTINF")


async def wait_growing(nginx: NginxRtmp, key: str, at_least: int, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while (size := nginx.record_size(key)) < at_least:
        assert time.monotonic() < deadline, f"nginx got {size} bytes of {key[:12]}…"
        await asyncio.sleep(0.2)
    return size


def decoded(path: Path) -> tuple[dict[str, Any], bytes]:
    """Codecs, size and frames PyAV decodes from what nginx recorded; the avcC."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        info = {
            "video": video.codec_context.name,
            "audio": audio.codec_context.name,
            "size": (video.codec_context.width, video.codec_context.height),
        }
        extradata = bytes(video.codec_context.extradata or b"")
        frames = 0
        for frame in container.decode(video=0):
            assert frame.width == 640 and frame.height == 360
            frames += 1
            if frames >= 30:
                break
        info["frames"] = frames
    return info, extradata


async def test_restream_to_nginx_with_failing_and_stalled_destinations(
    server: GoliveServer, nginx: NginxRtmp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stalling = StallingServer()
    stall_port = await stalling.start()
    token = await user_token(server, "alice", ["write"])
    async with http_client(server) as client:
        api = Api(client, token)
        r = await api.call("POST", "/channels", json={"name": "show"})
        assert r.status_code == 201, r.text
        stream_key = r.json()["stream_key"]
        await api.add("a", nginx.url())
        publisher = await start_publisher(rtmp_url(server, stream_key), seconds=90)
        try:
            # Forwarded as it was published: H.264 + AAC, 640x360, the very same avcC.
            live = await api.wait("a", lambda d: d["status"] == "live", timeout=30)
            assert live["bitrate_bps"] >= 0 and live["key_hint"] == "…" + KEYS["a"][-4:]
            await wait_growing(nginx, KEYS["a"], 150_000)
            info, extradata = await asyncio.to_thread(decoded, nginx.records / f"{KEYS['a']}.flv")
            assert info == {"video": "h264", "audio": "aac", "size": (640, 360), "frames": 30}
            hub = server.registry.hub("show")
            assert hub is not None
            source = next(t for t in hub.tracks.values() if t.kind is TrackKind.VIDEO)
            assert extradata == source.config
            await api.wait("a", lambda d: d["bitrate_bps"] > 50_000)

            # Added while live: one more nginx destination, a refusing and a stalling one.
            await api.add("b", nginx.url())
            await api.add("refused", f"rtmp://127.0.0.1:{free_port()}/live")
            await api.add("stalled", f"rtmp://127.0.0.1:{stall_port}/live")
            segments = await hls_segments(client)
            await api.wait("b", lambda d: d["status"] == "live", timeout=20)
            refused = await api.wait(
                "refused", lambda d: d["status"] == "failed" and d["reason"] != ""
            )
            assert refused["retry_in"] is not None
            # It is tried again, the delay doubling: a wait over 1 s means a later failure.
            await api.wait(
                "refused",
                lambda d: d["status"] == "failed" and (d["retry_in"] or 0) > 1.2,
                timeout=15,
            )
            stalled = await api.wait("stalled", lambda d: d["status"] == "failed", timeout=20)
            assert stalled["reason"] == "destination stalled", stalled
            assert stalling.connections, "the stalled destination was never connected to"
            # Meanwhile the stream and the good destinations went on.
            statuses = await api.statuses()
            assert statuses["a"]["status"] == "live" and statuses["b"]["status"] == "live"
            assert await hls_segments(client) >= segments + 3
            size_a = nginx.record_size(KEYS["a"])
            size_b = await wait_growing(nginx, KEYS["b"], 50_000)
            started = time.monotonic()
            segments = await hls_segments(client)
            await asyncio.sleep(3)
            assert await hls_segments(client) >= segments + 2  # about one a second
            assert nginx.record_size(KEYS["a"]) > size_a
            assert nginx.record_size(KEYS["b"]) > size_b

            # Disabling one stops it alone, within a second or two.
            [a_id] = [d["id"] for d in (await api.statuses()).values() if d["name"] == "a"]
            r = await api.call("PATCH", f"/channels/show/restreams/{a_id}", json={"enabled": False})
            assert r.status_code == 200 and r.json()["status"] == "idle"
            await asyncio.sleep(2.0)
            size_a = nginx.record_size(KEYS["a"])
            size_b = nginx.record_size(KEYS["b"])
            await asyncio.sleep(2.5)
            assert nginx.record_size(KEYS["a"]) == size_a, "the disabled destination still got data"
            assert nginx.record_size(KEYS["b"]) > size_b
            statuses = await api.statuses()
            assert statuses["a"]["status"] == "idle" and statuses["b"]["status"] == "live"
            assert statuses["refused"]["status"] in ("failed", "connecting", "idle")
            assert time.monotonic() - started < 30
            assert publisher.returncode is None, "the publisher was cut off"
        finally:
            if publisher.returncode is None:
                publisher.kill()
            await publisher.wait()
            stalling.close()
    for name, key in KEYS.items():
        assert key not in caplog.text, f"the key of {name} was logged"
        assert all(key not in text for text in api.answers), f"the key of {name} was answered"
    assert "restream" in caplog.text and "failed" in caplog.text


async def test_dashboard_restream_section(tmp_path: Path) -> None:
    """Add, disable, enable and delete destinations with the dashboard's forms; refusals are
    explained; the key is never rendered; forgery and strangers are refused."""
    key = "dash-key-0123456789-beef"
    async with (
        running_server(tmp_path / "data", restream_max_destinations=1) as server,
        http_client(server) as client,
        http_client(server) as stranger,
    ):
        await sign_up(client, "dora")
        r = await client.post(
            "/dashboard/channels",
            data={"name": "dora", "csrf": await csrf_token(client, "/dashboard")},
        )
        assert r.status_code == 200, r.text
        path = "/dashboard/channels/dora/restreams"
        page = await client.get("/dashboard")
        assert 'id="restream-dora"' in page.text and "No destinations" in page.text

        async def post(path: str, **fields: str) -> httpx.Response:
            token = await csrf_token(client, "/dashboard")
            return await client.post(path, data={"csrf": token, **fields})

        r = await post(path, name="Mirror", url="http://example.com/app", key=key)
        assert r.status_code == 422 and "rtmp:// or rtmps://" in r.text and key not in r.text
        r = await post(path, name="Mirror", url="rtmp://127.0.0.1:1/app", key=key)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard#restream-dora"
        page = await client.get("/dashboard")
        assert "Mirror" in page.text and "rtmp://127.0.0.1:1/app/…beef" in page.text
        assert "Idle (starts when the channel is live)" in page.text
        assert key not in page.text
        assert "At most 1 destinations." in page.text  # the add form is gone at the limit
        r = await post(path, name="Second", url="rtmp://127.0.0.1:1/app", key=key)
        assert r.status_code == 422 and "at most 1" in r.text
        [dest_id] = re.findall(r'class="restream" data-id="(\d+)"', page.text)
        r = await post(f"{path}/{dest_id}/disable")
        assert r.status_code == 303
        assert "Disabled" in (await client.get("/dashboard")).text
        r = await post(f"{path}/{dest_id}/enable")
        assert r.status_code == 303
        assert "Idle (starts" in (await client.get("/dashboard")).text
        r = await client.post(f"{path}/{dest_id}/delete", data={"csrf": "forged"})
        assert r.status_code == 403
        await sign_up(stranger, "eve")
        token = await csrf_token(stranger, "/dashboard")
        r = await stranger.post(f"{path}/{dest_id}/delete", data={"csrf": token})
        assert r.status_code == 404
        r = await post(f"{path}/{dest_id}/explode")
        assert r.status_code == 404
        r = await post(f"{path}/{dest_id}/delete")
        assert r.status_code == 303
        assert "No destinations" in (await client.get("/dashboard")).text


class TlsTerminator:
    """rtmps:// in front of nginx: TLS on a loopback port, the plain bytes passed through."""

    def __init__(self, cert: Path, key: Path, upstream: int) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.upstream = upstream
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(OSError):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                dst.close()

            both = [
                asyncio.create_task(pipe(reader, up_writer)),
                asyncio.create_task(pipe(up_reader, writer)),
            ]
            self.tasks.update(both)
            await asyncio.gather(*both, return_exceptions=True)

        self.server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=self.context)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.server is not None:
            self.server.close()


async def test_restream_over_rtmps(
    tmp_path: Path, nginx: NginxRtmp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An rtmps:// destination (ffmpeg's TLS) reaches nginx through a TLS terminator. ffmpeg
    verifies the certificate: refused until the child is told to trust it, then live."""
    key = "restream-key-TLS-0a1b2c"
    cert, cert_key = write_self_signed(tmp_path)
    terminator = TlsTerminator(cert, cert_key, nginx.port)
    tls_port = await terminator.start()
    async with (
        running_server(tmp_path / "data", transcode_ladder=SOURCE_ONLY) as server,
        http_client(server) as client,
    ):
        api = Api(client, await user_token(server, "tess", ["write"]))
        r = await api.call("POST", "/channels", json={"name": "show"})
        assert r.status_code == 201, r.text
        stream_key = r.json()["stream_key"]
        r = await api.call(
            "POST",
            "/channels/show/restreams",
            json={"url": f"rtmps://127.0.0.1:{tls_port}/live", "key": key, "name": "tls"},
        )
        assert r.status_code == 201, r.text
        publisher = await start_publisher(rtmp_url(server, stream_key), seconds=60)
        try:
            failed = await api.wait("tls", lambda d: d["status"] == "failed", timeout=30)
            assert "certificate verify failed" in failed["reason"], failed
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the next child trusts it
            await api.wait("tls", lambda d: d["status"] == "live", timeout=30)
            await wait_growing(nginx, key, 100_000)
        finally:
            if publisher.returncode is None:
                publisher.kill()
            await publisher.wait()
            terminator.close()
    assert all(key not in text for text in api.answers)
