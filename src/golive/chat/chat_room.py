"""One channel's chat: who is in it, what they may do, and delivering messages to everyone.

Delivery is batched: messages accepted within one batch interval go out as one frame, encoded
once and handed to every member, so the cost per message falls as the room grows. The
interval grows with the room (25 ms for a small room, 40 µs per member, 200 ms from 5,000),
which bounds frames per second per member. A frame is written to the members a slice at a time
(fanout.py), and the next batch closes only once the previous one has gone out to everyone:
when a fan-out takes longer than the interval, the messages accepted meanwhile go out
together right after it (fewer, fuller frames, so the cost per message falls as the load
rises), in frames of at most ``max_frame_bytes`` each. A member whose queue of unsent frames
passes ``max_queued_frames`` (a client that stopped reading) is disconnected instead of
growing memory.

Rules (docs/chat.md): signed-in users send; the owner and moderators are exempt from slow
mode, may delete messages and time out or ban viewers; only the owner appoints moderators
and sets slow mode. Roles are ordered owner > moderator > viewer and every moderation action
needs a role above the target's, in this channel: nobody acts on the owner, moderators do
not act on moderators. A message is only deleted in the room it was sent to.

Across nodes, every node keeps its own copy of a room: the rules run on the node where a
request arrives, and what they accept goes out as a ``RoomEvent`` through ``publish``; events
from other nodes come in through ``apply``, which changes the local copy without checking rules
again. The room knows no transport: members receive text payloads (JSON), which the socket
layer frames.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from golive.chat.fanout import Fanout
from golive.chat.message_text import ChatRejected, normalize_message
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
from golive.chat.shared_text import SharedText
from golive.chat.token_bucket import TokenBucket

__all__ = [
    "SERVER",
    "BatchObserver",
    "ChatLimits",
    "ChatMember",
    "ChatPersistence",
    "ChatRoom",
    "ChatUser",
    "EndReason",
    "Role",
    "RoomState",
]


@dataclass(frozen=True, slots=True)
class ChatUser:
    """A signed-in chatter."""

    id: int
    name: str
    display_name: str = ""


# Acts with the owner's rights: the REST API, after checking the caller owns the channel.
SERVER = ChatUser(0, "golive", "golive")


class Role(StrEnum):
    OWNER = "owner"
    MODERATOR = "moderator"
    VIEWER = "viewer"


# Who outranks whom: an action needs the actor's rank above the target's.
_RANK = {Role.OWNER: 2, Role.MODERATOR: 1, Role.VIEWER: 0}


class EndReason(StrEnum):
    """Why the room ended a member's connection (http/chat_socket.py maps it to a close code)."""

    CLOSED = "closed"
    TOO_SLOW = "too_slow"  # its unsent frames passed the limit
    CHANNEL_DELETED = "channel_deleted"


@dataclass(frozen=True, slots=True)
class ChatLimits:
    rate: float = 1.0  # messages per second per user, sustained
    burst: float = 5.0  # messages a user may send at once
    duplicate_window: float = 30.0  # seconds in which the same text from a user is refused
    history: int = 50  # messages a joining member gets
    max_queued_frames: int = 200  # unsent frames before a member is disconnected
    min_batch: float = 0.025
    # A batch costs a write per member, about 20 us of CPU with the kernel's share (10,000
    # members: 200 ms). The interval grows by twice that per member, so a fan-out takes at
    # most about half of the loop's time and the rest (and the clients' reading, on a shared
    # machine) is not starved: at 5,000 members per node (200 ms) two nodes spent 0.90 of 2
    # cores where 20 us per member (100 ms) spent 1.22, and p99 fell from 619 to 379 ms
    # (docs/benchmarks.md). Capped at 200 ms: from 5,000 members on, the fan-out itself sets
    # the pace.
    max_batch: float = 0.2
    batch_per_member: float = 0.00004  # seconds of batch interval added per member
    max_frame_bytes: int = 16 * 1024  # a batch's messages beyond this go in further frames
    # Members written to per event-loop turn; other callbacks (messages arriving, the chat
    # bus) run between slices. 200 was tried: messages waited less for a slice, but the
    # extra loop turns cost more CPU than they saved (1.10 vs 0.90 cores, p99 501 vs 379 ms).
    fanout_slice: int = 1000
    max_timeout: int = 14 * 86400


