"""One restream destination: its configuration, its status, and when to try it again.

No I/O and no clock of its own: the forwarder reports what happened and passes the time
(monotonic seconds), so every transition is testable with a fake clock.

Status: ``idle`` (waiting for the stream's next keyframe), ``connecting`` (ffmpeg started,
nothing sent yet), ``live`` (bytes are reaching the destination), ``failed`` (with the
reason; ``retry_in`` says when the next attempt starts) or ``stopped`` (the forwarder
stopped it; a disabled or deleted destination is not forwarded at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "Backoff",
    "DestinationConfig",
    "DestinationState",
    "DestinationStatus",
    "DestinationTracker",
]


class DestinationState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    """Where to forward: ``url`` (``rtmp://host[:port]/app``) and ``key`` (a secret)."""

    id: int
    url: str
    key: str = field(repr=False)
    name: str = ""

    @property
    def target(self) -> str:
        """The URL ffmpeg publishes to: the server URL with the key as the stream name."""
        return f"{self.url.rstrip('/')}/{self.key}"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between attempts: ``initial`` doubling up to ``maximum``; an attempt that
    stayed live for ``reset_after`` seconds counts as a success and starts over."""

    initial: float = 1.0
    maximum: float = 60.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait before the attempt that follows ``failures`` failures in a row (>= 1)."""
        return min(self.maximum, self.initial * 2.0 ** max(0, failures - 1))


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    """What the API and the dashboard show of a destination."""

    state: DestinationState
    reason: str = ""
    retry_in: float | None = None  # seconds until the next attempt (failed only)
    bitrate_bps: float = 0.0
    live_since: float | None = None  # monotonic seconds


class DestinationTracker:
    """The status of one destination and its failures in a row."""

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self.state = DestinationState.IDLE
        self.reason = ""
        self.failures = 0
        self._retry_at: float | None = None
        self._live_since: float | None = None
        self.bitrate_bps = 0.0

    def connecting(self) -> None:
        self.state = DestinationState.CONNECTING
        self._retry_at = None
        self._live_since = None
        self.bitrate_bps = 0.0

    def live(self, now: float) -> None:
        if self.state is not DestinationState.LIVE:
            self.state = DestinationState.LIVE
            self.reason = ""
            self._live_since = now

    def settle(self, now: float) -> None:
        """Called while live: a minute on air forgets the failures before it."""
        since = self._live_since
        if since is not None and now - since >= self.backoff.reset_after:
            self.failures = 0

    def failed(self, reason: str, now: float) -> float:
        """Record a failure; returns the delay before the next attempt."""
        self.settle(now)
        self.failures += 1
        self.state = DestinationState.FAILED
        self.reason = reason
        self._live_since = None
        self.bitrate_bps = 0.0
        delay = self.backoff.delay(self.failures)
        self._retry_at = now + delay
        return delay

    def idle(self) -> None:
        """Waiting for the stream (a keyframe, or the retry that is now due)."""
        self.state = DestinationState.IDLE
        self._retry_at = None
        self._live_since = None
        self.bitrate_bps = 0.0

    def due(self, now: float) -> bool:
        """Whether a new attempt may start (not failed, or its delay is over)."""
        return self._retry_at is None or now >= self._retry_at

    def status(self, now: float) -> DestinationStatus:
        retry_in = None
        if self.state is DestinationState.FAILED and self._retry_at is not None:
            retry_in = max(0.0, self._retry_at - now)
        return DestinationStatus(
            self.state,
            self.reason,
            retry_in,
            self.bitrate_bps if self.state is DestinationState.LIVE else 0.0,
            self._live_since,
        )
