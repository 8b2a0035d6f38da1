"""Retention: the pure policy (age, size cap, per-channel override, in-progress recordings),
and one pass of the task over a real index with an in-memory store (and a failing one)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.db.recordings import RecordingStore
from golive.record.retention_policy import DAY, GB, RetentionRules, expired_recordings
from golive.record.retention_task import RecordingRetention
from tests.support.fake_recordings import MemoryStore, recorded

NOW = 1_800_000_000.0


@dataclass(frozen=True)
class Rec:
    id: str
    started_at: float
    bytes: int = 1000
    status: str = "ready"
    retention_days: int | None = None
    channel: str = "demo"
    retention_gb: float | None = None


def days_ago(days: float) -> float:
    return NOW - days * DAY


def ids(recordings: list[Rec], rules: RetentionRules) -> list[str]:
    return [e.id for e in expired_recordings(recordings, rules, NOW)]


def test_nothing_is_deleted_without_limits() -> None:
    recordings = [Rec("old", days_ago(10_000), bytes=10 * GB)]
    assert ids(recordings, RetentionRules()) == []


def test_age_deletes_what_is_older_than_the_global_days() -> None:
    recordings = [Rec("a", days_ago(31)), Rec("b", days_ago(29.9)), Rec("c", days_ago(30))]
    expired = expired_recordings(recordings, RetentionRules(days=30), NOW)
    assert [e.id for e in expired] == ["a", "c"]  # oldest first; exactly 30 days is expired
    assert {e.reason for e in expired} == {"age"}
    assert expired[0].age_days == pytest.approx(31)


def test_a_channel_override_wins_over_the_global_days() -> None:
    recordings = [
        Rec("short", days_ago(3), retention_days=2),  # the channel keeps 2 days
        Rec("long", days_ago(40), retention_days=90),  # the channel keeps 90 days
        Rec("forever", days_ago(400), retention_days=0),  # the channel keeps everything
        Rec("global", days_ago(40)),
    ]
    assert sorted(ids(recordings, RetentionRules(days=30))) == ["global", "short"]
    # With no global limit, the channel's own still applies.
    assert ids(recordings, RetentionRules()) == ["short"]


def test_the_size_cap_deletes_the_oldest_first_until_under() -> None:
    recordings = [
        Rec("newest", days_ago(1), bytes=3 * GB),
        Rec("oldest", days_ago(3), bytes=2 * GB),
        Rec("middle", days_ago(2), bytes=2 * GB),
    ]
    expired = expired_recordings(recordings, RetentionRules.of(0, 4), NOW)
    assert [e.id for e in expired] == ["oldest", "middle"]  # 7 -> 5 -> 3 GB
    assert {e.reason for e in expired} == {"size"}
    assert ids(recordings, RetentionRules.of(0, 7)) == []  # exactly at the cap: kept
    assert ids(recordings, RetentionRules.of(0, 6.9)) == ["oldest"]


def test_the_size_cap_counts_what_age_left() -> None:
    recordings = [
        Rec("expired", days_ago(50), bytes=5 * GB),
        Rec("kept-forever", days_ago(60), bytes=1 * GB, retention_days=0),
        Rec("recent", days_ago(1), bytes=1 * GB),
    ]
    expired = expired_recordings(recordings, RetentionRules.of(30, 1.5), NOW)
    # Age removes "expired"; 2 GB are left over a 1.5 GB cap: the oldest one goes, even
    # though its channel keeps recordings forever (the cap is global).
    assert [(e.id, e.reason) for e in expired] == [("expired", "age"), ("kept-forever", "size")]


def test_a_channel_size_cap_deletes_only_that_channels_oldest() -> None:
    recordings = [
        Rec("a-old", days_ago(3), bytes=2 * GB, channel="a", retention_gb=3),
        Rec("a-new", days_ago(1), bytes=2 * GB, channel="a", retention_gb=3),
        Rec("b-old", days_ago(9), bytes=5 * GB, channel="b"),  # no cap of its own
        Rec("c-old", days_ago(2), bytes=2 * GB, channel="c", retention_gb=0),  # 0: none
    ]
    expired = expired_recordings(recordings, RetentionRules(), NOW)
    assert [(e.id, e.reason) for e in expired] == [("a-old", "channel size")]  # 4 -> 2 GB
    # Then the global cap counts what the channel caps left: 9 GB over 7, oldest first.
    expired = expired_recordings(recordings, RetentionRules.of(0, 7), NOW)
    assert [(e.id, e.reason) for e in expired] == [("a-old", "channel size"), ("b-old", "size")]
    # Age first: what age deletes no longer counts towards the channel's cap.
    aged = [Rec("a-older", days_ago(40), bytes=2 * GB, channel="a", retention_gb=3), *recordings]
    assert ids(aged, RetentionRules(days=30)) == ["a-older", "a-old"]


def test_a_recording_in_progress_is_never_deleted_nor_counted() -> None:
    recordings = [
        Rec("live", days_ago(100), bytes=100 * GB, status="recording"),
        Rec("done", days_ago(1), bytes=GB),
    ]
    assert ids(recordings, RetentionRules.of(30, 2)) == []
    assert ids(recordings, RetentionRules.of(30, 0.5)) == ["done"]


def test_failed_recordings_age_out_too() -> None:
    assert ids([Rec("f", days_ago(31), bytes=0, status="failed")], RetentionRules(days=30)) == ["f"]


# -- the task, against a real index --------------------------------------------------------------


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[tuple[RecordingStore, ChannelStore]]:
    database = await Database.open(Settings(data_dir=tmp_path))
    try:
        channels = ChannelStore(database.sessionmaker)
        await channels.add("demo")
        await channels.add("other")
        yield RecordingStore(database.sessionmaker), channels
    finally:
        await database.close()


async def test_a_pass_deletes_objects_then_rows_and_counts_them(
    index: tuple[RecordingStore, ChannelStore], caplog: pytest.LogCaptureFixture
) -> None:
    store, channels = index
    objects = MemoryStore()
    old, new, live, other = "o" * 16, "n" * 16, "l" * 16, "t" * 16
    await recorded(store, objects, old, "demo", days_ago(40))
    await store.finish(old, ended_at=days_ago(40) + 2)
    await recorded(store, objects, new, "demo", days_ago(1))
    await store.finish(new, ended_at=days_ago(1) + 2)
    await recorded(store, objects, live, "demo", days_ago(45))  # still being written
    await recorded(store, objects, other, "other", days_ago(5))
    await store.finish(other, ended_at=days_ago(5) + 2)
    await channels.update("other", retention_days=3)  # the channel's own, shorter retention

    retention = RecordingRetention(
        objects, store, lambda: RetentionRules(days=30), clock=lambda: NOW
    )
    with caplog.at_level(logging.INFO, logger="golive.record"):
        deleted = await retention.run_once()

    assert sorted(e.id for e in deleted) == sorted([old, other])
    assert await store.get(old) is None and await store.get(other) is None
    assert await store.segments(old) == []
    assert await store.get(new) is not None and await store.get(live) is not None
    assert not any(k.startswith((f"{old}/", f"{other}/")) for k in objects.objects)
    assert {k.split("/")[0] for k in objects.objects} == {new, live}
    assert retention.stats.recordings_deleted == 2
    assert retention.stats.bytes_deleted == 1000
    deletions = [r.getMessage() for r in caplog.records if "retention: deleted" in r.getMessage()]
    assert len(deletions) == 2 and any(old in m for m in deletions)
    # A second pass has nothing left to do.
    assert await retention.run_once() == []


async def test_a_channels_size_cap_set_in_the_index_deletes_its_oldest(
    index: tuple[RecordingStore, ChannelStore], caplog: pytest.LogCaptureFixture
) -> None:
    store, channels = index
    objects = MemoryStore()
    first, second, other = "f" * 16, "s" * 16, "t" * 16
    for rid, channel, started in ((first, "demo", 3), (second, "demo", 2), (other, "other", 4)):
        await recorded(store, objects, rid, channel, days_ago(started))
        await store.finish(rid, ended_at=days_ago(started) + 2)
    # 500 bytes each: a cap of 600 bytes keeps one of demo's two; "other" has no cap.
    channel = await channels.update("demo", retention_gb=600 / GB)
    assert channel.retention_gb == pytest.approx(600 / GB)
    retention = RecordingRetention(objects, store, lambda: RetentionRules(), clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="golive.record"):
        deleted = await retention.run_once()
    assert [(e.id, e.reason) for e in deleted] == [(first, "channel size")]
    assert await store.get(second) is not None and await store.get(other) is not None
    assert any("over its channel's size cap" in r.getMessage() for r in caplog.records)
    # 0 takes the channel's cap away.
    assert (await channels.update("demo", retention_gb=0)).retention_gb is None


async def test_a_storage_failure_keeps_the_rows_for_the_next_pass(
    index: tuple[RecordingStore, ChannelStore], caplog: pytest.LogCaptureFixture
) -> None:
    store, _ = index
    objects = MemoryStore()
    old = "o" * 16
    await recorded(store, objects, old, "demo", days_ago(40))
    await store.finish(old, ended_at=days_ago(40) + 2)
    retention = RecordingRetention(
        objects, store, lambda: RetentionRules(days=30), clock=lambda: NOW
    )
    objects.broken = True
    with caplog.at_level(logging.WARNING, logger="golive.record"):
        assert await retention.run_once() == []
    assert await store.get(old) is not None
    assert len(await store.segments(old)) == 1
    assert retention.stats.errors == 1 and retention.stats.recordings_deleted == 0
    assert any("could not delete recording" in r.getMessage() for r in caplog.records)
    objects.broken = False
    assert [e.id for e in await retention.run_once()] == [old]
    assert await store.get(old) is None and objects.objects == {}
