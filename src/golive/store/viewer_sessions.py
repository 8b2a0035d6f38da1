"""Concurrent viewers per channel, counted from the players' playlist requests.

Every HLS player reloads its media playlist every part or segment for as long as it plays,
chat or no chat, so a player is a viewer while its playlist requests keep coming. Each one
is told apart by a session id: the CMCD session id (``sid``) that hls.js and other players
send (the ``CMCD`` query parameter or the ``CMCD-Session`` header), else a hash of the
client address and User-Agent (VLC, ffmpeg, an embed without CMCD). A viewer not seen for
``expiry`` seconds has left. How this behaves behind caches is in docs/viewers.md.

Memory is bounded: at most ``max_sessions`` per channel (further new sessions are not
counted until others expire), and expired ones are swept as requests come.

In a cluster (`share`), a task hands the sessions seen since its last round to a shared
`ViewerPresence` every ``flush_interval`` seconds and keeps the figures over every node it
reads back, which `count` and `peak` then answer; `seen` stays a dictionary write. When the
shared store cannot be reached, each node counts its own viewers (docs/viewers.md, "In a
cluster").
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from golive.store.viewer_presence import StreamPresence, ViewerPresence

__all__ = ["CMCD_SESSION", "ChannelViewers", "ViewerSessions", "session_id"]

log = logging.getLogger("golive.viewers")

_SID_MAX = 64  # characters of a CMCD session id kept (CTA-5004 recommends a UUID)


def _cmcd_sid(value: str) -> str | None:
    """The ``sid`` key of a CMCD payload (``key=value`` pairs separated by commas)."""
    for item in value.split(","):
        key, _, raw = item.strip().partition("=")
        if key == "sid" and raw:
            sid = raw.strip().strip('"')
            return sid[:_SID_MAX] if sid else None
    return None


# The prefix of a session id taken from a player's CMCD session id.
CMCD_SESSION = "c:"


def session_id(
    cmcd_query: str | None, cmcd_session_header: str | None, client: str, user_agent: str
) -> str:
    """Who is asking: ``c:<CMCD sid>``, or ``a:<hash of address and User-Agent>``."""
    for source in (cmcd_query, cmcd_session_header):
        if source:
            sid = _cmcd_sid(source)
            if sid is not None:
                return CMCD_SESSION + sid
    digest = hashlib.blake2b(f"{client}\n{user_agent}".encode(), digest_size=12).hexdigest()
    return "a:" + digest


@dataclass(slots=True)
class ChannelViewers:
    """The sessions seen on one channel's current stream, and its peak."""

    stream_token: str
    seen: dict[str, float] = field(default_factory=dict)  # session id -> last seen
    peak: int = 0
    # Shared only: the sessions seen since the last flush (a subset of ``seen``).
    fresh: dict[str, float] = field(default_factory=dict)
    # The count over every node, and when the flush that read it began (None: no figure).
    shared_count: int = 0
    shared_at: float | None = None


