"""Lease fencing between two `golive serve` nodes: a node paused past its publish lease
cannot write once another node took its channel over.

Two real nodes share a real Redis, a real PostgreSQL and one file recording storage (as in
tests/browser/test_cluster_failover.py, one process each). The publisher reaches node A,
which records. A is frozen with SIGSTOP (a long GC, a frozen VM); its publisher stalls. The
same key is published to node B, accepted once A's lease expired (ttl 6 s), and B continues
A's recording with a larger fencing token. Then A is woken with SIGCONT, still believing it
publishes. Checked (docs/scale-out.md, "Publish leases and fencing"):

- A notices the lost lease ("lost the publish lease of demo") and stops ingesting: its
  publisher's connection is closed; B keeps the lease and keeps serving the live playlist.
- A writes no recording-index row after B's takeover: every row that was not there when A
  was paused is B's (B's init segment, B's timeline, sequences going on from A's last);
  the recording's token is B's.
- One recording, continued by B, finished as one VOD whose playlists list the rows'
  segments in order without duplicates, and whose media decodes (PyAV).
- No object B wrote was replaced by A once it resumed (content and inode of every file in
  the recording's folder before and after A's wake-up). The only new file no row names is
  the upload A had in flight, in A's own token folder (``t<token>/``,
  record/storage_keys.py), beside B's object of the same sequence number.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from golive.cluster.redis_publish_leases import RedisPublishLeases
from golive.config import Settings
from golive.db.engine import Database
from golive.db.models import Recording, RecordingSegment
from golive.db.recordings import RecordingStore
from golive.live.publish_lease import LeaseHolder
from tests.hls_conformance import parse_media_playlist
from tests.support.cluster_nodes import publish_until_accepted, start_node
from tests.support.media_check import assert_continuous, decode
from tests.support.postgres_server import PostgresServer
from tests.support.publisher import finish, start_publisher
from tests.support.redis_server import RedisServer
from tests.support.serve_process import ServeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# One process per node (workers = 1): SIGSTOP freezes the whole node.
ONE_PROCESS = "workers = 1\n"

CHANNEL = "demo"
RENDITIONS = ("source", "audio")
LIVE_PLAYLIST = "/live/demo/source/index.m3u8"
FRAME = 1 / 30  # the publisher's frame duration


@dataclass(frozen=True)
class Row:
    """A recording-index row, every column."""

    id: int
    rendition: str
    sequence: int
    media_start: int
    timescale: int
    duration: float
    byte_size: int
    program_date_time: float
    storage_key: str
    init_key: str
    discontinuity: bool
    gap_before: bool


class Index:
    """Reads the shared database as a third party (the test), never through a node."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.store = RecordingStore(db.sessionmaker)

    async def rows(self, recording_id: str) -> list[Row]:
        async with self.db.sessionmaker() as session:
            found = (
                await session.execute(
                    select(RecordingSegment)
                    .where(RecordingSegment.recording_id == recording_id)
                    .order_by(RecordingSegment.id)
                )
            ).scalars()
            return [
                Row(
                    s.id,
                    s.rendition,
                    s.sequence,
                    s.media_start,
                    s.timescale,
                    s.duration,
                    s.byte_size,
                    s.program_date_time,
                    s.storage_key,
                    s.init_key,
                    s.discontinuity,
                    s.gap_before,
                )
                for s in found
            ]

    async def fence_token(self, recording_id: str) -> int:
        async with self.db.sessionmaker() as session:
            token = await session.scalar(
                select(Recording.fence_token).where(Recording.id == recording_id)
            )
            assert token is not None, recording_id
            return int(token)


@asynccontextmanager
async def reader(tmp_path: Path, database: str) -> AsyncIterator[Index]:
    db = await Database.open(Settings(data_dir=tmp_path / "reader", database_url=database))
    try:
        yield Index(db)
    finally:
        await db.close()


