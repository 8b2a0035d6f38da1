"""RedisChatBus: chat rooms of every node joined through one Redis Stream per channel.

Each event a node's room accepts is appended (XADD, ``MAXLEN ~ max_len``) to
``golive:chat:<channel>`` with the node's id, the event's id and the channel's id (a channel
deleted and created again under its name keeps the stream, not the old room's entries). One reader task per node
follows every channel it has a room for with a single ``XREAD BLOCK`` from the last entry id
it saw, skips its own entries, drops an event id it has already delivered, and hands the rest
to the rooms. A room opening reads its recent messages back with ``XREVRANGE``.

Why a stream rather than pub/sub, and what is guaranteed: docs/chat.md, "Across nodes". In
short: the stream keeps the last ``max_len`` events, so a node that loses its connection for
a while reads what it missed when it comes back (at-least-once within the cap); pub/sub
would drop them silently. While Redis cannot be reached, rooms keep working on this node and
are told so (``SharingChanged``); publishing never blocks or raises.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from golive.chat.chat_bus import Deliver, RecentMessages
from golive.chat.room_event import (
    MessagePosted,
    MessagesDeleted,
    ModeratorChanged,
    RoomEvent,
    SharingChanged,
    SlowModeChanged,
    UserBanned,
    UserUnbanned,
)

__all__ = ["KEY_PREFIX", "RedisChatBus", "decode_event", "encode_event", "stream_key"]

log = logging.getLogger("golive.chat")

KEY_PREFIX = "golive:chat:"

_KINDS: dict[str, type[Any]] = {
    "message": MessagePosted,
    "deleted": MessagesDeleted,
    "banned": UserBanned,
    "unbanned": UserUnbanned,
    "moderator": ModeratorChanged,
    "slow_mode": SlowModeChanged,
}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}

# Problems that mean "Redis cannot be reached now" (the next round tries again).
_UNREACHABLE = (RedisError, OSError, TimeoutError)


def stream_key(channel: str) -> str:
    return KEY_PREFIX + channel


def encode_event(event: RoomEvent) -> str:
    """An event as the JSON stored in a stream entry."""
    return json.dumps(
        {"kind": _KIND_OF[type(event)], **asdict(event)},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_event(text: str | bytes) -> RoomEvent:
    """The event of a stream entry; raises ValueError for anything else."""
    fields = json.loads(text)
    if not isinstance(fields, dict):
        raise ValueError("not an event")
    cls = _KINDS.get(fields.pop("kind", None))
    if cls is None:
        raise ValueError("unknown kind")
    if cls is MessagesDeleted:
        fields["ids"] = tuple(fields.get("ids", ()))
    try:
        event: RoomEvent = cls(**fields)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc
    return event


def _event_id(event: RoomEvent) -> str:
    if isinstance(event, MessagePosted):
        return str(event.message["id"])
    return secrets.token_hex(8)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(slots=True)
class _Follow:
    channel_id: str
    deliver: Deliver
    last_id: str | None  # None: not known yet (read from the stream's newest entry)


class _SeenIds:
    """The last ``size`` event ids delivered, to drop one delivered again."""

    def __init__(self, size: int) -> None:
        self._order: deque[str] = deque()
        self._set: set[str] = set()
        self._size = size

    def add(self, event_id: str) -> bool:
        """True the first time an id is seen."""
        if event_id in self._set:
            return False
        self._set.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._set.discard(self._order.popleft())
        return True


class RedisChatBus:
    """The chat bus of one node over Redis Streams (``ChatBus``, chat/chat_bus.py)."""

    def __init__(
        self,
        redis: Redis,
        *,
        node_id: str | None = None,
        max_len: int = 10_000,
        block: float = 0.5,
        retry_delay: float = 1.0,
        command_timeout: float = 2.0,
        max_unsent: int = 10_000,
        history_scan: int = 1_000,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        """``max_len``: entries kept per channel (approximately); ``block``: seconds one
        XREAD waits (a channel joined meanwhile is read from the next round, so this bounds
        how late its first events arrive); ``retry_delay``: seconds between attempts while
        Redis cannot be reached; ``max_unsent``: events waiting for XADD beyond which the
        oldest are dropped; ``history_scan``: entries read back when a room opens. ``redis``
        may be shared with other state; its socket timeout, if any, must exceed ``block``."""
        self.node_id = node_id or secrets.token_hex(6)
        self._redis = redis
        self._max_len = max_len
        self._block_ms = max(1, int(block * 1000))
        self._retry_delay = retry_delay
        self._timeout = command_timeout + block
        self._history_scan = history_scan
        self._sleep = sleep
        self._follows: dict[str, _Follow] = {}
        self._seen = _SeenIds(50_000)
        self._unsent: deque[tuple[str, dict[Any, Any]]] = deque(maxlen=max_unsent)
        self._unsent_ready = asyncio.Event()
        self._followed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.reachable = True
        self.delivered = 0  # events from other nodes handed to rooms

    # -- ChatBus ----------------------------------------------------------------------------------

    def publish(self, channel: str, channel_id: int, event: RoomEvent) -> None:
        if isinstance(event, SharingChanged):
            return  # the bus's own news, never sent on
        fields: dict[Any, Any] = {
            "node": self.node_id,
            "id": _event_id(event),
            "channel_id": str(channel_id),
            "event": encode_event(event),
        }
        self._unsent.append((stream_key(channel), fields))
        self._unsent_ready.set()
        self._start()

    async def join(
        self, channel: str, channel_id: int, deliver: Deliver, history: int
    ) -> RecentMessages | None:
        follow = _Follow(str(channel_id), deliver, None)
        recent: RecentMessages | None = None
        try:
            async with asyncio.timeout(self._timeout):
                entries: Any = await self._redis.xrevrange(
                    stream_key(channel), count=self._history_scan
                )
            follow.last_id = _text(entries[0][0]) if entries else "0-0"
            recent = _recent_messages(entries, str(channel_id), history)
        except _UNREACHABLE as exc:
            log.warning("chat: could not read the history of %s from Redis: %r", channel, exc)
            self._set_reachable(False)
        self._follows[channel] = follow
        self._followed.set()
        self._start()
        if not self.reachable:
            deliver(SharingChanged(False))
        return recent

    def leave(self, channel: str) -> None:
        self._follows.pop(channel, None)

    async def close(self) -> None:
        """Stop both tasks (the client is the caller's: it may serve other shared state).
        The reader ends its current XREAD (at most ``block``) rather than being cancelled in
        the middle of a command."""
        self._stopping = True
        self._followed.set()
        tasks, self._tasks = self._tasks, []
        if tasks:
            tasks[1].cancel()  # the writer: it only waits for events to send
            _, pending = await asyncio.wait(tasks, timeout=self._timeout)
            for task in pending:
                task.cancel()
            await asyncio.wait(tasks, timeout=self._timeout)

    # -- the node's two tasks ---------------------------------------------------------------------

    def _start(self) -> None:
        if not self._tasks and not self._stopping:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._read()), loop.create_task(self._write())]

    async def _write(self) -> None:
        """XADD what the rooms published, in one pipeline per round."""
        while True:
            await self._unsent_ready.wait()
            self._unsent_ready.clear()
            batch = list(self._unsent)
            self._unsent.clear()
            if not batch:
                continue
            try:
                async with asyncio.timeout(self._timeout):
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for key, fields in batch:
                            pipe.xadd(key, fields, maxlen=self._max_len, approximate=True)
                        await pipe.execute()
            except _UNREACHABLE as exc:
                # Already applied here; the other nodes never see these (docs/chat.md).
                log.warning("chat: %d events not sent to other nodes: %r", len(batch), exc)
                self._set_reachable(False)
                await self._sleep(self._retry_delay)
                continue
            self._set_reachable(True)

    async def _read(self) -> None:
        """Follow every joined channel's stream with one XREAD; deliver others' events."""
        while not self._stopping:
            if not self._follows:
                self._followed.clear()
                await self._followed.wait()
                continue
            try:
                await self._read_once()
            except _UNREACHABLE as exc:
                if self.reachable:
                    log.warning("chat: Redis unreachable, chat is per node for now: %r", exc)
                self._set_reachable(False)
                await self._sleep(self._retry_delay)
                continue
            self._set_reachable(True)

    async def _read_once(self) -> None:
        follows = dict(self._follows)
        async with asyncio.timeout(self._timeout):
            for channel, follow in follows.items():
                if follow.last_id is None:  # joined while Redis was away: from now on
                    newest: Any = await self._redis.xrevrange(stream_key(channel), count=1)
                    follow.last_id = _text(newest[0][0]) if newest else "0-0"
            streams: dict[Any, Any] = {
                stream_key(channel): follow.last_id for channel, follow in follows.items()
            }
            reply: Any = await self._redis.xread(streams, count=1000, block=self._block_ms)
        for key, entries in reply or []:
            channel = _text(key)[len(KEY_PREFIX) :]
            follow = follows[channel]
            for entry_id, fields in entries:
                follow.last_id = _text(entry_id)
                self._deliver(follow, channel, fields)

    def _deliver(self, follow: _Follow, channel: str, fields: dict[Any, Any]) -> None:
        values = {_text(k): _text(v) for k, v in fields.items()}
        if values.get("node") == self.node_id or values.get("channel_id") != follow.channel_id:
            return
        if not self._seen.add(values.get("id", "")):
            return
        try:
            event = decode_event(values.get("event", ""))
        except ValueError as exc:
            log.warning("chat: skipped a bad entry in %s's stream: %s", channel, exc)
            return
        if self._follows.get(channel) is not follow:
            return  # the room closed meanwhile
        self.delivered += 1
        try:
            follow.deliver(event)
        except Exception:
            log.exception("chat: a room failed to apply an event of %s", channel)

    def _set_reachable(self, reachable: bool) -> None:
        if reachable == self.reachable:
            return
        self.reachable = reachable
        if reachable:
            log.info("chat: Redis reachable again, chat reaches every node")
        for follow in list(self._follows.values()):
            follow.deliver(SharingChanged(reachable))


def _recent_messages(entries: list[Any], channel_id: str, limit: int) -> RecentMessages:
    """The last ``limit`` messages of this channel in entries read newest first, less those
    deleted or cleared by a ban or timeout read after them; oldest first."""
    deleted: set[str] = set()
    cleared: set[int] = set()
    recent: RecentMessages = []
    for _, fields in entries:
        values = {_text(k): _text(v) for k, v in fields.items()}
        if values.get("channel_id") != channel_id:
            continue  # an earlier channel of this name
        try:
            event = decode_event(values.get("event", ""))
        except ValueError:
            continue
        if isinstance(event, MessagesDeleted):
            deleted.update(event.ids)
        elif isinstance(event, UserBanned):
            cleared.add(event.user_id)
        elif (
            isinstance(event, MessagePosted)
            and event.user_id not in cleared
            and event.message.get("id") not in deleted
        ):
            recent.append((event.user_id, event.message))
            if len(recent) >= limit:
                break
    recent.reverse()
    return recent
