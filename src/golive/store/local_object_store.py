"""Recordings on local disk: one file per object under a root directory.

Every disk operation runs in a worker thread (``asyncio.to_thread``), never on the event loop.
A put writes a hidden temporary file in the object's directory and renames it over the key
(``os.replace``), so a reader sees the old bytes or the new, never a part; a crash leaves at
most a stray temporary file, which :meth:`LocalObjectStore.list` does not report. With
``durable=True`` the file is fsynced before the rename (survives a power cut, not only a
``kill -9``). A key is checked for shape (:mod:`golive.store.object_key`) and, on disk, for
not leading out of the root through a symbolic link: both raise ValueError.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from golive.store.object_key import check_key, check_prefix
from golive.store.object_store import ObjectNotFound, ObjectStoreError

__all__ = ["LocalObjectStore"]

_T = TypeVar("_T")
_TEMPORARY_PREFIX = ".tmp-"
_COPY_CHUNK = 1 << 20  # put_file copies a file a MiB at a time, never whole
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def _errno_name(error: OSError) -> str:
    if error.errno is None:
        return type(error).__name__
    return errno.errorcode.get(error.errno, f"errno {error.errno}")


class LocalObjectStore:
    """An :class:`~golive.store.object_store.ObjectStore` in a directory tree."""

    def __init__(self, root: Path, *, durable: bool = False) -> None:
        # No disk access here (a constructor runs on the event loop): the root is made absolute
        # lexically, created by the first put and resolved (symlinks) in the worker threads.
        self._root = Path(os.path.abspath(root))
        self._durable = durable
        # Resolving a key's path (an lstat per component) and making its directory cost more
        # CPU than writing a small segment, and a recording writes into the same directory
        # for hours: the root is resolved once, and a directory found (or made) inside it is
        # remembered until a delete may have removed it. A write needs only its directory
        # checked: ``os.replace`` renames over a symlink at the file's own name rather than
        # following it. Reads still resolve the whole path.
        self._resolved_root: Path | None = None
        self._checked_directories: set[Path] = set()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def description(self) -> str:
        return f"local disk {self._root}"

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self._root)!r})"

    # The event-loop side: check the key, then do the disk work in a thread.

    async def put(self, key: str, data: bytes | memoryview) -> None:
        check_key(key)
        await self._run("put", key, self._put, key, data)

    async def put_file(self, key: str, path: Path) -> None:
        check_key(key)
        await self._run("put", key, self._put_file, key, path)

    async def copy(self, source: str, destination: str) -> None:
        check_key(source)
        check_key(destination)
        await self._run("copy", source, self._copy, source, destination)

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        check_key(key)
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"byte range [{start}, {end}) of {key!r}")
        return await self._run("get", key, self._get, key, start, end)

    async def size(self, key: str) -> int:
        check_key(key)
        return await self._run("size", key, self._size, key)

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._run("delete", key, self._delete, key)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        check_prefix(prefix)
        keys = await self._run("list", prefix, self._list, prefix)
        for key in keys:
            yield key

    async def close(self) -> None:
        return None

    async def _run(
        self, operation: str, key: str, function: Callable[..., _T], *args: object
    ) -> _T:
        try:
            return await asyncio.to_thread(function, *args)
        except ObjectStoreError:
            raise
        except OSError as error:
            raise ObjectStoreError(
                f"{self.description}: {operation} {key!r}: {_errno_name(error)}"
                f" ({error.strerror or error})"
            ) from error

    # The thread side.

    def _root_resolved(self) -> Path:
        root = self._resolved_root
        if root is None:
            root = self._resolved_root = self._root.resolve()
        return root

    def _path(self, key: str) -> Path:
        """The file for ``key``, after checking it stays under the root once symlinks resolve."""
        path = self._root.joinpath(*key.split("/"))
        if not path.resolve().is_relative_to(self._root_resolved()):
            raise ValueError(f"object key {key!r} leads out of {self._root}")
        return path

    def _write_path(self, key: str) -> Path:
        """The file for ``key``, its directory made and checked (once) to stay under the root."""
        path = self._root.joinpath(*key.split("/"))
        directory = path.parent
        if directory not in self._checked_directories:
            directory.mkdir(parents=True, exist_ok=True)
            if not directory.resolve().is_relative_to(self._root_resolved()):
                raise ValueError(f"object key {key!r} leads out of {self._root}")
            self._checked_directories.add(directory)
        return path

    def _put(self, key: str, data: bytes | memoryview) -> None:
        self._write(key, lambda file: file.write(data))

    def _put_file(self, key: str, source: Path) -> None:
        with source.open("rb") as src:
            self._write(key, lambda file: shutil.copyfileobj(src, file, _COPY_CHUNK))

    def _copy(self, source: str, destination: str) -> None:
        """A hard link (no byte copied; a put replaces a file by renaming, never in place, so
        the two names cannot diverge), renamed over the destination like a put; a byte copy
        where links are not possible (another file system, a file system without them)."""
        src = self._path(source)
        if not src.is_file():
            raise ObjectNotFound(f"{self.description}: no object {source!r}")
        path = self._path(destination)
        temporary = path.with_name(f"{_TEMPORARY_PREFIX}{path.name}.{secrets.token_hex(6)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, temporary)
        except OSError:
            with src.open("rb") as file:
                self._write(destination, lambda out: shutil.copyfileobj(file, out, _COPY_CHUNK))
            return
        try:
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        """Write ``key`` through a temporary file in its directory, then rename it in place."""
        path = self._write_path(key)
        temporary = path.with_name(f"{_TEMPORARY_PREFIX}{path.name}.{secrets.token_hex(6)}")
        for attempt in range(3):
            try:
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileNotFoundError:
                # A concurrent delete removed the (then empty) directory: make it again.
                if attempt == 2:
                    raise
                self._checked_directories.discard(path.parent)
                path = self._write_path(key)
        try:
            with os.fdopen(descriptor, "wb") as file:
                fill(file)
                if self._durable:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _get(self, key: str, start: int, end: int | None) -> bytes:
        path = self._path(key)
        try:
            with path.open("rb") as file:
                if start:
                    file.seek(start)
                return file.read() if end is None else file.read(end - start)
        except _MISSING as error:
            raise ObjectNotFound(f"{self.description}: no object {key!r}") from error

    def _size(self, key: str) -> int:
        path = self._path(key)
        try:
            status = path.stat()
        except _MISSING as error:
            raise ObjectNotFound(f"{self.description}: no object {key!r}") from error
        if not path.is_file():
            raise ObjectNotFound(f"{self.description}: no object {key!r}")
        return status.st_size

    def _delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except _MISSING:
            return
        # Remove the directories the delete left empty (a deleted recording leaves no tree).
        root = self._root_resolved()
        parent = path.parent
        while parent != self._root and parent.resolve() != root:
            try:
                parent.rmdir()
            except OSError:
                break
            self._checked_directories.discard(parent)
            parent = parent.parent

    def _list(self, prefix: str) -> builtins.list[str]:
        directory, _, _ = prefix.rpartition("/")
        base = self._path(directory) if directory else self._root
        keys: builtins.list[str] = []
        for current, directories, files in os.walk(base, onerror=_raise):
            # Symlinked directories are not followed (os.walk default); hidden ones skipped.
            directories[:] = [name for name in directories if not name.startswith(".")]
            relative = Path(current).relative_to(self._root).as_posix()
            for name in files:
                if name.startswith(".") or os.path.islink(os.path.join(current, name)):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return keys


def _raise(error: OSError) -> None:
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return  # the prefix names no directory: no keys
    raise error