def process_tree(pid: int) -> list[psutil.Process]:
    """The node's process and whatever it started (an ffmpeg of its own, if any)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def signal_tree(processes: list[psutil.Process], signum: signal.Signals) -> None:
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.send_signal(signum)


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Poll ``check`` until it answers true."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


def per_rendition(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {name: [] for name in RENDITIONS}
    for row in rows:
        out.setdefault(row.rendition, []).append(row)
    for name in out:
        out[name].sort(key=lambda r: r.sequence)
    return out


def storage_files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every object under ``folder`` (hidden temporary files left out): its key (relative
    path), content hash and inode (a put renames a new file over the key, so a rewrite with
    the same bytes still shows)."""
    out: dict[str, tuple[str, int]] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        with suppress(FileNotFoundError):
            data = path.read_bytes()
            out[path.relative_to(folder.parent).as_posix()] = (
                hashlib.sha256(data).hexdigest(),
                path.stat().st_ino,
            )
    return out


def row_keys(rows: list[Row]) -> set[str]:
    return {r.storage_key for r in rows} | {r.init_key for r in rows}


def pairs(items: list[Row]) -> Iterator[tuple[Row, Row]]:
    return itertools.pairwise(items)


async def test_a_paused_node_whose_lease_expired_cannot_write(
    tmp_path: Path,
    redis_server: RedisServer,
    postgres_server: PostgresServer,
) -> None:
    redis_server.flush()
    database = postgres_server.url(postgres_server.create_database())
    storage = tmp_path / "recordings"
    redis = Redis.from_url(redis_server.url)
    leases = RedisPublishLeases(redis)
    frozen: list[psutil.Process] = []
    publishers: list[asyncio.subprocess.Process] = []
    nodes: list[ServeProcess] = []
    try:
        a, a_log = await start_node(tmp_path, "node-a", redis_server, database, extra=ONE_PROCESS)
        nodes.append(a)
        b, b_log = await start_node(tmp_path, "node-b", redis_server, database, extra=ONE_PROCESS)
        nodes.append(b)
        async with reader(tmp_path, database) as index:
            key = a.demo_key
            assert key is not None
            first = await start_publisher(a.rtmp_url(key), seconds=120)
            publishers.append(first)

            # A records: a few segments of each rendition stored and indexed.
            recording_id = ""

            async def a_recorded() -> bool:
                nonlocal recording_id
                active = await index.store.active_for_channel(CHANNEL)
                if active is None:
                    return False
                recording_id = active.id
                got = per_rendition(await index.rows(active.id))
                return all(len(got[name]) >= 3 for name in RENDITIONS)

            await wait_for("node A's first recorded segments", a_recorded, 40)
            a_holder = await leases.holder(CHANNEL)
            assert a_holder is not None and a_holder.holder == "node-a", a_holder
            assert await index.fence_token(recording_id) == a_holder.token

            # A freezes. Whatever it had committed is its part of the recording.
            frozen = process_tree(a.proc.pid)
            signal_tree(frozen, signal.SIGSTOP)
            paused = time.monotonic()
            paused_wall = time.time()
            await asyncio.sleep(0.5)
            a_rows = await index.rows(recording_id)
            a_part = per_rendition(a_rows)
            a_inits = {r.init_key for r in a_rows}

            # B takes the channel once A's lease expired (ttl 6 s; within 10 s).
            second, accepted = await publish_until_accepted(b.rtmp_url(key), 90, within=25)
            publishers.append(second)
            assert accepted - paused < 10.0 + 3.0, accepted - paused  # + one refused attempt
            b_holder = await leases.holder(CHANNEL)
            assert b_holder is not None and b_holder.holder == "node-b", b_holder
            assert b_holder.token > a_holder.token, (a_holder, b_holder)
            assert "continues here" in b_log.read_text()

            async def b_recorded() -> bool:
                got = per_rendition(await index.rows(recording_id))
                return all(len(got[n]) >= len(a_part[n]) + 3 for n in RENDITIONS)

            await wait_for("node B's first recorded segments", b_recorded, 30)
            recordings = await index.store.for_channel(CHANNEL)
            assert [r.id for r in recordings] == [recording_id], recordings  # continued
            assert await index.fence_token(recording_id) == b_holder.token  # claimed by B
            before_rows = await index.rows(recording_id)
            assert set(a_rows) <= set(before_rows)
            b_inits: dict[str, str] = {}
            for name, rows in per_rendition(before_rows).items():
                b_rows = rows[len(a_part[name]) :]
                # Sequence numbers go on from A's; B's timeline starts with a discontinuity,
                # its own init segment, dated after A was paused.
                assert [r.sequence for r in rows] == list(range(len(rows))), (name, rows)
                assert b_rows[0].discontinuity, b_rows[0]
                assert b_rows[0].init_key not in a_inits, (b_rows[0], a_inits)
                assert b_rows[0].program_date_time > paused_wall, (b_rows[0], paused_wall)
                b_inits[name] = b_rows[0].init_key
            # Every object in the recording's folder, B's among them, before A wakes up.
            before_files = storage_files(storage / recording_id)
            b_keys = row_keys([r for r in before_rows if r not in set(a_rows)])
            assert b_keys <= set(before_files), b_keys - set(before_files)

            # A wakes up, still believing it publishes the channel.
            signal_tree(frozen, signal.SIGCONT)
            frozen = []
            resumed = time.monotonic()
            first_closed = asyncio.ensure_future(finish(first, timeout=30))

            # B's live playlist keeps being served meanwhile, moving on.
            seen: list[int] = []
            async with httpx.AsyncClient(base_url=b.http_base, timeout=5.0) as client:
                while time.monotonic() - resumed < 10.0:
                    r = await client.get(LIVE_PLAYLIST)
                    assert r.status_code == 200, (r.status_code, r.text)
                    playlist = parse_media_playlist(r.text)
                    assert playlist.segments, r.text
                    seen.append(playlist.media_sequence + len(playlist.segments))
                    await asyncio.sleep(0.5)
            assert seen == sorted(seen) and seen[-1] >= seen[0] + 5, seen

            # A lost its lease, stopped ingesting (its publisher's connection closed) and
            # did not take the channel back.
            a_text = a_log.read_text()
            assert "lost the publish lease of demo" in a_text, a_text[-3000:]
            assert first_closed.done(), "node A kept its publisher after waking up"
            assert a.proc.returncode is None  # A lives on
            assert await leases.holder(CHANNEL) == LeaseHolder("node-b", b_holder.token)

            # Objects now: B's files as they were; new ones only B's (indexed by B's rows).
            after_files = storage_files(storage / recording_id)
            await asyncio.sleep(3.0)  # B's objects in flight get their rows meanwhile
            resumed_rows = await index.rows(recording_id)

            second.send_signal(signal.SIGINT)
            await finish(second, timeout=30)
            recording = None
            deadline = time.monotonic() + 60
            while recording is None or recording.status == "recording":
                assert time.monotonic() < deadline, recording
                await asyncio.sleep(0.5)
                recording = await index.store.get(recording_id)
            assert recording.status == "ready", recording
            recordings = await index.store.for_channel(CHANNEL)
            assert [r.id for r in recordings] == [recording_id], recordings  # one recording
            assert await index.fence_token(recording_id) == b_holder.token
            final_rows = await index.rows(recording_id)

            # The index: A's rows are exactly those it had before the pause; every later row
            # is B's (B's init, dated after the pause, continuing B's timeline); no duplicate
            # or missing sequence number.
            assert set(before_rows) <= set(resumed_rows) <= set(final_rows)
            later = [r for r in final_rows if r not in set(a_rows)]
            stale = [
                r
                for r in later
                if r.init_key != b_inits[r.rendition] or r.program_date_time <= paused_wall
            ]
            assert not stale, f"rows written by node A after B took over: {stale}"
            for name, rows in per_rendition(final_rows).items():
                assert [r.sequence for r in rows] == list(range(len(rows))), (name, rows)
                assert rows[: len(a_part[name])] == a_part[name], name
                b_rows = rows[len(a_part[name]) :]
                assert [r.discontinuity for r in b_rows] == [True] + [False] * (len(b_rows) - 1)
                for prev, nxt in pairs(b_rows):
                    gap = nxt.program_date_time - (prev.program_date_time + prev.duration)
                    assert abs(gap) < 0.1, (name, prev, nxt)

            problems: list[str] = []
            # Objects: nothing B wrote (nor anything else there) was replaced after A woke up,
            # and A left no object of its own (no segment, no VOD playlist of a live recording).
            replaced = {
                key: (before_files[key], after_files.get(key))
                for key in before_files
                if after_files.get(key) != before_files[key]
            }
            if replaced:
                owners = {
                    k: "B's" if k in b_keys else "A's" if k in row_keys(a_rows) else "unindexed"
                    for k in replaced
                }
                problems.append(
                    f"objects replaced after node A resumed (key: (sha256, inode) before, after): "
                    f"{replaced}; whose: {owners}"
                )
            # With the fencing token in the media keys, an upload A had in flight lands under
            # its own token's folder, beside B's, and no row names it: tolerated (the recording's
            # deletion takes it along). Anything else no row names is a stray write of A's.
            unindexed = set(after_files) - set(before_files) - row_keys(resumed_rows)
            stray = {
                k
                for k in unindexed
                if f"/t{a_holder.token}/" not in k or not k.endswith((".m4s", ".mp4"))
            }
            if stray:
                problems.append(f"objects no row indexes appeared after A resumed: {stray}")
            # Each segment's object is the one its row describes (the writer's byte count).
            mismatched = {
                row.storage_key: (row.byte_size, (storage / row.storage_key).stat().st_size)
                for row in final_rows
                if (storage / row.storage_key).stat().st_size != row.byte_size
            }
            if mismatched:
                problems.append(
                    f"segment objects of another size than their rows say (key: (row's "
                    f"byte_size, stored size)): {mismatched}"
                )

            # The VOD, through B: every row's segment in order, no duplicates; media decodes.
            async with httpx.AsyncClient(base_url=b.http_base, timeout=10.0) as client:
                base = f"/vod/{recording_id}"
                r = await client.get(f"{base}/index.m3u8")
                assert r.status_code == 200, r.text
                for name, rows in per_rendition(final_rows).items():
                    r = await client.get(f"{base}/{name}/index.m3u8")
                    assert r.status_code == 200, r.text
                    playlist = parse_media_playlist(r.text)
                    assert playlist.endlist
                    uris = [s.uri for s in playlist.segments]
                    assert len(uris) == len(set(uris)), uris
                    assert [f"{recording_id}/{name}/{u}" for u in uris] == [
                        row.storage_key for row in rows
                    ], (name, uris)
                    assert [s.discontinuity for s in playlist.segments] == [
                        row.discontinuity for row in rows
                    ]
                    runs: list[list[tuple[str, str]]] = []
                    for seg in playlist.segments:
                        assert seg.map_uri is not None
                        if not runs or seg.discontinuity or seg.map_uri != runs[-1][-1][0]:
                            runs.append([])
                        runs[-1].append((seg.map_uri, seg.uri))
                    assert len(runs) == 2, (name, runs)  # A's part, then B's
                    ends: list[float] = []
                    for number, run in enumerate(runs):
                        got = await client.get(f"{base}/{name}/{run[0][0]}")
                        assert got.status_code == 200
                        data = got.content
                        for _, uri in run:
                            got = await client.get(f"{base}/{name}/{uri}")
                            assert got.status_code == 200, uri
                            data += got.content
                        label = f"{name} run {number} ({run[0][1]}..{run[-1][1]})"
                        try:
                            media = decode(data)
                            if name == "source":
                                assert_continuous(media.video_pts, FRAME, label=label)
                                assert media.width == 640 and media.height == 360, label
                                pts = media.video_pts
                            else:
                                assert media.audio_pts, f"{label}: no audio decoded"
                                pts = media.audio_pts
                            if ends:
                                # B's media time goes on after A's stored media.
                                assert min(pts) >= ends[-1], (label, min(pts), ends)
                            ends.append(max(pts))
                        except Exception as exc:  # every problem is reported, not the first
                            problems.append(f"VOD media {label}: {type(exc).__name__}: {exc}")
            assert not problems, "\n".join(problems)
    finally:
        signal_tree(frozen, signal.SIGCONT)
        for publisher in publishers:
            if publisher.returncode is None:
                with suppress(ProcessLookupError):
                    publisher.kill()
                await publisher.wait()
        for node in nodes:
            if node.proc.returncode is None:
                node.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(node.proc.wait(), 30)
                except TimeoutError:
                    node.proc.kill()
                    await node.proc.wait()
        await redis.aclose()
