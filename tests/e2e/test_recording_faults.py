"""Recording storage failing in the middle of a live stream: S3 frozen for a while (shorter
than the buffer, then longer), and a local disk that is full. Each time the live stream must
go on untouched, a log line and a metric must say what happened, and the recording must
keep what it could: everything when the outage fits in the buffer, the rest with the gap
marked when it does not.

The live side is watched as a viewer sees it: an LL-HLS follower of the source rendition
with blocking playlist requests notes when each part first appears, and the server's own
``golive_part_availability_delay_seconds`` histogram says how long each part took from its
last frame to its publication.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from golive.app import GoliveServer
from golive.db.models import RecordingSegment
from golive.db.recordings import RecordingSummary
from golive.store.object_store_url import open_object_store
from tests.support.media_check import decode
from tests.support.publisher import finish, start_publisher
from tests.support.s3_server import running_s3_server
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PUBLISH = 25.0  # seconds published
OUTAGE_AT = 8.0  # seconds into the stream when storage goes away
# The S3 client gives up on a call after 2 s (3 s with its own retries), so a put to a frozen
# server fails within the outage rather than hanging through it.
S3_LIMITS = {"connect_timeout": "1", "timeout": "2", "retry_timeout": "3", "max_retries": "1"}
# Largest wait between two parts appearing to the follower. Parts are 0.2 s; a live path that
# waited on storage would stall at least one S3 timeout (2 s) and, here, up to the whole
# outage. 1.5 s leaves room for a loaded 2-core CI machine, where the publisher (ffmpeg),
# the server and the follower share the cores (stalls up to ~0.6 s were seen there on
# other tests), while still catching any wait on storage.
MAX_PART_GAP = 1.5
# Part availability delay (last frame in -> part published): microseconds normally. Every
# part must be in the histogram's 0.5 s bucket; a part held up by storage would not be.
MAX_PART_DELAY_BUCKET = "0.5"

PART = re.compile(r'#EXT-X-PART:[^\n]*URI="[0-9a-f]+/(\d+)\.(\d+)\.m4s"')
HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+/(\d+)\.(\d+)\.m4s"')


@dataclass
class PartFollower:
    """Follows the source rendition's live edge with blocking requests, as LL-HLS players do."""

    seen: dict[tuple[int, int], float] = field(default_factory=dict)

    async def run(self, client: httpx.AsyncClient) -> None:
        url = "/live/demo/source/index.m3u8"
        params: dict[str, int] = {}
        while True:
            r = await client.get(url, params=params)
            now = time.monotonic()
            if r.status_code != 200:
                await asyncio.sleep(0.05)
                params = {}
                continue
            for m, p in PART.findall(r.text):
                self.seen.setdefault((int(m), int(p)), now)
            hint = HINT.search(r.text)
            if hint is None:
                await asyncio.sleep(0.05)
                params = {}
            else:
                params = {"_HLS_msn": int(hint[1]), "_HLS_part": int(hint[2])}

    def check(self, followed: float) -> None:
        """Every part seen, in order, none late."""
        keys = sorted(self.seen)
        assert len(keys) >= 0.7 * followed / 0.2, f"{len(keys)} parts in {followed:.0f} s"
        msns = sorted({m for m, _ in keys})
        assert msns == list(range(msns[0], msns[-1] + 1)), f"segments missing: {msns}"
        for msn in msns[1:-1]:  # whole segments (the first was joined mid-way)
            parts = sorted(p for m, p in keys if m == msn)
            assert parts == list(range(len(parts))), f"parts of {msn} missing: {parts}"
        times = [self.seen[k] for k in keys]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        worst = max(range(len(gaps)), key=gaps.__getitem__)
        assert gaps[worst] < MAX_PART_GAP, (
            f"part {keys[worst + 1]} came {gaps[worst]:.2f} s after the one before"
        )


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no {name} {labels}")


def check_part_delays(metrics: str) -> None:
    name = "golive_part_availability_delay_seconds"
    total = metric(metrics, f"{name}_count", channel="demo")
    within = metric(metrics, f"{name}_bucket", channel="demo", le=MAX_PART_DELAY_BUCKET)
    assert total > 50 and within == total, f"{total - within} of {total} parts published late"