class ViewerSessions:
    """Counts viewers per channel from their requests; a session expires ``expiry`` s after
    its last request."""

    def __init__(
        self,
        *,
        expiry: float = 30.0,
        max_sessions: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        flush_interval: float = 1.0,
        shared_ttl: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.expiry = expiry
        self.max_sessions = max_sessions
        self.flush_interval = flush_interval
        # A figure over every node is believed this long without a newer one (a stalled
        # flush falls back to this node's own count rather than freezing a number).
        self.shared_ttl = shared_ttl
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._channels: dict[str, ChannelViewers] = {}
        self._next_sweep = 0.0
        self._presence: ViewerPresence | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._unreachable = False  # the last flush failed (warned once)
        self._resend_all = False  # the store may have lost what it had: send every session

    def seen(self, channel: str, stream_token: str, session: str) -> None:
        """A request from ``session`` for ``channel``'s stream ``stream_token``."""
        now = self._clock()
        viewers = self._channels.get(channel)
        if viewers is None or viewers.stream_token != stream_token:
            # A new stream counts (and peaks) from zero.
            viewers = self._channels[channel] = ChannelViewers(stream_token)
        seen = viewers.seen
        if session not in seen and len(seen) >= self.max_sessions:
            self._sweep(viewers, now)
            if len(seen) >= self.max_sessions:
                return
        seen[session] = now
        if self._presence is not None:
            viewers.fresh[session] = now
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            for other in self._channels.values():
                self._sweep(other, now)
        # Stale sessions are at most a second past their expiry here (swept each second).
        viewers.peak = max(viewers.peak, len(seen))

    def count(self, channel: str) -> int:
        """Viewers of the channel: over every node while a recent shared figure is known
        (never fewer than this node's own), else this node's."""
        viewers = self._channels.get(channel)
        if viewers is None:
            return 0
        now = self._clock()
        local = self._sweep(viewers, now)
        if viewers.shared_at is not None and now - viewers.shared_at <= self.shared_ttl:
            return max(local, viewers.shared_count)
        return local

    def peak(self, channel: str) -> int:
        viewers = self._channels.get(channel)
        return 0 if viewers is None else max(viewers.peak, self.count(channel))

    def forget(self, channel: str) -> None:
        """The channel's stream ended: nobody watches it any more. (Its shared entries
        expire on their own.)"""
        self._channels.pop(channel, None)

    # -- sharing across nodes -------------------------------------------------------------

    def share(self, presence: ViewerPresence) -> None:
        """Counts over every node from now on: starts the flush task (in the running loop)."""
        if self._flush_task is not None:
            raise RuntimeError("viewer sessions are already shared")
        self._presence = presence
        self._resend_all = True  # sessions seen before sharing began go too
        self._flush_task = asyncio.get_running_loop().create_task(self._run_flushes(presence))

    async def stop_sharing(self) -> None:
        """Stops the flush task; counts are this node's own again."""
        task, self._flush_task = self._flush_task, None
        self._presence = None
        if task is not None:
            task.cancel()
            # wait(), not `await task`: the task's own cancellation is not raised here, and
            # a cancellation of this caller still is.
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.error("viewer count flushes failed", exc_info=task.exception())
        for viewers in self._channels.values():
            viewers.fresh.clear()
            viewers.shared_at = None

    async def flush(self) -> None:
        """One round: hands the sessions seen since the last one to the shared store and
        keeps the figures it answers. Never raises for an unreachable store."""
        presence = self._presence
        if presence is None:
            return
        now = self._clock()
        wall = self._wall_clock()
        to_wall = wall - now
        resend = self._resend_all
        batch: list[tuple[ChannelViewers, StreamPresence]] = []
        for channel, viewers in self._channels.items():
            local = self._sweep(viewers, now)
            fresh, viewers.fresh = viewers.fresh, {}
            if resend:
                fresh = viewers.seen
            if not fresh and local == 0 and viewers.shared_count == 0:
                continue  # nobody watches it anywhere, as far as this node knows
            sessions = {sid: last + to_wall for sid, last in fresh.items()}
            batch.append(
                (viewers, StreamPresence(channel, viewers.stream_token, sessions, viewers.peak))
            )
        if not batch:
            self._resend_all = False
            return
        try:
            figures = await presence.share(
                [stream for _, stream in batch],
                now=wall,
                expiry=self.expiry,
                max_sessions=self.max_sessions,
            )
        except Exception as exc:  # whatever the store raises, this node counts on its own
            if self._presence is presence:
                self._fall_back(exc)
            return
        if self._presence is not presence:
            return  # sharing stopped during the round
        self._resend_all = False
        if self._unreachable:
            self._unreachable = False
            log.info("viewer counts are shared across nodes again")
        for (viewers, stream), shared in zip(batch, figures, strict=True):
            if self._channels.get(stream.channel) is not viewers:
                continue  # the stream ended or another began during the round
            viewers.shared_count = shared.count
            viewers.shared_at = now
            viewers.peak = max(viewers.peak, shared.peak, shared.count)

    def _fall_back(self, exc: Exception) -> None:
        # The store may come back empty (a restart): every session goes in the next round.
        self._resend_all = True
        for viewers in self._channels.values():
            viewers.shared_at = None
        if not self._unreachable:
            self._unreachable = True
            log.warning(
                "viewer counts: shared store unreachable, counting this node's only: %s", exc
            )

    async def _run_flushes(self, presence: ViewerPresence) -> None:
        # Ends on cancellation, and also when sharing stopped: a client library may swallow
        # a cancellation that lands mid-command (seen with redis-py), and the task would
        # otherwise go on flushing after stop_sharing.
        while self._presence is presence:
            await self._sleep(self.flush_interval)
            await self.flush()

    def _sweep(self, viewers: ChannelViewers, now: float) -> int:
        limit = now - self.expiry
        seen = viewers.seen
        # Dicts keep insertion order, not last-seen order, so a full scan; it runs at most
        # once a second per channel and on count().
        stale = [sid for sid, last in seen.items() if last < limit]
        for sid in stale:
            del seen[sid]
        return len(seen)
