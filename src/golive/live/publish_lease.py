"""Publish leases: one publisher per channel, with a fencing token; the in-process store.

A lease says which node may ingest a channel. Its token grows with every acquisition of the
channel, so a write stamped with an old token (a node that was paused or cut off while its
lease expired and another node took the channel) can be told apart and refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

# Short enough that a killed node's leases expire well within 10 s, long enough to ride out
# a renewal or two lost to a slow network (renewals go every third of it).
DEFAULT_LEASE_TTL = 6.0

# The field a fenced write adds to the state it writes: which lease wrote it.
FENCE_TOKEN_FIELD = "fence_token"


class LeaseUnavailable(Exception):
    """The lease store cannot be reached: nobody knows who holds the channel, so refuse."""


@dataclass(frozen=True)
class Lease:
    """The right of ``holder`` (a node id) to ingest ``channel`` while ``token`` is current."""

    channel: str
    holder: str
    token: int
    ttl: float


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a channel's lease now, as the store sees it."""

    holder: str
    token: int


class PublishLeases(Protocol):
    """A store of publish leases. Every method raises LeaseUnavailable when unreachable."""

    @property
    def ttl(self) -> float:
        """Seconds a lease lives without a renewal."""
        ...

    async def acquire(self, channel: str, holder: str) -> Lease | None:
        """A new lease with a larger token, or None while another holder has the channel.

        The same holder acquiring again gets a new token: its previous lease is dead.
        """
        ...

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease by ``ttl``; False when it expired or another lease replaced it."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the channel up; nothing happens unless ``lease`` is the current one."""
        ...

    async def holder(self, channel: str) -> LeaseHolder | None: ...

    async def fenced_set(self, lease: Lease, key: str, mapping: Mapping[str, str]) -> bool:
        """Write ``mapping`` into the state ``key`` only if ``lease`` is still current.

        The check and the write are one atomic step; the state also records the writer's
        token under FENCE_TOKEN_FIELD. False (nothing written) for a stale lease.
        """
        ...

    async def read_state(self, key: str) -> dict[str, str]:
        """The state under ``key`` (empty when none was written)."""
        ...


@dataclass
class _Held:
    holder: LeaseHolder
    expires: float


class LocalPublishLeases:
    """PublishLeases in this process, for the single-node product (no Redis code path).

    Same rules as the shared store: leases expire ``ttl`` seconds after their last renewal on
    ``clock``, and each channel's tokens only grow.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_LEASE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0:
            raise ValueError("a lease ttl must be positive")
        self._ttl = ttl
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._last_token: dict[str, int] = {}
        self._state: dict[str, dict[str, str]] = {}

    @property
    def ttl(self) -> float:
        return self._ttl

    async def acquire(self, channel: str, holder: str) -> Lease | None:
        current = self._current(channel)
        if current is not None and current.holder != holder:
            return None
        token = self._last_token.get(channel, 0) + 1
        self._last_token[channel] = token
        self._held[channel] = _Held(LeaseHolder(holder, token), self._clock() + self._ttl)
        return Lease(channel, holder, token, self._ttl)

    async def renew(self, lease: Lease) -> bool:
        if not self._is_current(lease):
            return False
        self._held[lease.channel].expires = self._clock() + self._ttl
        return True

    async def release(self, lease: Lease) -> None:
        if self._is_current(lease):
            del self._held[lease.channel]

    async def holder(self, channel: str) -> LeaseHolder | None:
        return self._current(channel)

    async def fenced_set(self, lease: Lease, key: str, mapping: Mapping[str, str]) -> bool:
        if not self._is_current(lease):
            return False
        state = self._state.setdefault(key, {})
        state.update(mapping)
        state[FENCE_TOKEN_FIELD] = str(lease.token)
        return True

    async def read_state(self, key: str) -> dict[str, str]:
        return dict(self._state.get(key, {}))

    def _current(self, channel: str) -> LeaseHolder | None:
        held = self._held.get(channel)
        if held is None:
            return None
        if self._clock() >= held.expires:
            del self._held[channel]
            return None
        return held.holder

    def _is_current(self, lease: Lease) -> bool:
        return self._current(lease.channel) == LeaseHolder(lease.holder, lease.token)
