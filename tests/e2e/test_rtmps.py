"""RTMPS: ffmpeg publishes over TLS with a self-signed certificate, which SIGHUP can renew."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from golive.app import GoliveServer
from tests.hls_conformance import parse_media_playlist
from tests.support.media_check import decode
from tests.support.publisher import finish, publish_args
from tests.support.self_signed import write_self_signed
from tests.support.server import http_client, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def publish_rtmps(
    server: GoliveServer, ca_file: Path | None, seconds: float = 2
) -> tuple[int, str]:
    url = f"rtmps://127.0.0.1:{server.rtmps_port}/live/{server.demo_key}"
    args = publish_args(url, seconds=seconds, realtime=False)
    if ca_file is not None:
        # ffmpeg verifies the server's certificate: trust ours explicitly.
        args = [*args[:-3], "-ca_file", str(ca_file), *args[-3:]]
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    return await finish(proc, 30)


async def test_ffmpeg_publishes_over_rtmps(tmp_path: Path) -> None:
    cert, key = write_self_signed(tmp_path / "tls")
    async with running_server(
        tmp_path / "data",
        reconnect_grace=0.2,
        rtmps_port=0,
        rtmps_cert_file=cert,
        rtmps_key_file=key,
    ) as server:
        assert server.rtmps_port not in (server.rtmp_port, server.http_port)
        # Without trusting the certificate ffmpeg refuses: the connection really is TLS.
        code, err = await publish_rtmps(server, None, seconds=1)
        assert code != 0 and "certificate verify failed" in err
        code, err = await publish_rtmps(server, cert, seconds=3)
        assert code == 0, err
        async with http_client(server) as client:
            for _ in range(100):
                r = await client.get("/live/demo/source/index.m3u8")
                if r.status_code == 200 and "#EXT-X-ENDLIST" in r.text:
                    break
                await asyncio.sleep(0.1)
            playlist = parse_media_playlist(r.text)
            assert sum(s.duration for s in playlist.segments) == pytest.approx(3, abs=0.5)
            seg = playlist.segments[0]
            assert seg.map_uri is not None
            init = (await client.get(f"/live/demo/source/{seg.map_uri}")).content
            body = (await client.get(f"/live/demo/source/{seg.uri}")).content
            assert decode(init + body).video_pts

        # A renewed certificate is picked up by a reload, without dropping the listener.
        new_cert, new_key = write_self_signed(tmp_path / "tls2")
        settings = server.settings.model_copy(
            update={"rtmps_cert_file": new_cert, "rtmps_key_file": new_key}
        )
        assert await server.reload(settings) == ["rtmps_cert_file", "rtmps_key_file"]
        code, err = await publish_rtmps(server, cert, seconds=1)
        assert code != 0 and "certificate verify failed" in err
        code, err = await publish_rtmps(server, new_cert, seconds=1)
        assert code == 0, err
