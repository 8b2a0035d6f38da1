"""Signed playback through an edge cache: a real nginx, caching, in front of golive on
loopback. A private channel's LL-HLS plays through ``/p/<token>/live/...`` at the edge; a
segment asked twice is a cache HIT the second time (the edge keys on the URL, token
included, and golive's Cache-Control lets it keep the answer no longer than the token
lives); the same media without a token, or with a bad one, is refused through the edge."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.e2e.test_private_playback import issue, max_age, private_demo, wait_ok
from tests.hls_conformance import parse_media_playlist
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (apt-get install nginx)"),
]

EDGE_CONF = """\
{user}
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    proxy_cache_path {prefix}/cache levels=1 keys_zone=edge:4m max_size=200m inactive=10m
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{origin};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_key $request_uri;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def nginx_edge(origin_port: int, prefix: Path) -> Iterator[int]:
    """nginx caching in front of ``origin_port``; yields its port."""
    prefix.mkdir(parents=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(
        EDGE_CONF.format(
            prefix=prefix,
            port=port,
            origin=origin_port,
            # Workers run as root when we are root, so they can use the private temp dirs.
            user="user root;" if os.geteuid() == 0 else "",
        )
    )
    proc = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_private_live_through_an_edge_cache(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path / "data", channel_ladders={"demo": "passthrough"}) as server,
        http_client(server) as owner,
    ):
        playback = await private_demo(server, owner)
        publisher = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=10)
        try:
            with nginx_edge(server.http_port, tmp_path / "nginx") as port:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=20
                ) as edge:
                    granted = await issue(owner, playback, {"channel": "demo", "ttl": 300})
                    token = granted["token"]
                    path = urlsplit(granted["playlist_url"]).path
                    r = await wait_ok(edge, path)
                    variant = next(x for x in r.text.splitlines() if x and x[0] != "#")
                    media_path = urljoin(path, variant)
                    r = await wait_ok(edge, media_path)
                    assert r.headers["x-cache-status"] in ("MISS", "EXPIRED", "HIT")
                    segment = parse_media_playlist(r.text).segments[0].uri
                    seg_path = urljoin(media_path, segment)
                    assert seg_path.startswith(f"/p/{token}/live/demo/source/")

                    first = await edge.get(seg_path)
                    assert first.status_code == 200, first.text
                    assert first.headers["x-cache-status"] == "MISS"
                    assert 0 < max_age(first) <= 300
                    second = await edge.get(seg_path)
                    assert second.status_code == 200
                    assert second.headers["x-cache-status"] == "HIT"
                    assert second.content == first.content

                    # The same media without a token, or with a bad one: refused at the edge.
                    plain = seg_path.removeprefix(f"/p/{token}")
                    r = await edge.get(plain)
                    assert r.status_code == 404 and r.headers["x-cache-status"] == "MISS"
                    assert r.content != first.content
                    forged = (
                        f"/p/{token[:-2]}AA" if not token.endswith("AA") else f"/p/{token[:-2]}BB"
                    )
                    for bad in (forged + plain, "/p/nonsense" + plain):
                        r = await edge.get(bad)
                        assert r.status_code == 403, (bad, r.status_code)
                        assert r.content != first.content
                    # A token's expiry bounds the edge's copy too.
                    short = await issue(owner, playback, {"channel": "demo", "ttl": 2})
                    short_seg = f"/p/{short['token']}{plain}"
                    r = await edge.get(short_seg)
                    assert r.status_code == 200 and max_age(r) <= 2
                    await asyncio.sleep(3.1)
                    r = await edge.get(short_seg)
                    assert r.status_code == 403 and "expired" in r.text
        finally:
            await finish(publisher)
