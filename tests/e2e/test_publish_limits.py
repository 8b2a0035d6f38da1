"""What one accepted publisher may cost: a publish bitrate cap and a cap on transcoders."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import psutil
import pytest

from golive.app.live_streams import stream_info
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server, wait_for_text

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def test_a_publisher_over_its_channel_cap_is_disconnected_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="golive.live")
    async with running_server(
        tmp_path / "data",
        reconnect_grace=0.0,
        channel_max_publish_bitrate={"loud": 100_000},
        publish_bitrate_window=2.0,
    ) as server:
        assert server.channels is not None and server.demo_key is not None
        _, loud_key = await server.channels.add("loud")
        # About 1 Mb/s of video, ten times the cap, for longer than the test needs.
        loud = await start_publisher(
            rtmp_url(server, loud_key),
            seconds=30,
            extra=["-b:v", "1M", "-minrate", "1M", "-maxrate", "1M", "-bufsize", "500k"],
        )
        quiet = await start_publisher(rtmp_url(server, server.demo_key), seconds=8)
        try:
            async with http_client(server) as client:
                await wait_for_text(client, "/live/loud/index.m3u8", "#EXT-X-STREAM-INF")
                started = time.monotonic()
                await asyncio.wait_for(loud.wait(), 10)
                cut_after = time.monotonic() - started
                _, loud_err = await finish(loud, timeout=5)
                assert loud.returncode != 0
                # The onStatus error's description reaches the publisher.
                assert "above this channel's cap of 0.10 Mb/s" in loud_err, loud_err
                assert server.registry.publisher("loud") is None
                # The other channel is untouched: still published, still growing.
                assert server.registry.publisher("demo") is not None
                before = await wait_for_text(client, "/live/demo/source/index.m3u8", "#EXTINF")
                await asyncio.sleep(1.5)
                after = (await client.get("/live/demo/source/index.m3u8")).text
                assert after.count("#EXTINF") > before.count("#EXTINF")
            code, err = await finish(quiet)
            assert code == 0, err
        finally:
            for proc in (loud, quiet):
                if proc.returncode is None:
                    proc.kill()
                await finish(proc, timeout=10)
    assert cut_after < 8, f"disconnected only after {cut_after:.1f} s"
    kicks = [
        r
        for r in caplog.records
        if r.name == "golive.live" and "cap of 0.10 Mb/s" in r.getMessage()
    ]
    assert len(kicks) == 1 and getattr(kicks[0], "channel", None) == "loud"
    assert not any(
        getattr(r, "channel", None) == "demo" and "cap" in r.getMessage() for r in caplog.records
    )


def encoder_children() -> list[psutil.Process]:
    """The server's transcoders: ffmpeg children of this process that align keyframes."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "-force_key_frames" in child.cmdline() and child.status() != "zombie":
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


async def test_a_stream_beyond_max_transcoders_is_served_passthrough(tmp_path: Path) -> None:
    ladder = [
        {"name": "source", "kind": "source"},
        {"name": "180p", "height": 180, "bitrate": 300_000},
    ]
    async with running_server(
        tmp_path / "data", reconnect_grace=0.0, transcode_ladder=ladder, max_transcoders=1
    ) as server:
        assert server.channels is not None and server.demo_key is not None
        _, second_key = await server.channels.add("second")
        first = await start_publisher(rtmp_url(server, server.demo_key), seconds=12, bframes=0)
        try:
            async with http_client(server) as client:
                await wait_for_text(client, "/live/demo/180p/index.m3u8", "#EXTINF")
                second = await start_publisher(rtmp_url(server, second_key), seconds=8, bframes=0)
                try:
                    multivariant = await wait_for_text(
                        client, "/live/second/index.m3u8", "#EXT-X-STREAM-INF"
                    )
                    await wait_for_text(client, "/live/second/source/index.m3u8", "#EXTINF")
                    await asyncio.sleep(2.0)
                    assert len(encoder_children()) == 1
                    assert "180p" not in multivariant and "audio/index.m3u8" in multivariant
                    assert (await client.get("/live/second/180p/index.m3u8")).status_code == 404
                    assert "180p/index.m3u8" in (await client.get("/live/demo/index.m3u8")).text
                    hub = server.registry.hub("second")
                    assert hub is not None
                    assert stream_info(hub).health["transcoder"] == (
                        "passthrough: max_transcoders (1) reached"
                    )
                    demo = server.registry.hub("demo")
                    assert demo is not None
                    assert stream_info(demo).health["transcoder"].startswith("running")
                    metrics = (await client.get("/metrics")).text
                    assert 'golive_transcode_capped{channel="second"} 1.0' in metrics
                    assert 'golive_transcode_capped{channel="demo"} 0.0' in metrics
                finally:
                    if second.returncode is None:
                        second.kill()
                    await finish(second, timeout=10)
        finally:
            if first.returncode is None:
                first.kill()
            await finish(first, timeout=10)
