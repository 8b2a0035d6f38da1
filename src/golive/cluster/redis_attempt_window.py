"""RedisAttemptStore: attempt counters every node spends from, in Redis (accounts'
`AttemptStore`), so a limit is not multiplied by the number of nodes.

Each key of a counter is a sorted set ``golive:rate:<name>:<key>`` of attempt times (ms),
expiring one window after its latest attempt, so Redis holds at most ``limit`` entries per
key and nothing idle. ``take`` is one Lua script: dropping the attempts that left the window,
counting the rest and adding one under the limit cannot interleave with another node's.

When Redis cannot be reached the counters fall back to this node's memory, with one warning
per outage: limits then hold per node (a cluster of N allows N times as much) rather than
every sign-in being refused. Redis is tried again ``recheck_after`` seconds later, not on
every attempt, so a frozen server costs one command timeout per recheck, not per request.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from golive.accounts.attempt_store import AttemptCounter, AttemptStore, LocalAttemptStore

__all__ = ["DEFAULT_RECHECK_AFTER", "RedisAttemptCounter", "RedisAttemptStore", "rate_key"]

log = logging.getLogger("golive.cluster.rate")

T = TypeVar("T")

DEFAULT_RECHECK_AFTER = 5.0

# What an outage looks like to the client (a replica promoted mid-failover refuses writes).
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)

# KEYS: the key's set. ARGV: now (ms), window (ms), limit, a member unique to this attempt.
# Returns 0 when the attempt was added, else the ms to wait (at least 1, at most a window).
_TAKE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local edge = redis.call('ZREVRANGE', KEYS[1], limit - 1, limit - 1, 'WITHSCORES')
local wait = tonumber(edge[2]) + window - now
if wait > window then
  wait = window
end
if wait < 1 then
  wait = 1
end
return wait
"""


def rate_key(name: str, key: str) -> str:
    return f"golive:rate:{name}:{key}"


class _Outage:
    """Whether Redis is being skipped for now, and the log lines where that starts and ends."""

    def __init__(self, recheck_after: float, clock: Callable[[], float]) -> None:
        self._recheck_after = recheck_after
        self._clock = clock
        self._until: float | None = None

    def skipping(self) -> bool:
        return self._until is not None and self._clock() < self._until

    def began(self, error: Exception) -> None:
        if self._until is None:
            log.warning(
                "rate limits: Redis cannot be reached (%s): counting on this node only "
                "until it answers",
                error,
            )
        self._until = self._clock() + self._recheck_after

    def ended(self) -> None:
        if self._until is not None:
            log.info("rate limits: Redis answers again: counting across the cluster")
            self._until = None


class RedisAttemptStore:
    """Counters in Redis (one server, or a primary behind Sentinel), falling back to
    ``fallback`` (this node's memory unless given) while Redis cannot be reached.

    Attempt times are the nodes' ``wall_clock``, so nodes must keep their clocks in sync
    (NTP): a skew shifts the edge of the window by as much. ``clock`` (monotonic) times the
    rechecks. A client passed in should time out as `redis_client`'s does.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        fallback: AttemptStore | None = None,
        recheck_after: float = DEFAULT_RECHECK_AFTER,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._take = redis.register_script(_TAKE)
        self._fallback = LocalAttemptStore() if fallback is None else fallback
        self._outage = _Outage(recheck_after, clock)
        self._wall_clock = wall_clock

    def counter(self, name: str, *, limit: int, window: float) -> RedisAttemptCounter:
        if limit < 1 or window <= 0:
            raise ValueError("an attempt counter needs limit >= 1 and window > 0")
        local = self._fallback.counter(name, limit=limit, window=window)
        return RedisAttemptCounter(self, name, limit, window, local)

    def now_ms(self) -> int:
        return int(self._wall_clock() * 1000)

    async def shared(
        self, command: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        """``command`` on Redis, or ``local`` while Redis is out."""
        if not self._outage.skipping():
            try:
                answer = await command()
            except _UNREACHABLE as error:
                self._outage.began(error)
            else:
                self._outage.ended()
                return answer
        return await local()

    async def take_script(self, key: str, window_ms: int, limit: int) -> int:
        now = self.now_ms()
        member = f"{now}-{secrets.token_hex(6)}"  # two attempts in one ms are two members
        wait = await self._take(keys=[key], args=[now, window_ms, limit, member])
        return int(wait)

    @property
    def redis(self) -> Redis:
        return self._redis


class RedisAttemptCounter:
    """One named counter of a `RedisAttemptStore` (accounts' `AttemptCounter`)."""

    def __init__(
        self,
        store: RedisAttemptStore,
        name: str,
        limit: int,
        window: float,
        local: AttemptCounter,
    ) -> None:
        self.name = name
        self._store = store
        self._limit = limit
        self._window = window
        self._window_ms = max(1, round(window * 1000))
        self._local = local

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window(self) -> float:
        return self._window

    async def retry_after(self, key: str) -> float:
        return await self._store.shared(
            lambda: self._retry_after(key), lambda: self._local.retry_after(key)
        )

    async def take(self, key: str) -> float:
        return await self._store.shared(lambda: self._take(key), lambda: self._local.take(key))

    async def give_back(self, key: str) -> None:
        await self._store.shared(lambda: self._give_back(key), lambda: self._local.give_back(key))

    async def clear(self, key: str) -> None:
        await self._store.shared(lambda: self._clear(key), lambda: self._local.clear(key))

    async def _take(self, key: str) -> float:
        wait_ms = await self._store.take_script(
            rate_key(self.name, key), self._window_ms, self._limit
        )
        return wait_ms / 1000

    async def _retry_after(self, key: str) -> float:
        # The limit-th latest attempt still in the window: the key may try again when it
        # leaves. (Read only; the next take drops what has left.)
        now = self._store.now_ms()
        edge = await self._store.redis.zrevrangebyscore(
            rate_key(self.name, key),
            "+inf",
            f"({now - self._window_ms}",
            start=self._limit - 1,
            num=1,
            withscores=True,
        )
        if not edge:
            return 0.0
        wait_ms = min(max(int(edge[0][1]) + self._window_ms - now, 0), self._window_ms)
        return wait_ms / 1000

    async def _give_back(self, key: str) -> None:
        await self._store.redis.zpopmax(rate_key(self.name, key))

    async def _clear(self, key: str) -> None:
        await self._store.redis.delete(rate_key(self.name, key))