@dataclass
class Run:
    followed: PartFollower
    metrics: str  # /metrics at the end of the stream
    recording: RecordingSummary
    rows: list[RecordingSegment]
    contents: dict[str, bytes]  # every stored object of the recording, read back
    live_until: float  # event loop time when the stream was ended


async def stream_through_outage(
    server: GoliveServer,
    storage: str,
    data: Path,
    take_away: Callable[[], None],
    bring_back: Callable[[], None],
    outage: float,
) -> Run:
    """Publish PUBLISH s; storage goes away at OUTAGE_AT for ``outage`` s; end; read back."""
    assert server.archive is not None and server.recordings is not None
    follower = PartFollower()
    publisher = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=PUBLISH)
    started = time.monotonic()
    async with http_client(server) as client:
        following = asyncio.create_task(follower.run(client))
        try:
            # Some segments are stored before the outage: they must survive it.
            while server.archive.stats.segments_written < 4:
                assert time.monotonic() - started < 20, "nothing recorded"
                await asyncio.sleep(0.1)
            await asyncio.sleep(max(0.0, OUTAGE_AT - (time.monotonic() - started)))
            take_away()
            try:
                await asyncio.sleep(outage)
            finally:
                bring_back()
            code, err = await finish(publisher, PUBLISH + 30)
            assert code == 0, err
            followed = time.monotonic() - started
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            if publisher.returncode is None:
                publisher.kill()
        metrics = (await client.get("/metrics")).text
    follower.check(followed - 3)  # the first seconds go to starting up
    live_until = asyncio.get_running_loop().time()
    assert server.registry.stop("demo", "test over", end=True)
    deadline = time.monotonic() + 60
    while True:
        (recording,) = await server.recordings.for_channel("demo")
        if recording.status != "recording":
            break
        assert time.monotonic() < deadline, "the recording never finished"
        await asyncio.sleep(0.2)
    rows = await server.recordings.segments(recording.id)
    store = open_object_store(storage, data)
    try:
        keys = {r.storage_key for r in rows} | {r.init_key for r in rows}
        contents = {key: await store.get(key) for key in keys}
    finally:
        await store.close()
    return Run(follower, metrics, recording, rows, contents, live_until)


def check_recording(run: Run, *, complete: bool) -> None:
    """A ready recording whose every segment decodes; all of them if ``complete``."""
    assert run.recording.status == "ready"
    for rendition in ("source", "audio"):
        rows = [r for r in run.rows if r.rendition == rendition]
        assert [r.sequence for r in rows] == list(range(len(rows))), rendition
        if complete:
            assert not any(r.gap_before for r in rows), rendition
        for row in rows:
            body = run.contents[row.storage_key]
            assert len(body) == row.byte_size
            media = decode(run.contents[row.init_key] + body)
            assert media.audio_pts, f"{rendition} {row.sequence}"
    source = [r for r in run.rows if r.rendition == "source"]
    if complete:
        longest = max(r.duration for r in source)
        assert sum(r.duration for r in source) == pytest.approx(PUBLISH, abs=longest)
        completed = metric(
            run.metrics, "golive_segments_completed_total", channel="demo", rendition="source"
        )
        # Every segment the live stream completed is in the recording (the last one, cut
        # when the stream ended, after this count was read, may be one more).
        assert completed <= len(source) <= completed + 1


def storage_logs(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "golive.record"]
    return [x for x in lines if "storage failing" in x], [x for x in lines if "recovered" in x]


