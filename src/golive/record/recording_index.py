"""What the archive writer needs from the database; ``db.recordings.RecordingStore``
implements it structurally (neither package imports the other).

Every write carries the writer's fencing token (its channel's publish lease token; 0 in a
single process). The index refuses a write whose token is smaller than the largest its
recording has seen (another node took the channel over and continues it) with an exception
whose ``stale_writer`` attribute is true: ``is_stale_writer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class RecordingSummary(Protocol):
    """A finished recording (times in seconds since the epoch)."""

    @property
    def id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def stream_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def ended_at(self) -> float | None: ...
    @property
    def duration(self) -> float: ...
    @property
    def bytes(self) -> int: ...
    @property
    def gaps(self) -> int:
        """Holes in it (segments lost while storage failed), in its most affected rendition."""
        ...


class IndexedSegment(Protocol):
    """One stored segment's index row (``db.models.RecordingSegment``)."""

    @property
    def rendition(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def media_start(self) -> int: ...
    @property
    def timescale(self) -> int: ...
    @property
    def duration(self) -> float: ...
    @property
    def byte_size(self) -> int: ...
    @property
    def program_date_time(self) -> float: ...
    @property
    def storage_key(self) -> str: ...
    @property
    def init_key(self) -> str: ...
    @property
    def discontinuity(self) -> bool: ...
    @property
    def gap_before(self) -> bool: ...


def is_stale_writer(error: BaseException) -> bool:
    """Whether the index refused a write because a writer with a larger token holds the
    recording (retrying cannot help)."""
    return getattr(error, "stale_writer", False) is True


class Superseded(Exception):
    """This writer's fencing token is no longer the recording's: another node holds it."""

    stale_writer = True


class RecordingIndex(Protocol):
    async def create(
        self,
        recording_id: str,
        *,
        channel: str,
        stream_id: str,
        started_at: float,
        fence_token: int,
    ) -> None: ...

    async def add_segment(
        self,
        recording_id: str,
        *,
        rendition: str,
        sequence: int,
        media_start: int,
        timescale: int,
        duration: float,
        byte_size: int,
        program_date_time: float,
        storage_key: str,
        init_key: str,
        discontinuity: bool,
        gap_before: bool,
        fence_token: int,
    ) -> None: ...

    async def finish(
        self, recording_id: str, *, ended_at: float | None, fence_token: int
    ) -> RecordingSummary: ...

    async def claim(self, recording_id: str, fence_token: int) -> bool:
        """Hold the recording for the writer of ``fence_token``; False when a writer with a
        larger one holds it (or there is no such recording)."""
        ...

    async def segments(self, recording_id: str) -> Sequence[IndexedSegment]:
        """Every stored segment of a recording, by rendition then sequence."""
        ...
