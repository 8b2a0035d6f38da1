"""LocalObjectStore: the object contract on disk, atomic overwrites, hostile keys, disk errors."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from golive.store.local_object_store import LocalObjectStore
from golive.store.object_store import ObjectNotFound, ObjectStoreError


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "recordings")


async def keys(store: LocalObjectStore, prefix: str) -> list[str]:
    return sorted([key async for key in store.list(prefix)])


async def test_put_get_size_and_ranges(store: LocalObjectStore) -> None:
    await store.put("recordings/r1/source/1.m4s", b"0123456789")
    assert (store.root / "recordings/r1/source/1.m4s").read_bytes() == b"0123456789"
    assert await store.get("recordings/r1/source/1.m4s") == b"0123456789"
    assert await store.size("recordings/r1/source/1.m4s") == 10
    assert await store.get("recordings/r1/source/1.m4s", 2, 5) == b"234"
    assert await store.get("recordings/r1/source/1.m4s", 7) == b"789"
    assert await store.get("recordings/r1/source/1.m4s", 4, 4) == b""
    assert await store.get("recordings/r1/source/1.m4s", 8, 100) == b"89"
    await store.put("empty", memoryview(b""))
    assert await store.get("empty") == b""
    assert await store.size("empty") == 0
    with pytest.raises(ValueError):
        await store.get("recordings/r1/source/1.m4s", 5, 2)
    with pytest.raises(ValueError):
        await store.get("recordings/r1/source/1.m4s", -1)


async def test_missing_objects(store: LocalObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.get("nothing/here")
    with pytest.raises(ObjectNotFound):
        await store.size("nothing")
    await store.put("a/b", b"x")
    # A directory is not an object, and nothing lies below a file.
    with pytest.raises(ObjectNotFound):
        await store.get("a")
    with pytest.raises(ObjectNotFound):
        await store.size("a")
    with pytest.raises(ObjectNotFound):
        await store.get("a/b/c")
    await store.delete("never/was")  # not an error


async def test_delete_removes_object_and_empty_directories(store: LocalObjectStore) -> None:
    await store.put("recordings/r1/source/1.m4s", b"1")
    await store.put("recordings/r2/source/1.m4s", b"2")
    await store.delete("recordings/r1/source/1.m4s")
    with pytest.raises(ObjectNotFound):
        await store.get("recordings/r1/source/1.m4s")
    assert not (store.root / "recordings/r1").exists()
    assert await store.get("recordings/r2/source/1.m4s") == b"2"
    assert store.root.is_dir()
    # The store remembers directories it made; one a delete removed is made again.
    await store.put("recordings/r1/source/2.m4s", b"3")
    assert await store.get("recordings/r1/source/2.m4s") == b"3"


async def test_a_directory_removed_behind_the_stores_back_is_made_again(
    store: LocalObjectStore,
) -> None:
    await store.put("r1/source/1.m4s", b"1")
    (store.root / "r1/source/1.m4s").unlink()
    (store.root / "r1/source").rmdir()
    await store.put("r1/source/2.m4s", b"2")
    assert await store.get("r1/source/2.m4s") == b"2"


async def test_list_of_a_prefix_that_names_a_file(store: LocalObjectStore) -> None:
    # Listing by prefix in general is tests/e2e/test_object_store_s3.py's, on both backends.
    await store.put("other", b"x")
    assert await keys(store, "other/") == []  # a file where the prefix wants a directory
    assert await keys(store, "missing/") == []
    assert await keys(LocalObjectStore(store.root / "not-made"), "") == []


async def test_list_skips_temporary_files_and_symlinks(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    await store.put("rec/1.m4s", b"x")
    (store.root / "rec" / ".tmp-2.m4s.abc").write_bytes(b"half")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    (store.root / "rec" / "link-dir").symlink_to(outside)
    (store.root / "rec" / "link-file").symlink_to(outside / "secret")
    assert await keys(store, "") == ["rec/1.m4s"]


async def test_overwrite_is_atomic_for_readers(store: LocalObjectStore) -> None:
    old, new = b"A" * 4_000_000, b"B" * 4_000_000
    await store.put("segment", old)
    seen: list[bytes] = []
    stop = threading.Event()

    def read_until_stopped() -> None:
        path = store.root / "segment"
        while not stop.is_set():
            seen.append(path.read_bytes())

    reader = asyncio.create_task(asyncio.to_thread(read_until_stopped))
    for _ in range(10):
        await store.put("segment", new)
        await store.put("segment", old)
    stop.set()
    await reader
    assert seen
    assert all(data in (old, new) for data in seen)
    # No temporary file left behind.
    assert sorted(os.listdir(store.root)) == ["segment"]


async def test_durable_put(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, durable=True)
    await store.put("a/b", b"kept")
    assert await store.get("a/b") == b"kept"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "a/../../x",
        "a/..",
        "./a",
        "/etc/passwd",
        "a//b",
        "a/",
        "a\\b",
        "..\\x",
        "a\x00b",
        "a\nb",
        ".hidden",
        "a/.tmp-b.123",
        "x" * 2000,
    ],
)
async def test_hostile_keys_are_rejected(store: LocalObjectStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        await store.put(key, b"x")
    with pytest.raises(ValueError):
        await store.get(key)
    with pytest.raises(ValueError):
        await store.size(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    # Nothing was written anywhere under tmp_path.
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize("prefix", ["../", "/etc", "a//", "a\\", "a\x00", "../x"])
async def test_hostile_prefixes_are_rejected(store: LocalObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        await keys(store, prefix)


async def test_symlink_escape_is_rejected(store: LocalObjectStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store.root.mkdir()
    (store.root / "link").symlink_to(outside)
    (store.root / "file-link").symlink_to(outside / "secret")
    with pytest.raises(ValueError, match="leads out"):
        await store.get("link/secret")
    with pytest.raises(ValueError, match="leads out"):
        await store.get("file-link")
    with pytest.raises(ValueError, match="leads out"):
        await store.put("link/new", b"x")
    with pytest.raises(ValueError, match="leads out"):
        await store.delete("link/secret")
    with pytest.raises(ValueError, match="leads out"):
        await keys(store, "link/")
    assert sorted(path.name for path in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"


async def test_root_under_a_symlink_works(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    store = LocalObjectStore(tmp_path / "alias" / "recordings")
    await store.put("a/b", b"x")
    assert await store.get("a/b") == b"x"
    assert await keys(store, "") == ["a/b"]
    await store.delete("a/b")
    assert (real / "recordings").is_dir()


async def test_file_where_a_directory_is_expected_is_a_store_error(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    await store.put("a", b"file")
    with pytest.raises(ObjectStoreError, match=r"put 'a/b': (ENOTDIR|EEXIST)") as caught:
        await store.put("a/b", b"x")
    assert not isinstance(caught.value, ObjectNotFound)
    # The root itself is a file.
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"")
    with pytest.raises(ObjectStoreError, match=r"(ENOTDIR|EEXIST)"):
        await LocalObjectStore(blocked).put("x", b"x")


async def test_disk_full_is_a_store_error(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, descriptor: int, mode: str) -> None:
            self._file = real_fdopen(descriptor, mode)

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *args: object) -> None:
            self._file.close()

        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdopen", FullFile)
    with pytest.raises(ObjectStoreError, match="ENOSPC"):
        await store.put("rec/1", b"x")
    monkeypatch.undo()
    # Nothing half-written is left, under the key or as a temporary file.
    assert [path for path in store.root.rglob("*") if path.is_file()] == []


async def test_disk_work_runs_off_the_event_loop(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    real_replace = os.replace

    def recording_replace(source: str | Path, target: str | Path) -> None:
        threads.add(threading.get_ident())
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    await store.put("a", b"x")
    assert threads and loop_thread not in threads
