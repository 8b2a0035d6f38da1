"""The ObjectStore contract, run against both backends: local disk and S3 (moto's server on
loopback); then S3 storage going away mid-way (a bounded failure, no hang) and coming back.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from golive.store.object_store import ObjectNotFound, ObjectStore, ObjectStoreError
from golive.store.object_store_url import open_object_store
from tests.support.s3_server import SECRET_ACCESS_KEY, running_s3_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def with_prefix(url: str, prefix: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rstrip('/')}/{prefix}?{query}"


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        opened = open_object_store("", tmp_path)
    else:
        url: str = request.getfixturevalue("s3_server")
        # One prefix per test: the session's bucket is shared.
        opened = open_object_store(with_prefix(url, f"t-{uuid.uuid4().hex}"), tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


async def keys(store: ObjectStore, prefix: str) -> list[str]:
    return sorted([key async for key in store.list(prefix)])


async def test_put_get_size_ranges(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, a segment's size
    await store.put("recordings/r1/source/1.m4s", data)
    assert await store.get("recordings/r1/source/1.m4s") == data
    assert await store.size("recordings/r1/source/1.m4s") == len(data)
    assert await store.get("recordings/r1/source/1.m4s", 1000, 1010) == data[1000:1010]
    assert await store.get("recordings/r1/source/1.m4s", len(data) - 5) == data[-5:]
    assert await store.get("recordings/r1/source/1.m4s", 100, 100) == b""
    assert (
        await store.get("recordings/r1/source/1.m4s", len(data) - 2, len(data) + 50) == (data[-2:])
    )
    assert await store.get("recordings/r1/source/1.m4s", len(data)) == b""
    assert await store.get("recordings/r1/source/1.m4s", len(data) + 10, len(data) + 20) == b""
    await store.put("recordings/r1/source/init.mp4", memoryview(b"init"))
    assert await store.get("recordings/r1/source/init.mp4") == b"init"
    await store.put("empty", b"")
    assert await store.get("empty") == b""
    assert await store.size("empty") == 0


async def test_put_file_streams_a_file_in(store: ObjectStore, tmp_path: Path) -> None:
    # The MP4 download goes in this way: larger than a chunk, multipart on S3 when large.
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "big.mp4"
    source.write_bytes(data)
    await store.put_file("r9/download.mp4", source)
    assert await store.size("r9/download.mp4") == len(data)
    assert await store.get("r9/download.mp4") == data
    assert (
        await store.get("r9/download.mp4", 1 << 20, (1 << 20) + 5) == data[1 << 20 : (1 << 20) + 5]
    )


async def test_overwrite_replaces(store: ObjectStore) -> None:
    await store.put("a/b", b"first version")
    await store.put("a/b", b"second")
    assert await store.get("a/b") == b"second"
    assert await store.size("a/b") == 6


async def test_missing_objects(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.get("no/such/key")
    with pytest.raises(ObjectNotFound):
        await store.get("no/such/key", 5, 10)
    with pytest.raises(ObjectNotFound):
        await store.get("no/such/key", 5, 5)
    with pytest.raises(ObjectNotFound):
        await store.size("no/such/key")
    await store.delete("no/such/key")


async def test_copy_is_a_second_key_that_outlives_the_first(store: ObjectStore) -> None:
    await store.put("rec/source/0.m4s", b"segment bytes")
    await store.copy("rec/source/0.m4s", "clips/c/source/0.m4s")
    assert await store.get("clips/c/source/0.m4s") == b"segment bytes"
    await store.put("rec/source/0.m4s", b"replaced")  # a put never changes the copy
    assert await store.get("clips/c/source/0.m4s") == b"segment bytes"
    await store.delete("rec/source/0.m4s")
    assert await store.get("clips/c/source/0.m4s") == b"segment bytes"
    with pytest.raises(ObjectNotFound):
        await store.copy("rec/source/1.m4s", "clips/c/source/1.m4s")
    with pytest.raises(ValueError):
        await store.copy("rec/../x", "clips/c/x")


async def test_delete(store: ObjectStore) -> None:
    await store.put("r/1", b"1")
    await store.put("r/2", b"2")
    await store.delete("r/1")
    with pytest.raises(ObjectNotFound):
        await store.get("r/1")
    assert await store.get("r/2") == b"2"
    assert await keys(store, "r/") == ["r/2"]


async def test_list_by_string_prefix(store: ObjectStore) -> None:
    for key in ("rec/a/1.m4s", "rec/a/2.m4s", "rec/ab/1.m4s", "rec/b/init.mp4", "other"):
        await store.put(key, b"x")
    assert await keys(store, "") == [
        "other",
        "rec/a/1.m4s",
        "rec/a/2.m4s",
        "rec/ab/1.m4s",
        "rec/b/init.mp4",
    ]
    assert await keys(store, "rec/a/") == ["rec/a/1.m4s", "rec/a/2.m4s"]
    assert await keys(store, "rec/a") == ["rec/a/1.m4s", "rec/a/2.m4s", "rec/ab/1.m4s"]
    assert await keys(store, "rec/b/in") == ["rec/b/init.mp4"]
    assert await keys(store, "nothing/") == []


async def test_many_concurrent_puts(store: ObjectStore) -> None:
    payloads = {f"rec/r/{n}.m4s": f"segment {n}".encode() * 1000 for n in range(40)}
    await asyncio.gather(*(store.put(key, data) for key, data in payloads.items()))
    assert await keys(store, "rec/r/") == sorted(payloads)
    for key, data in payloads.items():
        assert await store.get(key) == data


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a//b", "a\\b", "a\x00b", "a/../b", ".hidden", "a/"]
)
async def test_hostile_keys_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        await store.put(key, b"x")
    with pytest.raises(ValueError):
        await store.get(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    assert await keys(store, "") == []


async def test_description_holds_no_secret(store: ObjectStore) -> None:
    assert SECRET_ACCESS_KEY not in store.description
    assert store.description


async def test_s3_down_fails_within_bounds_and_recovers(tmp_path: Path) -> None:
    with running_s3_server(bucket="golive-fault") as server:
        store = open_object_store(
            server.url("vod", connect_timeout="1", timeout="2", retry_timeout="3", max_retries="2"),
            tmp_path,
        )
        await store.put("rec/1.m4s", b"before")
        assert await store.get("rec/1.m4s") == b"before"

        # Frozen: the kernel accepts connections that no one answers (the timeouts must end
        # the calls), then stopped: connections refused (the retries must give up).
        for take_away in (server.pause, server.stop):
            take_away()
            await expect_bounded_failures(store)
        server.start()  # a fresh moto: the bucket is back, empty
        await store.put("rec/3.m4s", b"after")
        assert await store.get("rec/3.m4s") == b"after"
        assert await keys(store, "rec/") == ["rec/3.m4s"]
        await store.close()


async def expect_bounded_failures(store: ObjectStore) -> None:
    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: store.put("rec/2.m4s", b"during"),
        lambda: store.get("rec/1.m4s"),
        lambda: store.size("rec/1.m4s"),
        lambda: keys(store, "rec/"),
    ]
    for operation in operations:
        started = time.monotonic()
        with pytest.raises(ObjectStoreError) as caught:
            # The guard only turns a hang into a clear failure; the store's own bounds
            # (retry_timeout 3 s) must end the call well before it.
            await asyncio.wait_for(operation(), timeout=30)
        elapsed = time.monotonic() - started
        assert not isinstance(caught.value, ObjectNotFound)
        assert elapsed < 15, f"{caught.value} after {elapsed:.1f} s"
        assert "golive-fault" in str(caught.value)
