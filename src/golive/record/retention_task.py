"""The retention task: every few minutes, delete the recordings the policy says have expired.

Each deletion removes the recording's objects (``<id>/`` in the object store) first, then its
rows, so a storage failure leaves the rows in place and the next pass finishes the job. The
recordings are read through :class:`RetentionIndex`, which ``db.recordings.RecordingStore``
implements structurally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from golive.record.retention_policy import (
    Expiry,
    RetainedRecording,
    RetentionRules,
    expired_recordings,
)
from golive.record.storage_keys import UnsafeKey, recording_prefix
from golive.store.object_store import ObjectStore, ObjectStoreError
from golive.store.prefix_removal import delete_prefix

__all__ = ["RETENTION_INTERVAL", "RecordingRetention", "RetentionIndex", "RetentionStats"]

log = logging.getLogger("golive.record")

_WHY = {
    "age": "older than its channel's retention",
    "channel size": "over its channel's size cap",
    "size": "over the size cap",
}

# Seconds between passes, and before the first one (the server is busy starting up).
RETENTION_INTERVAL = 300.0
FIRST_PASS_DELAY = 30.0


class RetentionIndex(Protocol):
    async def retention_candidates(self) -> Sequence[RetainedRecording]: ...

    async def delete(self, recording_id: str) -> bool: ...


@dataclass(slots=True)
class RetentionStats:
    recordings_deleted: int = 0
    bytes_deleted: int = 0
    errors: int = 0


class RecordingRetention:
    def __init__(
        self,
        store: ObjectStore,
        index: RetentionIndex,
        rules: Callable[[], RetentionRules],
        *,
        clock: Callable[[], float] = time.time,
        interval: float = RETENTION_INTERVAL,
        first_delay: float = FIRST_PASS_DELAY,
    ) -> None:
        self.store = store
        self._index = index
        self._rules = rules
        self._clock = clock
        self._interval = interval
        self._first_delay = first_delay
        self.stats = RetentionStats()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> list[Expiry]:
        """One pass: the recordings deleted (those whose storage failed are left for later)."""
        rules = self._rules()  # read per pass: a reload applies at the next one
        candidates = await self._index.retention_candidates()
        deleted: list[Expiry] = []
        for expiry in expired_recordings(candidates, rules, self._clock()):
            if await self._delete(expiry):
                deleted.append(expiry)
        return deleted

    async def _delete(self, expiry: Expiry) -> bool:
        try:
            objects = await delete_prefix(self.store, recording_prefix(expiry.id))
        except ObjectStoreError as exc:
            self.stats.errors += 1
            log.warning(
                "retention: could not delete recording %s of %s from storage, kept for the "
                "next pass: %s",
                expiry.id,
                expiry.channel,
                exc,
            )
            return False
        except UnsafeKey:
            objects = 0  # not an id golive makes: no objects can be stored under it
        await self._index.delete(expiry.id)
        self.stats.recordings_deleted += 1
        self.stats.bytes_deleted += expiry.bytes
        log.info(
            "retention: deleted recording %s of %s (%s: %.1f days old, %d bytes, %d objects)",
            expiry.id,
            expiry.channel,
            _WHY[expiry.reason],
            expiry.age_days,
            expiry.bytes,
            objects,
        )
        return True

    async def run(self) -> None:
        """Pass after pass until cancelled; a failed pass is logged and the next one tried."""
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self.run_once()
            except Exception:
                self.stats.errors += 1
                log.exception("retention pass failed")
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="recording-retention")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
