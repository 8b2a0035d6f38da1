"""Where recordings live: the interface every storage backend implements.

Keys are relative, '/'-separated paths made only by golive (never from user text; see
``record/``): ``<recording id>/<rendition>/<sequence>.m4s``, relative to the backend's root
(``<data_dir>/recordings`` by default, or a bucket and prefix). A backend is
asynchronous and never blocks the event loop; a failure is an :class:`ObjectStoreError`
(the caller decides whether to retry), a missing key an :class:`ObjectNotFound`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

__all__ = ["ObjectNotFound", "ObjectStore", "ObjectStoreError"]


class ObjectStoreError(Exception):
    """The backend could not do what was asked (unreachable, full, refused)."""


class ObjectNotFound(ObjectStoreError):
    """No object under that key."""


class ObjectStore(Protocol):
    """A flat namespace of immutable byte objects."""

    @property
    def description(self) -> str:
        """What and where, for logs (never a secret)."""
        ...

    async def put(self, key: str, data: bytes | memoryview) -> None:
        """Store ``data`` under ``key``, replacing what was there; atomic for readers."""
        ...

    async def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key``, streamed: never read into memory whole."""
        ...

    async def copy(self, source: str, destination: str) -> None:
        """Store the object at ``source`` under ``destination`` too, without its bytes going
        through golive where the backend allows (a hard link on local disk, a server-side
        copy on S3); ObjectNotFound if ``source`` is missing. Objects are immutable, so the
        two keys never differ, and deleting one leaves the other."""
        ...

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """The object's bytes ``[start, end)`` (``end`` None: to the end)."""
        ...

    async def size(self, key: str) -> int:
        """The object's length in bytes."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    def list(self, prefix: str) -> AsyncIterator[str]:
        """Every key that starts with ``prefix``, in no particular order."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...