# Told after each batch frame went out: each message's seconds from its acceptance to the end
# of the fan-out (every member's transport has the frame), and the fan-out's own seconds (from
# its first slice to its last, other loop callbacks in between included).
BatchObserver = Callable[[list[float], float], None]


class EventLoop(Protocol):
    """What the room needs of the event loop (asyncio's loop is one)."""

    def call_soon(self, callback: Callable[[], None]) -> Any: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Any: ...


@dataclass(slots=True)
class RoomState:
    """What the room keeps in the database."""

    moderators: set[int] = field(default_factory=set)
    bans: dict[int, float | None] = field(default_factory=dict)  # user id -> until (epoch s)
    slow_mode: int = 0
    history: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (user id, msg)


class ChatPersistence(Protocol):
    """Where a room's messages and moderation go (db/chat_store.py)."""

    def save_message(self, channel_id: int, user_id: int, message: dict[str, Any]) -> None: ...

    async def message_author(self, channel_id: int, message_id: str) -> int | None:
        """The sender of a message of this channel that is not deleted, else None."""
        ...

    async def mark_deleted(self, channel_id: int, ids: list[str]) -> None: ...

    async def delete_user_messages(self, channel_id: int, user_id: int) -> None: ...

    async def set_moderator(self, channel_id: int, user_id: int, moderator: bool) -> None: ...

    async def set_ban(
        self, channel_id: int, user_id: int, until: float | None, by: int
    ) -> None: ...

    async def remove_ban(self, channel_id: int, user_id: int) -> None: ...

    async def set_slow_mode(self, channel_id: int, seconds: int) -> None: ...

    async def user_by_name(self, name: str) -> ChatUser | None: ...


