"""/metrics while a real publisher is live, parsed with prometheus-client's own parser;
/healthz and /readyz; JSON log lines carrying the stream id."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from golive.app import GoliveServer
from golive.log_format import JsonFormatter
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(family: Metric, sample_name: str | None = None, **labels: str) -> float:
    for sample in family.samples:
        if (sample_name is None or sample.name == sample_name) and all(
            sample.labels.get(k) == v for k, v in labels.items()
        ):
            return float(sample.value)
    raise AssertionError(f"no sample {sample_name or family.name} with {labels}")


def names(samples: Iterable[object]) -> set[str]:
    return {s.name for s in samples}  # type: ignore[attr-defined]


async def test_metrics_while_live(server: GoliveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    url = rtmp_url(server, server.demo_key or "")
    proc = await start_publisher(url, seconds=6, fps=30, gop=30)
    async with http_client(server) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = await client.get("/live/demo/source/index.m3u8")
            if r.status_code == 200 and r.text.count("#EXTINF") >= 3:
                break
            await asyncio.sleep(0.2)
        # A blocking request for a part that is about to exist is counted as a waiter.
        playlist = r.text
        msn = max(
            int(line.split("/")[-1].split(".")[0])
            for line in playlist.splitlines()
            if line.endswith(".m4s") and "/" in line
        )
        waiting = asyncio.create_task(
            client.get(f"/live/demo/source/index.m3u8?_HLS_msn={msn + 2}&_HLS_part=0")
        )
        await asyncio.sleep(0.05)
        r = await client.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        found = families(r.text)
        await waiting

        assert value(found["golive_stream_live"], channel="demo", state="live") == 1
        assert 200_000 < value(found["golive_ingest_bitrate_bps"], channel="demo") < 20_000_000
        assert 25 <= value(found["golive_ingest_fps"], channel="demo") <= 35
        assert value(
            found["golive_ingest_keyframe_interval_seconds"], channel="demo"
        ) == pytest.approx(1.0, abs=0.05)
        assert value(found["golive_ingest_frames"], channel="demo") > 60
        # The test polled the playlist while waiting for the stream: it is the one viewer.
        assert value(found["golive_viewers"], channel="demo") == 1
        parts = value(found["golive_parts_published"], channel="demo", rendition="source")
        segments = value(found["golive_segments_completed"], channel="demo", rendition="source")
        # Parts are published once the first segment has fixed the target duration.
        assert segments >= 3 and parts >= 4 * (segments - 1)
        delay = found["golive_part_availability_delay_seconds"]
        count = value(delay, "golive_part_availability_delay_seconds_count", channel="demo")
        total = value(delay, "golive_part_availability_delay_seconds_sum", channel="demo")
        assert count >= parts - 1 and 0 < total / count < 0.05
        assert value(found["golive_blocking_reload_waiters"]) >= 1
        assert value(found["golive_rtmp_connections"]) == 1
        requests = found["golive_http_requests"]
        assert (
            value(
                requests, route="/live/{channel}/{rendition}/index.m3u8", method="GET", status="200"
            )
            >= 1
        )
        # Placeholders until chat and the transcoder report in.
        assert value(found["golive_chat_messages"]) == 0
        assert value(found["golive_chat_messages_dropped"]) == 0
        assert "golive_transcode_restarts" in found and "golive_transcode_speed" in found
        assert value(found["process_resident_memory_bytes"]) > 10_000_000
        assert value(found["process_cpu_seconds"]) > 0

        assert (await client.get("/healthz")).json() == {"status": "ok"}
        r = await client.get("/readyz")
        assert r.status_code == 200 and r.json()["status"] == "ready"

        # Label values stay bounded: raw paths never become labels.
        await client.get("/live/demo/source/deadbeef/99999.m4s")
        await client.get("/nope/nope/nope")
        text = (await client.get("/metrics")).text
        # Only the labels: a sample value such as 12.619999999999997 may hold the digits.
        labels = " ".join(re.findall(r"\{[^}]*\}", text))
        assert 'route="' in labels
        assert "99999" not in labels and "nope" not in labels
    code, err = await finish(proc)
    assert code == 0, err

    # Every log line about the stream carries its id, in JSON too.
    hub_lines = [r for r in caplog.records if getattr(r, "channel", None) == "demo"]
    assert hub_lines and all(getattr(r, "stream_id", "") for r in hub_lines)
    rtmp_lines = [
        r
        for r in caplog.records
        if r.name == "golive.ingest.rtmp" and "publishing" in r.getMessage()
    ]
    assert rtmp_lines and all(getattr(r, "stream_id", None) for r in rtmp_lines)
    entry = json.loads(JsonFormatter().format(hub_lines[0]))
    assert entry["channel"] == "demo" and entry["stream_id"] == hub_lines[0].stream_id  # type: ignore[attr-defined]
    assert {"time", "level", "logger", "message"} <= entry.keys()


async def test_readyz_reports_shutdown(server: GoliveServer) -> None:
    async with http_client(server) as client:
        server.shutting_down = True
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["problems"] == ["shutting down"]
        server.shutting_down = False


async def test_metrics_token_guards_the_endpoint(tmp_path: Path) -> None:
    token = "m" * 24
    async with running_server(tmp_path / "data", metrics_token=token) as server:
        client = http_client(server)
        async with client:
            r = await client.get("/metrics")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            r = await client.get("/metrics", headers={"authorization": "Bearer wrong"})
            assert r.status_code == 401
            r = await client.get("/metrics", headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200 and "golive_" in r.text
