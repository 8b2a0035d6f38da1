"""Which recordings retention deletes (pure: the caller gives the recordings and the time).

Two rules, both optional:

- **Age**: a finished recording older than its channel's ``retention_days`` (None: the global
  ``record_retention_days``; 0: kept forever) is deleted. Age counts from the recording's
  start.
- **A channel's size**: while a channel's finished recordings that are left weigh more than
  its own ``retention_gb`` (None: no cap of its own), its oldest are deleted first.
- **Total size**: while the finished recordings that are left weigh more than
  ``record_retention_gb`` (0: no cap), the oldest are deleted first, whatever their channel.

A recording still being written is never deleted (and its size is not counted: it is known
only once it is finished).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["Expiry", "RetainedRecording", "RetentionRules", "expired_recordings"]

DAY = 86_400.0
GB = 1_000_000_000

# The status of a recording still being written (db.models.RECORDING_ACTIVE).
IN_PROGRESS = "recording"


class RetainedRecording(Protocol):
    """A recording as retention sees it (``db.recordings.RetentionRow`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> float: ...  # seconds since the epoch
    @property
    def bytes(self) -> int: ...
    @property
    def retention_days(self) -> int | None: ...
    @property
    def retention_gb(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class RetentionRules:
    days: float = 0.0  # global age limit; 0: none
    max_bytes: int = 0  # total size cap; 0: none

    @classmethod
    def of(cls, days: float, gigabytes: float) -> RetentionRules:
        return cls(days=days, max_bytes=int(gigabytes * GB))


@dataclass(frozen=True, slots=True)
class Expiry:
    """A recording to delete, and why."""

    id: str
    channel: str
    bytes: int
    reason: Literal["age", "channel size", "size"]
    age_days: float


def expired_recordings(
    recordings: Iterable[RetainedRecording], rules: RetentionRules, now: float
) -> list[Expiry]:
    """The recordings to delete now: by age first, then oldest first down to the size cap."""
    finished = sorted(
        (r for r in recordings if r.status != IN_PROGRESS), key=lambda r: (r.started_at, r.id)
    )
    doomed: list[Expiry] = []
    kept = []
    for recording in finished:
        age = max(0.0, now - recording.started_at) / DAY
        days = rules.days if recording.retention_days is None else recording.retention_days
        if days > 0 and age >= days:
            doomed.append(_expiry(recording, "age", age))
        else:
            kept.append(recording)
    kept = _within_channel_caps(kept, doomed, now)
    if rules.max_bytes > 0:
        total = sum(r.bytes for r in kept)
        for recording in kept:  # oldest first
            if total <= rules.max_bytes:
                break
            total -= recording.bytes
            doomed.append(_expiry(recording, "size", max(0.0, now - recording.started_at) / DAY))
    return doomed


def _within_channel_caps(
    kept: list[RetainedRecording], doomed: list[Expiry], now: float
) -> list[RetainedRecording]:
    """``kept`` less each capped channel's oldest recordings over its cap (added to
    ``doomed``); the order (oldest first) is kept."""
    totals: dict[str, int] = {}
    for recording in kept:
        totals[recording.channel] = totals.get(recording.channel, 0) + recording.bytes
    left = []
    for recording in kept:  # oldest first
        cap = recording.retention_gb
        if cap is not None and cap > 0 and totals[recording.channel] > int(cap * GB):
            totals[recording.channel] -= recording.bytes
            age = max(0.0, now - recording.started_at) / DAY
            doomed.append(_expiry(recording, "channel size", age))
        else:
            left.append(recording)
    return left


def _expiry(
    recording: RetainedRecording, reason: Literal["age", "channel size", "size"], age: float
) -> Expiry:
    return Expiry(recording.id, recording.channel, recording.bytes, reason, age)
