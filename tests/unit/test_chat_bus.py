"""The chat bus without a network: rooms publish what their rules accepted and apply what
other nodes accepted; the Redis Streams bus on fakeredis (entries, own events skipped,
duplicates dropped, history read back with deletions and bans applied)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import fakeredis
import pytest

from golive.chat.chat_bus import InProcessChatBus, RecentMessages
from golive.chat.chat_room import ChatMember, ChatRoom, ChatUser, RoomState
from golive.chat.chat_service import ChannelRef, ChatService
from golive.chat.message_text import ChatRejected
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
from golive.cluster.redis_chat_bus import RedisChatBus, decode_event, encode_event, stream_key
from tests.unit.test_chat_room import ALICE, BOB, MOD, OWNER, MemoryStore

CHANNEL = ChannelRef(1, "demo", OWNER.id)


class RecordingBus(InProcessChatBus):
    """The in-process bus, remembering what rooms published and who joined."""

    def __init__(self) -> None:
        self.published: list[tuple[str, RoomEvent]] = []
        self.delivers: dict[str, Callable[[RoomEvent], None]] = {}
        self.closed = False

    def publish(self, channel: str, channel_id: int, event: RoomEvent) -> None:
        assert channel_id == CHANNEL.id
        self.published.append((channel, event))

    async def join(
        self, channel: str, channel_id: int, deliver: Callable[[RoomEvent], None], history: int
    ) -> RecentMessages | None:
        self.delivers[channel] = deliver
        return [(BOB.id, message("old", BOB, "from another node", 1))]

    async def close(self) -> None:
        self.closed = True


def message(id_: str, user: ChatUser, text: str, time: int) -> dict[str, Any]:
    return {
        "id": id_,
        "user": {"name": user.name, "display_name": user.name, "role": "viewer"},
        "text": text,
        "time": time,
        "media_time": None,
    }


def service(bus: InProcessChatBus | None) -> ChatService:
    store = MemoryStore()

    async def channel(name: str) -> ChannelRef | None:
        return CHANNEL if name == "demo" else None

    async def room_state(channel_id: int, history: int) -> RoomState:
        return RoomState(moderators={MOD.id})

    return ChatService(store, channel=channel, room_state=room_state, bus=bus)


async def reader(room: ChatRoom) -> tuple[ChatMember, list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []

    async def send(text: str) -> None:
        got.append(json.loads(text))

    member = room.join(None)
    await member.start(send)
    return member, got


def kinds(got: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in got]


async def wait_for(check: Callable[[], bool], seconds: float = 2.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.005)


async def test_the_default_bus_is_in_process_and_joins_nothing() -> None:
    chat = service(None)
    assert isinstance(chat.bus, InProcessChatBus)
    room = await chat.room("demo")
    assert room is not None and list(room.history) == []
    assert await InProcessChatBus().join("demo", 1, lambda event: None, 50) is None


async def test_rooms_publish_what_their_rules_accepted() -> None:
    bus = RecordingBus()
    chat = service(bus)
    room = await chat.room("demo")
    assert room is not None
    sent = room.send(ALICE, "hello")
    with pytest.raises(ChatRejected):
        room.send(None, "anonymous")  # refused: nothing published
    await room.delete(OWNER, sent["id"])
    await room.timeout(MOD, "alice", 60)
    await room.unban(OWNER, "alice")
    await room.set_moderator(OWNER, "bob", True)
    await room.set_slow_mode(OWNER, 5)
    events = [event for channel, event in bus.published if channel == "demo"]
    assert len(events) == len(bus.published) == 6
    assert events[0] == MessagePosted(ALICE.id, sent)
    assert events[1] == MessagesDeleted((sent["id"],))
    assert isinstance(events[2], UserBanned)
    assert (events[2].user_id, events[2].action, events[2].seconds) == (ALICE.id, "timeout", 60)
    assert events[2].by == "mod" and events[2].until is not None
    assert events[3:] == [
        UserUnbanned(ALICE.id, "alice", "owner"),
        ModeratorChanged(BOB.id, "bob", True, "owner"),
        SlowModeChanged(5),
    ]
    await chat.close()
    assert bus.closed


async def test_history_merges_the_buss_recent_messages_with_the_databases() -> None:
    bus = RecordingBus()
    room = await service(bus).room("demo")
    assert room is not None
    assert [m["id"] for _, m in room.history] == ["old"]
    _, got = await reader(room)
    assert got[1] == {"type": "history", "messages": [room.history[0][1]]}


async def test_events_from_other_nodes_change_the_local_room() -> None:
    bus = RecordingBus()
    room = await service(bus).room("demo")
    assert room is not None
    deliver = bus.delivers["demo"]
    _, got = await reader(room)
    remote = message("r1", BOB, "from node b", 2)
    deliver(MessagePosted(BOB.id, remote))
    deliver(MessagePosted(BOB.id, remote))  # at-least-once: the second is dropped
    await wait_for(lambda: "messages" in kinds(got))
    await asyncio.sleep(0.05)  # a second batch would be out by now
    assert [f for f in got if f["type"] == "messages"] == [
        {"type": "messages", "messages": [remote]}
    ]
    deliver(MessagesDeleted(("r1",)))
    assert got[-1] == {"type": "deleted", "ids": ["r1"]}
    assert "r1" not in [m["id"] for _, m in room.history]
    deliver(UserBanned(ALICE.id, "alice", None, "ban", None, "mod"))
    assert kinds(got)[-2:] == ["cleared_user", "moderated"]
    with pytest.raises(ChatRejected) as refused:
        room.send(ALICE, "let me in")
    assert refused.value.code == "banned"
    deliver(UserUnbanned(ALICE.id, "alice", "owner"))
    room.send(ALICE, "thanks")
    deliver(ModeratorChanged(ALICE.id, "alice", True, "owner"))
    assert room.role(ALICE).value == "moderator"
    deliver(SlowModeChanged(30))
    assert room.state.slow_mode == 30 and got[-1] == {"type": "settings", "slow_mode": 30}
    assert not any(isinstance(e, MessagePosted) and e.message is remote for _, e in bus.published)


async def test_members_are_told_while_chat_is_limited_to_this_node() -> None:
    bus = RecordingBus()
    room = await service(bus).room("demo")
    assert room is not None
    _, got = await reader(room)
    bus.delivers["demo"](SharingChanged(False))
    assert got[-1]["type"] == "notice" and got[-1]["code"] == "local_only"
    _, joined = await reader(room)
    assert kinds(joined) == ["hello", "history", "notice"]
    bus.delivers["demo"](SharingChanged(False))  # no news: no second notice
    assert kinds(got).count("notice") == 1
    room.send(ALICE, "still works here")
    await wait_for(lambda: "messages" in kinds(got))
    bus.delivers["demo"](SharingChanged(True))
    assert got[-1]["type"] == "notice" and got[-1]["code"] == "shared"


@pytest.mark.parametrize(
    "event",
    [
        MessagePosted(3, message("m1", ALICE, "é ✓", 1)),
        MessagesDeleted(("a", "b")),
        UserBanned(3, "alice", 1.5e9, "timeout", 60, "mod"),
        UserBanned(3, "alice", None, "ban", None, None),
        UserUnbanned(3, "alice", "owner"),
        ModeratorChanged(3, "alice", False, "owner"),
        SlowModeChanged(0),
    ],
)
def test_events_survive_their_stream_encoding(event: RoomEvent) -> None:
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize("text", ["[]", '{"kind": "nope"}', '{"kind": "slow_mode", "x": 1}'])
def test_a_bad_entry_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_event(text)


Nodes = tuple[RedisChatBus, RedisChatBus, fakeredis.FakeAsyncRedis]


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    server = fakeredis.FakeServer()
    a = RedisChatBus(fakeredis.FakeAsyncRedis(server=server), node_id="a", block=0.05, max_len=50)
    b = RedisChatBus(fakeredis.FakeAsyncRedis(server=server), node_id="b", block=0.05, max_len=50)
    try:
        yield a, b, fakeredis.FakeAsyncRedis(server=server)
    finally:
        await a.close()
        await b.close()


async def published(redis: fakeredis.FakeAsyncRedis, entries: int) -> None:
    async def count() -> int:
        return int(await redis.xlen(stream_key("demo")))

    await wait_until(count, entries)


async def wait_until(value: Callable[[], Awaitable[int]], expected: int) -> None:
    async with asyncio.timeout(2):
        while await value() < expected:
            await asyncio.sleep(0.005)


async def test_one_nodes_events_reach_the_other_once_and_not_itself(nodes: Nodes) -> None:
    a, b, redis = nodes
    at_a: list[RoomEvent] = []
    at_b: list[RoomEvent] = []
    assert await a.join("demo", 1, at_a.append, 50) == []
    assert await b.join("demo", 1, at_b.append, 50) == []
    posted = MessagePosted(ALICE.id, message("m1", ALICE, "hi", 1))
    a.publish("demo", 1, posted)
    a.publish("demo", 1, posted)  # sent twice (a retried XADD): delivered once
    a.publish("demo", 1, SlowModeChanged(3))
    await published(redis, 3)
    await wait_for(lambda: len(at_b) == 2)
    assert at_b == [posted, SlowModeChanged(3)] and at_a == []
    entries: Any = await redis.xrange(stream_key("demo"))
    entry = entries[0][1]
    assert entry[b"node"] == b"a" and entry[b"id"] == b"m1"


async def test_the_stream_is_capped(nodes: Nodes) -> None:
    a, _, redis = nodes
    for i in range(400):
        a.publish("demo", 1, SlowModeChanged(i))

    async def last_written() -> int:
        newest: Any = await redis.xrevrange(stream_key("demo"), count=1)
        if not newest:
            return -1
        event = decode_event(newest[0][1][b"event"])
        return event.seconds if isinstance(event, SlowModeChanged) else -1

    await wait_until(last_written, 399)
    # MAXLEN ~ trims whole nodes of the stream: a little over the cap, far under 400.
    assert int(await redis.xlen(stream_key("demo"))) < 200


async def test_history_on_join_leaves_out_deleted_and_cleared_messages(nodes: Nodes) -> None:
    a, b, redis = nodes
    first = message("m1", ALICE, "one", 1)
    events: list[RoomEvent] = [
        MessagePosted(ALICE.id, first),
        MessagePosted(BOB.id, message("m2", BOB, "two", 2)),
        MessagePosted(BOB.id, message("m3", BOB, "three", 3)),
        MessagePosted(ALICE.id, message("m4", ALICE, "four", 4)),
        MessagesDeleted(("m4",)),
        UserBanned(BOB.id, "bob", None, "ban", None, "owner"),
        UserUnbanned(BOB.id, "bob", "owner"),
        MessagePosted(BOB.id, message("m5", BOB, "back", 5)),
    ]
    for event in events:
        a.publish("demo", 1, event)
    await published(redis, 8)
    recent = await b.join("demo", 1, lambda event: None, 50)
    assert recent is not None
    assert [(uid, m["id"]) for uid, m in recent] == [(ALICE.id, "m1"), (BOB.id, "m5")]
    assert recent[0][1] == first
    latest = await b.join("demo", 1, lambda event: None, 1)
    assert latest is not None and [m["id"] for _, m in latest] == ["m5"]


async def test_an_earlier_channel_of_the_same_name_is_not_mixed_in(nodes: Nodes) -> None:
    a, b, redis = nodes
    a.publish("demo", 1, MessagePosted(ALICE.id, message("old", ALICE, "deleted channel", 1)))
    await published(redis, 1)
    at_b: list[RoomEvent] = []
    assert await b.join("demo", 2, at_b.append, 50) == []  # the channel made again: id 2
    a.publish("demo", 1, SlowModeChanged(9))  # a node still on the old room
    new = MessagePosted(ALICE.id, message("new", ALICE, "new channel", 2))
    a.publish("demo", 2, new)
    await published(redis, 3)
    await wait_for(lambda: len(at_b) == 1)
    assert at_b == [new]
