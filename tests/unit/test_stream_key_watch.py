"""Publishers whose stream key was changed by another process are found and disconnected."""

from __future__ import annotations

from collections.abc import Collection

from golive.live.stream_key_watch import StreamKeyWatch


async def test_a_rotated_or_deleted_key_disconnects_only_that_publisher() -> None:
    stored: dict[str, str | None] = {"a": "hash-a", "b": "hash-b", "c": "hash-c"}
    kicked: list[tuple[str, str]] = []

    async def lookup(channels: Collection[str]) -> dict[str, str]:
        return {ch: h for ch in channels if (h := stored[ch]) is not None}

    watch = StreamKeyWatch(lookup, lambda ch, why: kicked.append((ch, why)), interval=1.0)
    for channel in ("a", "b", "c"):
        watch.published(channel, f"hash-{channel}")
    assert await watch.check() == []
    stored["a"] = "hash-a2"  # golive channel rotate-key a
    stored["c"] = None  # channel deleted
    assert sorted(await watch.check()) == ["a", "c"]
    assert sorted(kicked) == [("a", "stream key rotated"), ("c", "channel deleted")]
    # Once only; a publisher with the new key is then watched with that key.
    assert await watch.check() == []
    watch.published("a", "hash-a2")
    assert await watch.check() == []


async def test_an_ended_stream_is_forgotten() -> None:
    async def lookup(channels: Collection[str]) -> dict[str, str]:
        return dict.fromkeys(channels, "new")

    kicked: list[str] = []
    watch = StreamKeyWatch(lookup, lambda ch, why: kicked.append(ch), interval=1.0)
    watch.published("a", "old")
    watch.forget("a")
    assert await watch.check() == []
    assert kicked == []
