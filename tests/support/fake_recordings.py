"""Recordings for unit tests: an in-memory object store that can be made to fail, and a
one-segment recording written into it and into a real index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from golive.db.recordings import RecordingStore
from golive.store.object_store import ObjectStoreError


class MemoryStore:
    """An ObjectStore in a dict; ``broken`` makes every delete fail."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.broken = False

    @property
    def description(self) -> str:
        return "memory"

    async def put(self, key: str, data: bytes | memoryview) -> None:
        self.objects[key] = bytes(data)

    async def put_file(self, key: str, path: Path) -> None:
        await self.put(key, path.read_bytes())

    async def copy(self, source: str, destination: str) -> None:
        await self.put(destination, await self.get(source))

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return self.objects[key][start:end]

    async def size(self, key: str) -> int:
        return len(self.objects[key])

    async def delete(self, key: str) -> None:
        if self.broken:
            raise ObjectStoreError("storage is down")
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        for key in list(self.objects):
            if key.startswith(prefix):
                yield key

    async def close(self) -> None:
        return None


async def recorded(
    store: RecordingStore, objects: MemoryStore, rid: str, channel: str, started: float
) -> None:
    await store.create(rid, channel=channel, stream_id=f"s-{rid}", started_at=started)
    await store.add_segment(
        rid,
        rendition="source",
        sequence=0,
        media_start=0,
        timescale=90_000,
        duration=2.0,
        byte_size=500,
        program_date_time=started,
        storage_key=f"{rid}/source/0.m4s",
        init_key=f"{rid}/source/init-0.mp4",
        discontinuity=False,
        gap_before=False,
    )
    objects.objects[f"{rid}/source/0.m4s"] = b"x" * 500
    objects.objects[f"{rid}/source/init-0.mp4"] = b"i"