class ChatMember:
    """One connection's outgoing frames.

    Once its socket has ``start``-ed, a frame is written at once, in the pusher's own call:
    the socket's send coroutine is stepped by hand and almost always completes without
    suspending, so a broadcast costs no task wake-up per member (that wake-up was half of
    the server's time at 10,000 members). Only when the transport pushes back (a slow
    reader) does the send finish in a task, and frames queue behind it, up to ``limit``;
    past that the member is closed rather than let memory grow.

    Faster still, when the socket offers a ``write_direct`` function (the socket layer's
    direct path), a fan-out's ``SharedText`` goes to it: the transport encodes it once for
    the whole room and writes it straight to the member's connection.
    """

    def __init__(self, user: ChatUser | None, limit: int) -> None:
        self.user = user
        self.frames: deque[str] = deque()
        self.ready = asyncio.Event()  # set when the socket should close
        self.closed = False
        self.end_reason: EndReason | None = None
        self._limit = limit
        self._send: Callable[[str], Coroutine[Any, Any, None]] | None = None
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self._write_direct: Callable[[SharedText], bool] | None = None

    async def start(
        self,
        send: Callable[[str], Coroutine[Any, Any, None]],
        write_direct: Callable[[SharedText], bool] | None = None,
    ) -> None:
        """Write what was queued before the socket was ready, then write frames directly.

        ``write_direct`` writes a payload bypassing ``send``: it answers False when the
        connection is no longer open and raises BufferError when the peer stopped reading."""
        while self.frames:
            await send(self.frames.popleft())
        self._send = send
        self._write_direct = write_direct

    @property
    def writes_directly(self) -> bool:
        """True when frames go straight to the socket's transport, not through ASGI."""
        return self._write_direct is not None

    def push(self, frame: str, shared: SharedText | None = None) -> None:
        """Send ``frame``; ``shared`` is the same text as handed to every member of a
        fan-out, if the caller has it (so its encoding is shared too)."""
        if self.closed:
            return
        send = self._send
        write_direct = self._write_direct
        if write_direct is not None and not self._busy:
            try:
                if write_direct(SharedText(frame) if shared is None else shared):
                    return
            except BufferError:
                self._close(overflowed=True)
                return
            except Exception:
                self._close(overflowed=False)
                return
            # No longer open: the ASGI path below reports it.
        if send is None or self._busy:
            if len(self.frames) >= self._limit:
                self._close(overflowed=True)
            else:
                self.frames.append(frame)
            return
        coro = send(frame)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return  # written
        except Exception:
            self._close(overflowed=False)
            return
        self._busy = True
        self._task = asyncio.ensure_future(self._finish(coro, waiting))

    async def _finish(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        """Drive a send that had to wait for the transport, then the frames queued behind it."""
        try:
            while True:
                await waiting
                try:
                    waiting = coro.send(None)
                except StopIteration:
                    break
            send = self._send
            assert send is not None
            while self.frames and not self.closed:
                await send(self.frames.popleft())
        except Exception:
            coro.close()
            self._close(overflowed=False)
        finally:
            self._busy = False

    @property
    def overflowed(self) -> bool:
        return self.end_reason is EndReason.TOO_SLOW

    def end(self, reason: EndReason) -> None:
        """Ask the socket to close (the first reason given wins)."""
        if self.end_reason is None:
            self.end_reason = reason
        self.closed = True
        self.ready.set()

    def _close(self, *, overflowed: bool) -> None:
        self.end(EndReason.TOO_SLOW if overflowed else EndReason.CLOSED)


@dataclass(slots=True)
class _Chatter:
    bucket: TokenBucket
    last_sent: float = 0.0
    last_text: str = ""
    last_text_at: float = 0.0


def _frame(kind: str, **fields: Any) -> str:
    return _json({"type": kind, **fields})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _name(actor: ChatUser | None) -> str | None:
    return None if actor is None else actor.name


_LIMITED_NOTICE = _frame(
    "notice", code="local_only", message="chat is limited to this server for now"
)
_SHARED_NOTICE = _frame("notice", code="shared", message="chat reaches every server again")


@dataclass(slots=True)
class _Pending:
    """A message accepted for the next batch."""

    accepted: float  # monotonic s
    message: dict[str, Any]
    text: str  # its JSON
    size: int  # its JSON's UTF-8 bytes


class ChatRoom:
    """The chat of one channel (``owner_id`` may be None: administrators own it)."""

    def __init__(
        self,
        channel: str,
        channel_id: int,
        owner_id: int | None,
        state: RoomState,
        store: ChatPersistence,
        *,
        limits: ChatLimits | None = None,
        media_time: Callable[[], tuple[str, float] | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_batch: BatchObserver | None = None,
        loop: EventLoop | None = None,
        publish: Callable[[RoomEvent], None] = lambda event: None,
    ) -> None:
        """``loop``: the event loop to schedule batches and fan-out slices on (the running
        loop when None); ``publish``: where accepted changes go for the other nodes (the chat
        bus)."""
        self.channel = channel
        self.channel_id = channel_id
        self.owner_id = owner_id
        self.limits = limits or ChatLimits()
        self.state = state
        self._store = store
        self._media_time = media_time
        self._clock = clock
        self._monotonic = monotonic
        self._on_batch = on_batch
        self._publish = publish
        self.shared = True  # False while the bus cannot reach the other nodes
        self.members: set[ChatMember] = set()
        self.history: deque[tuple[int, dict[str, Any]]] = deque(
            state.history[-self.limits.history :], maxlen=self.limits.history
        )
        self._chatters: dict[int, _Chatter] = {}
        self._pending: list[_Pending] = []
        self._flush: Any = None  # the batch timer's handle
        self._due = False  # the batch interval passed during a fan-out
        self._loop = loop
        self._fanout = Fanout(
            lambda: self.members,
            slice_size=self.limits.fanout_slice,
            call_soon=lambda callback: self._event_loop().call_soon(callback),
            monotonic=monotonic,
            on_dropped=self._dropped,
            on_idle=self._fanout_idle,
        )
        self.delivered = 0  # message deliveries (messages x members), for metrics
        self.dropped_members = 0
        self.closed = False  # the channel was deleted

    # -- the channel ------------------------------------------------------------------------------

    async def set_owner(self, owner_id: int | None) -> None:
        """Follow a change of the channel's owner: the new owner's role applies at once, and
        a ban the old owner gave them is lifted (nobody acts on the owner)."""
        if owner_id == self.owner_id:
            return
        self.owner_id = owner_id
        if owner_id is not None and owner_id in self.state.bans:
            del self.state.bans[owner_id]
            await self._store.remove_ban(self.channel_id, owner_id)

    def close(self) -> None:
        """The channel was deleted: end every member's connection and accept nothing more."""
        self.closed = True
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._pending = []
        self._due = False
        self._fanout.clear()
        for member in self.members:
            member.end(EndReason.CHANNEL_DELETED)
        self.members.clear()

    # -- membership ------------------------------------------------------------------------------

    def role(self, user: ChatUser | None) -> Role:
        return Role.VIEWER if user is None else self._role_of(user.id)

    def _role_of(self, user_id: int) -> Role:
        if user_id == self.owner_id:
            return Role.OWNER
        if user_id in self.state.moderators:
            return Role.MODERATOR
        return Role.VIEWER

    def join(self, user: ChatUser | None) -> ChatMember:
        member = ChatMember(user, self.limits.max_queued_frames)
        if self.closed:
            member.end(EndReason.CHANNEL_DELETED)
            return member
        self.members.add(member)
        role = self.role(user)
        member.push(
            _frame(
                "hello",
                channel=self.channel,
                user=None if user is None else self._user_json(user, role),
                slow_mode=self.state.slow_mode,
                can_send=user is not None
                and (role is Role.OWNER or self._ban_left(user.id) is None),
            )
        )
        member.push(_frame("history", messages=[m for _, m in self.history]))
        if not self.shared:
            member.push(_LIMITED_NOTICE)
        return member

    def leave(self, member: ChatMember) -> None:
        member.closed = True
        self.members.discard(member)

    # -- sending ----------------------------------------------------------------------------------

    def send(self, user: ChatUser | None, text: object) -> dict[str, Any]:
        """Accept a message (queued for the next batch) or raise ChatRejected."""
        if user is None:
            raise ChatRejected("not_signed_in", "sign in to chat")
        if self.closed:
            raise ChatRejected("channel_deleted", "this channel was deleted")
        role = self.role(user)
        if role is not Role.OWNER:
            self._check_ban(user.id)
        cleaned = normalize_message(text)
        now = self._clock()
        chatter = self._chatter(user.id)
        if role is Role.VIEWER and self.state.slow_mode:
            wait = chatter.last_sent + self.state.slow_mode - now
            if wait > 0:
                raise ChatRejected(
                    "slow_mode",
                    f"slow mode: one message every {self.state.slow_mode} s",
                    retry_after=round(wait, 2),
                )
        folded = cleaned.casefold()
        if (
            folded == chatter.last_text
            and now - chatter.last_text_at < self.limits.duplicate_window
        ):
            raise ChatRejected("duplicate", "you just sent that message")
        wait = chatter.bucket.take()
        if wait > 0:
            raise ChatRejected(
                "rate_limited", "you are sending too fast", retry_after=round(wait, 2)
            )
        chatter.last_sent = now
        chatter.last_text, chatter.last_text_at = folded, now
        position = self._media_time()
        message = {
            "id": secrets.token_hex(8),
            "user": self._user_json(user, role),
            "text": cleaned,
            "time": int(now * 1000),
            "media_time": None if position is None else round(position[1], 3),
        }
        self._store.save_message(
            self.channel_id,
            user.id,
            {**message, "stream_id": None if position is None else position[0]},
        )
        self._post(user.id, message)
        self._publish(MessagePosted(user.id, message))
        return message

    def _post(self, user_id: int, message: dict[str, Any]) -> None:
        """Keep a message in the history and queue it for the next batch."""
        self.history.append((user_id, message))
        text = _json(message)
        self._pending.append(_Pending(self._monotonic(), message, text, len(text.encode())))
        self._schedule_flush()

    def _event_loop(self) -> EventLoop:
        return self._loop if self._loop is not None else asyncio.get_running_loop()

    def _schedule_flush(self) -> None:
        if self._flush is None and not self._due:
            limits = self.limits
            delay = min(
                limits.max_batch,
                max(limits.min_batch, len(self.members) * limits.batch_per_member),
            )
            self._flush = self._event_loop().call_later(delay, self._deliver)

    def _deliver(self) -> None:
        """Close the batch: its messages go out once the fan-out before it has finished."""
        self._flush = None
        if self._fanout.busy:
            self._due = True  # _fanout_idle delivers
            return
        self._due = False
        pending, self._pending = self._pending, []
        frame: list[_Pending] = []
        size = 0
        for entry in pending:
            if frame and size + entry.size > self.limits.max_frame_bytes:
                self._send_batch(frame)
                frame, size = [], 0
            frame.append(entry)
            size += entry.size + 1
        if frame:
            self._send_batch(frame)

    def _send_batch(self, batch: list[_Pending]) -> None:
        def done(started: float, ended: float, members: int) -> None:
            self.delivered += len(batch) * members
            if self._on_batch is not None:
                self._on_batch([ended - p.accepted for p in batch], ended - started)

        text = '{"type":"messages","messages":[' + ",".join(p.text for p in batch) + "]}"
        self._fanout.send(text, done)

    def _fanout_idle(self) -> None:
        if self._due:
            self._deliver()

    def _dropped(self, member: ChatMember) -> None:
        if member in self.members:
            self.dropped_members += 1
            self.members.discard(member)

    def broadcast(self, frame: str) -> None:
        """Send one frame to every member, after the frames already going out (slow or
        broken members are dropped)."""
        self._fanout.send(frame)

    # -- moderation -------------------------------------------------------------------------------

    async def delete(self, actor: ChatUser | None, message_id: object) -> None:
        self._require(actor, moderator=True)
        if not isinstance(message_id, str) or len(message_id) > 32:
            raise ChatRejected("bad_request", "id must be a message id")
        assert actor is not None
        entry = next(((uid, m) for uid, m in self.history if m["id"] == message_id), None)
        # Past the last 50 the sender comes from the database, and only from this channel:
        # an id from another channel is not found here.
        author = (
            entry[0]
            if entry is not None
            else await self._store.message_author(self.channel_id, message_id)
        )
        if author is None:
            raise ChatRejected("not_found", "no such message in this chat")
        self._may_act_on(actor, author, self_allowed=True)
        self._forget_messages((message_id,))
        await self._store.mark_deleted(self.channel_id, [message_id])
        self.broadcast(_frame("deleted", ids=[message_id]))
        self._publish(MessagesDeleted((message_id,)))

    def _forget_messages(self, ids: tuple[str, ...]) -> None:
        gone = set(ids)
        self.history = deque(
            ((uid, m) for uid, m in self.history if m["id"] not in gone),
            maxlen=self.limits.history,
        )
        self._pending = [p for p in self._pending if p.message["id"] not in gone]

    async def timeout(self, actor: ChatUser | None, name: object, seconds: object) -> None:
        limit = self.limits.max_timeout
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= limit:
            raise ChatRejected("bad_request", f"seconds must be a whole number from 1 to {limit}")
        await self._ban(actor, name, self._clock() + seconds, "timeout", seconds)

    async def ban(self, actor: ChatUser | None, name: object) -> None:
        await self._ban(actor, name, None, "ban", None)

    async def unban(self, actor: ChatUser | None, name: object) -> None:
        target = await self._target(actor, name, moderator=True)
        self.state.bans.pop(target.id, None)
        await self._store.remove_ban(self.channel_id, target.id)
        self._announce("unban", target.name, actor, None)
        self._publish(UserUnbanned(target.id, target.name, _name(actor)))

    async def set_moderator(self, actor: ChatUser | None, name: object, moderator: bool) -> None:
        target = await self._target(actor, name, moderator=False)
        if moderator:
            self.state.moderators.add(target.id)
        else:
            self.state.moderators.discard(target.id)
        await self._store.set_moderator(self.channel_id, target.id, moderator)
        self._announce("mod" if moderator else "unmod", target.name, actor, None)
        self._publish(ModeratorChanged(target.id, target.name, moderator, _name(actor)))

    async def set_slow_mode(self, actor: ChatUser | None, seconds: object) -> None:
        self._require(actor, moderator=False)
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= 3600:
            raise ChatRejected("bad_request", "seconds must be a whole number from 0 to 3600")
        self.state.slow_mode = seconds
        await self._store.set_slow_mode(self.channel_id, seconds)
        self.broadcast(_frame("settings", slow_mode=seconds))
        self._publish(SlowModeChanged(seconds))

    async def _ban(
        self,
        actor: ChatUser | None,
        name: object,
        until: float | None,
        action: str,
        seconds: int | None,
    ) -> None:
        target = await self._target(actor, name, moderator=True)
        assert actor is not None
        self._clear_user(target.id, target.name, until)
        await self._store.set_ban(self.channel_id, target.id, until, actor.id)
        await self._store.delete_user_messages(self.channel_id, target.id)
        self.broadcast(_frame("cleared_user", user=target.name))
        self._announce(action, target.name, actor, seconds)
        self._publish(UserBanned(target.id, target.name, until, action, seconds, actor.name))

    def _clear_user(self, user_id: int, name: str, until: float | None) -> None:
        self.state.bans[user_id] = until
        self.history = deque(
            ((uid, m) for uid, m in self.history if uid != user_id), maxlen=self.limits.history
        )
        self._pending = [p for p in self._pending if p.message["user"]["name"] != name]

    def _announce(
        self, action: str, target: str, actor: ChatUser | str | None, seconds: int | None
    ) -> None:
        self.broadcast(
            _frame(
                "moderated",
                action=action,
                user=target,
                seconds=seconds,
                by=actor.name if isinstance(actor, ChatUser) else actor,
            )
        )

    # -- other nodes --------------------------------------------------------------------------

    def apply(self, event: RoomEvent) -> None:
        """An event another node's copy of this room accepted (or the bus's own news):
        change this copy and tell its members as if it had happened here. Its rules were
        checked where it happened, and the database was written there."""
        if self.closed:
            return
        if isinstance(event, MessagePosted):
            message_id = event.message.get("id")
            if any(m["id"] == message_id for _, m in self.history):
                return  # delivered twice (the bus is at-least-once)
            self._count_elsewhere(event.user_id, event.message)
            self._post(event.user_id, event.message)
        elif isinstance(event, MessagesDeleted):
            self._forget_messages(event.ids)
            self.broadcast(_frame("deleted", ids=list(event.ids)))
        elif isinstance(event, UserBanned):
            self._clear_user(event.user_id, event.name, event.until)
            self.broadcast(_frame("cleared_user", user=event.name))
            self._announce(event.action, event.name, event.by, event.seconds)
        elif isinstance(event, UserUnbanned):
            self.state.bans.pop(event.user_id, None)
            self._announce("unban", event.name, event.by, None)
        elif isinstance(event, ModeratorChanged):
            if event.moderator:
                self.state.moderators.add(event.user_id)
            else:
                self.state.moderators.discard(event.user_id)
            self._announce("mod" if event.moderator else "unmod", event.name, event.by, None)
        elif isinstance(event, SlowModeChanged):
            self.state.slow_mode = event.seconds
            self.broadcast(_frame("settings", slow_mode=event.seconds))
        elif isinstance(event, SharingChanged) and event.shared != self.shared:
            self.shared = event.shared
            self.broadcast(_LIMITED_NOTICE if not event.shared else _SHARED_NOTICE)

    def _count_elsewhere(self, user_id: int, message: dict[str, Any]) -> None:
        """A user's message accepted by another node counts against their limits here too
        (send rate, slow mode, the duplicate check), so a user connected to several nodes
        gets the rate of one, give or take the bus's delay."""
        chatter = self._chatter(user_id)
        chatter.bucket.charge()
        now = self._clock()
        chatter.last_sent = max(chatter.last_sent, now)
        text = message.get("text")
        if isinstance(text, str):
            chatter.last_text, chatter.last_text_at = text.casefold(), now

    def add_history(self, recent: list[tuple[int, dict[str, Any]]]) -> None:
        """Merge messages from the shared store into the history (by id, in time order)."""
        known = {m["id"] for _, m in self.history}
        merged = list(self.history) + [e for e in recent if e[1]["id"] not in known]
        merged.sort(key=lambda entry: entry[1]["time"])
        self.history = deque(merged[-self.limits.history :], maxlen=self.limits.history)

    async def _target(self, actor: ChatUser | None, name: object, *, moderator: bool) -> ChatUser:
        self._require(actor, moderator=moderator)
        assert actor is not None
        if not isinstance(name, str) or not 0 < len(name) <= 32:
            raise ChatRejected("bad_request", "user must be a user name")
        target = await self._store.user_by_name(name)
        if target is None:
            raise ChatRejected("not_found", f"no user {name!r}")
        self._may_act_on(actor, target.id)
        return target

    def _require(self, actor: ChatUser | None, *, moderator: bool) -> None:
        if actor is SERVER:
            return  # the API, on behalf of the owner or an administrator
        role = self.role(actor)
        if role is Role.OWNER or (moderator and role is Role.MODERATOR):
            return
        what = "moderators" if moderator else "the channel's owner"
        raise ChatRejected("forbidden", f"only {what} may do that")

    def _may_act_on(self, actor: ChatUser, target_id: int, *, self_allowed: bool = False) -> None:
        """The actor's role must be above the target's (the API acts as the owner)."""
        if actor is not SERVER and target_id == actor.id:
            if self_allowed:
                return  # deleting one's own message
            raise ChatRejected("forbidden", "you cannot do that to yourself")
        target = self._role_of(target_id)
        actor_role = Role.OWNER if actor is SERVER else self.role(actor)
        if _RANK[actor_role] > _RANK[target]:
            return
        if target is Role.OWNER:
            raise ChatRejected("forbidden", "nobody acts on the channel's owner")
        raise ChatRejected("forbidden", "moderators do not act on other moderators")

    def _check_ban(self, user_id: int) -> None:
        left = self._ban_left(user_id)
        if left is None:
            return
        if left == float("inf"):
            raise ChatRejected("banned", "you are banned from this chat")
        raise ChatRejected("timed_out", "you are timed out", retry_after=round(left, 1))

    def _ban_left(self, user_id: int) -> float | None:
        if user_id not in self.state.bans:
            return None
        until = self.state.bans[user_id]
        if until is None:
            return float("inf")
        left = until - self._clock()
        if left <= 0:
            del self.state.bans[user_id]
            return None
        return left

    def _chatter(self, user_id: int) -> _Chatter:
        chatter = self._chatters.get(user_id)
        if chatter is None:
            if len(self._chatters) > 10_000:
                self._forget_idle()
            chatter = self._chatters[user_id] = _Chatter(
                TokenBucket(self.limits.rate, self.limits.burst, clock=self._clock)
            )
        return chatter

    def _forget_idle(self) -> None:
        now = self._clock()
        keep_for = max(self.limits.duplicate_window, self.state.slow_mode)
        for uid, c in list(self._chatters.items()):
            if c.bucket.full_at() <= now and now - c.last_sent > keep_for:
                del self._chatters[uid]

    @staticmethod
    def _user_json(user: ChatUser, role: Role) -> dict[str, str]:
        return {"name": user.name, "display_name": user.display_name or user.name, "role": role}
