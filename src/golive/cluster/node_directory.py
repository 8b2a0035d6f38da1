"""Where each node of a cluster can be reached: its HTTP address, announced in Redis.

Every node writes ``golive:node:<node id>`` = its ``node_url`` with a time to live and
renews it while it runs (``NodeAnnouncer``); a node that dies drops out when the key
expires. With the publish leases (which node holds each channel) this answers "which
address serves channel X", so any node, and through it any edge, finds a channel's media
without a restart when streams move.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["NodeAnnouncer", "RedisNodeDirectory"]

log = logging.getLogger("golive.cluster")

_PREFIX = "golive:node:"


class RedisNodeDirectory:
    """Node id -> HTTP address, each entry living ``ttl`` seconds unless announced again."""

    def __init__(self, redis: Redis, *, ttl: float = 10.0) -> None:
        self._redis = redis
        self.ttl = ttl

    async def announce(self, node_id: str, url: str) -> None:
        await self._redis.set(_PREFIX + node_id, url, px=int(self.ttl * 1000))

    async def withdraw(self, node_id: str) -> None:
        await self._redis.delete(_PREFIX + node_id)

    async def url_of(self, node_id: str) -> str | None:
        value = await self._redis.get(_PREFIX + node_id)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)


class NodeAnnouncer:
    """Keeps this node's entry alive: announces every ``ttl / 3`` seconds until stopped."""

    def __init__(
        self,
        directory: RedisNodeDirectory,
        node_id: str,
        url: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._directory = directory
        self._node_id = node_id
        self._url = url
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._running = False

    def start(self) -> None:
        self._running = True
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        failing = False
        # The flag, not only the cancellation: redis-py now and then finishes a command whose
        # task was cancelled as if nothing happened, and the loop would go on.
        while self._running:
            try:
                await self._directory.announce(self._node_id, self._url)
                if failing:
                    log.info("node %s announced again at %s", self._node_id, self._url)
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("node %s: cannot announce itself in Redis: %s", self._node_id, exc)
                failing = True
            await self._sleep(self._directory.ttl / 3)

    async def stop(self) -> None:
        self._running = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Not `await task` under suppress(CancelledError): that would swallow a
            # cancellation of the caller too.
            await asyncio.wait({task}, timeout=2.0)
        with contextlib.suppress(RedisError, OSError):
            await self._directory.withdraw(self._node_id)