@pytest.mark.parametrize(
    ("outage", "buffer_mib"),
    [
        pytest.param(6.0, 64, id="within-the-buffer"),
        # ~255 kB a second of media: 10 s are 2.5 MB, more than a 1 MiB buffer holds.
        pytest.param(10.0, 1, id="beyond-the-buffer"),
    ],
)
async def test_s3_frozen_mid_stream(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, outage: float, buffer_mib: int
) -> None:
    caplog.set_level(logging.INFO)
    data = tmp_path / "data"
    with running_s3_server(bucket="golive-outage") as s3:
        storage = s3.url("vod", **S3_LIMITS)
        async with (
            WebhookReceiver() as receiver,
            running_server(
                data,
                channel_ladders={"demo": "passthrough"},
                recording_storage=storage,
                record_buffer_bytes=buffer_mib * 1024 * 1024,
                webhook_url=receiver.url("/events"),
                webhook_secret="s" * 32,
            ) as server,
        ):
            # Frozen, not stopped: moto keeps its objects in memory, and what was stored
            # before the outage must still be there after it.
            run = await stream_through_outage(server, storage, data, s3.pause, s3.resume, outage)
            await receiver.wait_for(
                lambda got: any(r.json["type"] == "recording.ready" for r in got), timeout=15
            )
            events = [(r.at, r.json) for r in receiver.received if "recording." in r.json["type"]]

    check_part_delays(run.metrics)
    assert metric(run.metrics, "golive_recording_storage_errors_total") > 0
    failing, recovered = storage_logs(caplog)
    assert failing and recovered, "no log line said storage failed and came back"
    dropped = metric(run.metrics, "golive_recording_segments_dropped_total")
    ready = [e for _, e in events if e["type"] == "recording.ready"]
    failed = [(at, e) for at, e in events if e["type"] == "recording.failed"]
    assert len(ready) == 1 and ready[0]["data"]["recording_id"] == run.recording.id
    if buffer_mib == 64:
        assert dropped == 0
        check_recording(run, complete=True)
        # Nothing lost: no failure, a whole recording.
        assert failed == []
        assert ready[0]["data"]["partial"] is False and ready[0]["data"]["gaps"] == 0
    else:
        assert dropped > 0
        assert any(r.gap_before for r in run.rows if r.rendition == "source")
        check_recording(run, complete=False)
        assert any("buffer full" in r.getMessage() for r in caplog.records)
        # One recording.failed, sent while the stream was still live, says a part is lost
        # and why; the recording still ends ready, partial, with its gaps counted.
        assert len(failed) == 1, failed
        at, event = failed[0]
        assert at < run.live_until
        assert event["data"]["recording_id"] == run.recording.id
        assert event["data"]["partial"] is True and event["data"]["status"] == "recording"
        assert "buffer full" in event["data"]["reason"], event
        gaps = sum(r.gap_before for r in run.rows if r.rendition == "source")
        assert ready[0]["data"]["partial"] is True
        assert ready[0]["data"]["gaps"] >= gaps >= 1
        assert events.index((at, event)) < [e for _, e in events].index(ready[0])


@dataclass
class SmallDisk:
    """Where the recordings go, and how to fill that place up and free it again.

    As root (mount allowed, as here and in CI containers): a 64 MiB tmpfs, filled to the last
    byte by a filler file and freed by deleting it: writes fail with ENOSPC, as on a full disk.
    Otherwise: the recordings' directory moved aside and a file put in its place, and back
    (writes fail with ENOTDIR): the same failure path, another errno.
    """

    root: Path
    mounted: bool

    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    def fill(self) -> None:
        if self.mounted:
            with (self.root / "filler").open("wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            with pytest.raises(OSError), (self.root / "probe").open("wb") as probe:
                probe.write(b"\0" * 65536)
                probe.flush()
            (self.root / "probe").unlink(missing_ok=True)
        else:
            self.recordings.rename(self.root / "aside")
            self.recordings.write_bytes(b"in the way")

    def free(self) -> None:
        if self.mounted:
            (self.root / "filler").unlink()
        else:
            self.recordings.unlink()
            (self.root / "aside").rename(self.recordings)


@contextlib.contextmanager
def small_disk(root: Path) -> Iterator[SmallDisk]:
    root.mkdir(parents=True)
    mounted = shutil.which("mount") is not None and (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(root)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        disk = SmallDisk(root, mounted)
        disk.recordings.mkdir()
        yield disk
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False, capture_output=True)


async def test_local_disk_full_mid_stream(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    data = tmp_path / "data"  # the database stays on a disk with room
    with small_disk(tmp_path / "disk") as disk:
        storage = f"file://{disk.recordings}"
        async with running_server(
            data, channel_ladders={"demo": "passthrough"}, recording_storage=storage
        ) as server:
            run = await stream_through_outage(server, storage, data, disk.fill, disk.free, 6.0)
        print(f"disk full simulated with {'a full tmpfs' if disk.mounted else 'ENOTDIR'}")

    check_part_delays(run.metrics)
    assert metric(run.metrics, "golive_recording_storage_errors_total") > 0
    failing, recovered = storage_logs(caplog)
    assert failing and recovered
    assert any("ENOSPC" in x or "ENOTDIR" in x or "EEXIST" in x for x in failing), failing
    check_recording(run, complete=True)
