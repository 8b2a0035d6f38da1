"""RedisLiveDirectory: every node's live streams in Redis, and commands sent to one node.

- ``golive:live:<node id>``: a hash, channel -> the stream's fields as JSON, replaced as a
  whole by each publish (DEL + HSET in one MULTI, so a reader never sees it half written)
  and expiring ``ttl`` seconds after it (PEXPIRE): a node that dies drops out by itself.
- ``golive:live-nodes``: a sorted set of the node ids that publish, scored by the
  publisher's wall clock, so that readers find the hashes without a SCAN of the whole
  keyspace on every tick of every node. Members not refreshed for ``forget_after`` seconds
  are removed by the readers (generous: node clocks only decide when a stale member is
  tidied away, never whether a stream is live, which the hash's expiry decides).
- ``golive:live-changed`` (pub/sub): the id of a node whose streams changed (one started,
  ended or changed state), so that the others read again at once rather than at their next
  tick.
- ``golive:node-commands:<node id>`` (pub/sub): commands for that node (a stop).

Every command is safe to repeat (the client retries once on a broken connection). Every
method raises the built-in ``ConnectionError`` when Redis cannot be reached, as
``SharedLiveDirectory`` (app/live_streams.py) asks; this module imports nothing of
golive, so the live layer's types stay out of it (the fields are plain JSON).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = [
    "CHANGED_CHANNEL",
    "NODES_KEY",
    "RedisLiveDirectory",
    "commands_channel",
    "entries_key",
]

log = logging.getLogger("golive.cluster")

_PREFIX = "golive:live:"
NODES_KEY = "golive:live-nodes"
CHANGED_CHANNEL = "golive:live-changed"
_COMMANDS_PREFIX = "golive:node-commands:"

# Problems that mean "Redis cannot be reached now" (the caller tries again later).
_UNREACHABLE = (RedisError, OSError, TimeoutError)


def entries_key(node_id: str) -> str:
    return _PREFIX + node_id


def commands_channel(node_id: str) -> str:
    return _COMMANDS_PREFIX + node_id


class DirectoryListener(Protocol):
    """What a node's subscription tells (``LiveDirectoryListener`` in
    app/live_streams.py, repeated here structurally)."""

    def subscribed(self) -> None: ...

    def stop_requested(self, channel: str, reason: str, end: bool) -> None: ...

    def node_changed(self, node_id: str) -> None: ...


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLiveDirectory:
    """``SharedLiveDirectory`` in Redis (use `golive.cluster.redis_client`'s bounded client:
    its socket timeout must exceed ``block``)."""

    def __init__(
        self,
        redis: Redis,
        *,
        ttl: float = 5.0,
        block: float = 0.5,
        forget_after: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``ttl``: seconds a node's entries outlive its last publish; ``block``: seconds
        one wait for a pub/sub message lasts (the subscription notices a dead connection
        within it)."""
        self._redis = redis
        self.ttl = ttl
        self._block = block
        self._forget_after = max(forget_after, 2 * ttl)
        self._wall_clock = wall_clock

    async def publish(
        self, node_id: str, entries: Mapping[str, Mapping[str, Any]], *, announce: bool
    ) -> None:
        key = entries_key(node_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if entries:
                    pipe.hset(
                        key,
                        mapping={
                            channel: json.dumps(fields, separators=(",", ":"))
                            for channel, fields in entries.items()
                        },
                    )
                    pipe.pexpire(key, max(1, int(self.ttl * 1000)))
                pipe.zadd(NODES_KEY, {node_id: self._wall_clock()})
                if announce:
                    pipe.publish(CHANGED_CHANNEL, node_id)
                await pipe.execute()
        except _UNREACHABLE as exc:
            raise ConnectionError(f"Redis cannot be reached: {exc!r}") from exc

    async def withdraw(self, node_id: str) -> None:
        """Remove the node's entries now (it is stopping), and tell the others."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(entries_key(node_id))
                pipe.zrem(NODES_KEY, node_id)
                pipe.publish(CHANGED_CHANNEL, node_id)
                await pipe.execute()
        except _UNREACHABLE as exc:
            raise ConnectionError(f"Redis cannot be reached: {exc!r}") from exc

    async def read(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every node's entries: node id -> channel -> fields (an entry that is not a JSON
        object is skipped)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(
                    NODES_KEY, "-inf", f"({self._wall_clock() - self._forget_after!r}"
                )
                pipe.zrange(NODES_KEY, 0, -1)
                _, members = await pipe.execute()
            nodes = [_text(member) for member in members]
            if not nodes:
                return {}
            async with self._redis.pipeline(transaction=False) as pipe:
                for node_id in nodes:
                    pipe.hgetall(entries_key(node_id))
                hashes: list[Any] = await pipe.execute()
        except _UNREACHABLE as exc:
            raise ConnectionError(f"Redis cannot be reached: {exc!r}") from exc
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for node_id, raw in zip(nodes, hashes, strict=True):
            entries: dict[str, dict[str, Any]] = {}
            for field, value in (raw or {}).items():
                try:
                    fields = json.loads(value)
                except ValueError:
                    fields = None
                if isinstance(fields, dict):
                    entries[_text(field)] = fields
                else:
                    log.warning("live directory: skipped a bad entry of node %s", node_id)
            if entries:
                found[node_id] = entries
        return found

    async def send_stop(self, node_id: str, channel: str, reason: str, end: bool) -> bool:
        """Ask ``node_id`` to stop ``channel``; False: no subscriber of that node heard it."""
        command = json.dumps({"stop": channel, "reason": reason, "end": end})
        try:
            receivers = await self._redis.publish(commands_channel(node_id), command)
        except _UNREACHABLE as exc:
            raise ConnectionError(f"Redis cannot be reached: {exc!r}") from exc
        return int(receivers) > 0

    async def listen(self, node_id: str, listener: DirectoryListener) -> None:
        """Subscribe to this node's commands and to the others' changes, and hand them to
        ``listener`` until cancelled; raises ConnectionError when the subscription breaks
        (the caller subscribes again later: messages sent meanwhile are lost)."""
        pubsub = self._redis.pubsub()
        mine = commands_channel(node_id)
        try:
            await pubsub.subscribe(mine, CHANGED_CHANNEL)
            listener.subscribed()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self._block
                )
                if message is None or message.get("type") != "message":
                    continue
                data = _text(message["data"])
                if _text(message["channel"]) == CHANGED_CHANNEL:
                    if data != node_id:
                        listener.node_changed(data)
                    continue
                _dispatch_command(data, listener)
        except _UNREACHABLE as exc:
            raise ConnectionError(f"Redis subscription broken: {exc!r}") from exc
        finally:
            try:
                await pubsub.aclose()
            except Exception:  # a broken connection may fail to close: it is dropped anyway
                log.debug("live directory: closing the subscription failed", exc_info=True)


def _dispatch_command(data: str, listener: DirectoryListener) -> None:
    try:
        command = json.loads(data)
    except ValueError:
        command = None
    if (
        not isinstance(command, dict)
        or not isinstance(command.get("stop"), str)
        or not isinstance(command.get("reason"), str)
        or not isinstance(command.get("end"), bool)
    ):
        log.warning("live directory: skipped a command that is not a stop: %.200s", data)
        return
    listener.stop_requested(command["stop"], command["reason"], command["end"])
