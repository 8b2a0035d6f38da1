"""Chat rules without sockets: rate limit, slow mode, duplicates, bans, timeouts, roles,
and the message validator under hypothesis."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from golive.chat.chat_request import MalformedRequest, parse_request
from golive.chat.chat_room import ChatLimits, ChatRoom, ChatUser, EndReason, Role, RoomState
from golive.chat.chat_service import ChannelRef, ChatService
from golive.chat.message_text import MAX_MESSAGE_LENGTH, ChatRejected, normalize_message
from golive.chat.room_event import MessagePosted
from golive.chat.shared_text import SharedText
from golive.chat.token_bucket import TokenBucket
from golive.http.websocket_text_frame import encode_text_frame

OWNER = ChatUser(1, "owner")
MOD = ChatUser(2, "mod")
ALICE = ChatUser(3, "alice")
BOB = ChatUser(4, "bob")
USERS = {u.name: u for u in (OWNER, MOD, ALICE, BOB)}


def json_frame(wire: bytes) -> str:
    """The text of a short unmasked frame (header of 2 or 4 bytes)."""
    return wire[4 if wire[1] == 126 else 2 :].decode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class MemoryStore:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []
        self.bans: dict[int, float | None] = {}
        self.deleted: list[str] = []
        self.messages: dict[str, tuple[int, int]] = {}  # id -> (channel id, user id)

    def save_message(self, channel_id: int, user_id: int, message: dict[str, Any]) -> None:
        self.saved.append(message)
        self.messages[message["id"]] = (channel_id, user_id)

    async def message_author(self, channel_id: int, message_id: str) -> int | None:
        found = self.messages.get(message_id)
        return found[1] if found is not None and found[0] == channel_id else None

    async def mark_deleted(self, channel_id: int, ids: list[str]) -> None:
        self.deleted += [i for i in ids if self.messages.get(i, (0, 0))[0] == channel_id]

    async def delete_user_messages(self, channel_id: int, user_id: int) -> None:
        pass

    async def set_moderator(self, channel_id: int, user_id: int, moderator: bool) -> None:
        pass

    async def set_ban(self, channel_id: int, user_id: int, until: float | None, by: int) -> None:
        self.bans[user_id] = until

    async def remove_ban(self, channel_id: int, user_id: int) -> None:
        self.bans.pop(user_id, None)

    async def set_slow_mode(self, channel_id: int, seconds: int) -> None:
        pass

    async def user_by_name(self, name: str) -> ChatUser | None:
        return USERS.get(name)


def room(clock: Clock, **limits: Any) -> tuple[ChatRoom, MemoryStore]:
    store = MemoryStore()
    r = ChatRoom(
        "demo",
        1,
        OWNER.id,
        RoomState(moderators={MOD.id}),
        store,
        limits=ChatLimits(**limits),
        media_time=lambda: ("s1", 12.5),
        clock=clock,
    )
    return r, store


def code(excinfo: pytest.ExceptionInfo[ChatRejected]) -> str:
    return excinfo.value.code


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0


def test_a_charge_from_another_node_may_leave_the_bucket_in_debt() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    for _ in range(5):
        bucket.charge()  # accepted elsewhere: never refused, debt down to -burst
    assert bucket.take() == pytest.approx(3.0)  # from -2 back to 1 token
    clock.now += 3.0
    assert bucket.take() == 0.0


async def test_messages_accepted_on_another_node_count_against_the_users_limits() -> None:
    """A user connected to two nodes gets one user's rate, not two: what another node
    accepted (applied here from the bus) spends this node's bucket, slow-mode wait and
    duplicate check too."""
    clock = Clock()
    r, _ = room(clock, rate=1.0, burst=2)

    def elsewhere(n: int, text: str) -> None:
        message = {"id": f"b{n}", "user": {"name": "alice"}, "text": text, "time": 0}
        r.apply(MessagePosted(ALICE.id, message))

    elsewhere(1, "one")
    elsewhere(2, "two")
    with pytest.raises(ChatRejected) as exc:
        r.send(ALICE, "three")
    assert code(exc) == "rate_limited"
    r.send(BOB, "three")  # per user, as on one node
    clock.now += 1.0
    with pytest.raises(ChatRejected) as exc:
        r.send(ALICE, "TWO")
    assert code(exc) == "duplicate"
    r.send(ALICE, "three")
    r.state.slow_mode = 10
    clock.now += 5.0
    elsewhere(3, "four")
    clock.now += 5.0
    with pytest.raises(ChatRejected) as exc:
        r.send(ALICE, "five")
    assert code(exc) == "slow_mode"


async def test_messages_carry_id_user_times_and_media_time() -> None:
    r, store = room(Clock())
    message = r.send(ALICE, "  hello\tworld  ")
    assert message["text"] == "hello world" and message["media_time"] == 12.5
    assert message["user"] == {"name": "alice", "display_name": "alice", "role": "viewer"}
    assert store.saved[0]["stream_id"] == "s1"


async def test_rate_limit_and_duplicates() -> None:
    clock = Clock()
    r, _ = room(clock, rate=1.0, burst=2)
    r.send(ALICE, "one")
    with pytest.raises(ChatRejected) as exc:
        r.send(ALICE, "ONE")
    assert code(exc) == "duplicate"
    r.send(ALICE, "two")
    with pytest.raises(ChatRejected) as exc:
        r.send(ALICE, "three")
    assert code(exc) == "rate_limited" and exc.value.retry_after
    clock.now += 1.0
    r.send(ALICE, "three")
    r.send(BOB, "one")  # limits are per user


async def test_slow_mode_spares_owner_and_moderators() -> None:
    clock = Clock()
    r, _ = room(clock)
    with pytest.raises(ChatRejected) as exc:
        await r.set_slow_mode(MOD, 10)
    assert code(exc) == "forbidden"
    await r.set_slow_mode(OWNER, 10)
    r.send(ALICE, "first")
    with pytest.raises(ChatRejected) as exc:
        r.send(ALICE, "second")
    assert code(exc) == "slow_mode" and exc.value.retry_after == pytest.approx(10)
    r.send(MOD, "a")
    r.send(MOD, "b")
    clock.now += 10
    r.send(ALICE, "second")


async def test_bans_timeouts_and_who_may_act_on_whom() -> None:
    clock = Clock()
    r, store = room(clock)
    r.send(BOB, "spam")
    with pytest.raises(ChatRejected) as exc:
        await r.ban(ALICE, "bob")
    assert code(exc) == "forbidden"
    with pytest.raises(ChatRejected) as exc:
        await r.ban(MOD, "owner")
    assert code(exc) == "forbidden"
    with pytest.raises(ChatRejected) as exc:
        await r.set_moderator(MOD, "alice", True)
    assert code(exc) == "forbidden"  # only the owner appoints
    await r.timeout(MOD, "bob", 60)
    assert store.bans[BOB.id] == clock.now + 60
    assert all(m["user"]["name"] != "bob" for _, m in r.history)  # purged
    with pytest.raises(ChatRejected) as exc:
        r.send(BOB, "again")
    assert code(exc) == "timed_out"
    clock.now += 61
    r.send(BOB, "back")
    await r.ban(OWNER, "bob")
    with pytest.raises(ChatRejected) as exc:
        r.send(BOB, "x")
    assert code(exc) == "banned"
    await r.unban(MOD, "bob")
    r.send(BOB, "y")
    await r.set_moderator(OWNER, "alice", True)
    assert r.role(ALICE) is Role.MODERATOR
    with pytest.raises(ChatRejected) as exc:
        await r.ban(MOD, "alice")  # moderators do not act on moderators
    assert code(exc) == "forbidden"
    with pytest.raises(ChatRejected) as exc:
        await r.timeout(OWNER, "alice", 10**9)
    assert code(exc) == "bad_request"


async def test_delivery_is_batched_and_slow_members_are_dropped() -> None:
    r, _ = room(Clock(), min_batch=0.01, max_queued_frames=3)
    fast = r.join(None)
    slow = r.join(None)
    fast.frames.clear()
    for i in range(5):
        r.send(ChatUser(10 + i, f"u{i}"), "hi")
    await asyncio.sleep(0.05)
    assert len(fast.frames) == 1  # five messages, one frame
    for i in range(3):  # the slow member never reads: its queue passes the limit
        fast.frames.clear()
        r.send(ChatUser(20 + i, "x"), f"m{i}")
        await asyncio.sleep(0.03)
    assert slow.overflowed and slow not in r.members and fast in r.members


async def test_frames_go_straight_to_the_wire_and_a_stalled_wire_drops_the_member() -> None:
    r, _ = room(Clock(), min_batch=0.01)
    wires: dict[str, list[bytes]] = {"fast": [], "stalled": []}
    asgi_sent: list[str] = []

    async def asgi_send(text: str) -> None:
        asgi_sent.append(text)

    def writer(name: str) -> Callable[[SharedText], bool]:
        def write(text: SharedText) -> bool:
            if name == "stalled" and len(wires[name]) >= 2:
                raise BufferError("the peer stopped reading")
            wires[name].append(text.encoded(encode_text_frame))
            return True

        return write

    fast, stalled = r.join(None), r.join(None)
    await fast.start(asgi_send, writer("fast"))
    await stalled.start(asgi_send, writer("stalled"))
    assert fast.writes_directly and stalled.writes_directly
    queued = len(asgi_sent)  # hello and history, queued before start, go through ASGI
    for i in range(3):
        r.send(ChatUser(30 + i, f"w{i}"), f"wire {i}")
        await asyncio.sleep(0.03)
    assert len(asgi_sent) == queued  # nothing else took the ASGI path
    assert wires["fast"][-1] == encode_text_frame(json_frame(wires["fast"][-1]))
    assert len(wires["fast"]) == 3 and b"wire 2" in wires["fast"][-1]
    assert wires["fast"][0] is wires["stalled"][0]  # one encoding for the whole room
    assert stalled.overflowed and stalled not in r.members and fast in r.members


async def test_a_closed_wire_falls_back_to_asgi() -> None:
    r, _ = room(Clock(), min_batch=0.01)
    sent: list[str] = []

    async def asgi_send(text: str) -> None:
        sent.append(text)

    member = r.join(None)
    await member.start(asgi_send, lambda frame: False)
    before = len(sent)
    r.send(ALICE, "through asgi")
    await asyncio.sleep(0.03)
    assert len(sent) == before + 1 and "through asgi" in sent[-1]


@given(st.text(max_size=3 * MAX_MESSAGE_LENGTH))
def test_validator_output_is_clean_bounded_and_stable(text: str) -> None:
    try:
        cleaned = normalize_message(text)
    except ChatRejected as exc:
        assert exc.code in {"empty", "too_long"}
        return
    assert 1 <= len(cleaned) <= MAX_MESSAGE_LENGTH
    assert cleaned == cleaned.strip()
    assert not any(unicodedata.category(c) == "Cc" for c in cleaned)
    assert not any("\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" for c in cleaned)
    assert normalize_message(cleaned) == cleaned  # idempotent


@given(st.one_of(st.none(), st.integers(), st.lists(st.text()), st.binary()))
def test_validator_refuses_what_is_not_text(value: object) -> None:
    with pytest.raises(ChatRejected) as exc:
        normalize_message(value)
    assert exc.value.code == "bad_request"


async def test_delete_stays_in_its_channel_and_follows_the_role_order() -> None:
    """Regression: an owner deleted another channel's messages, and a moderator the owner's
    once they left the last 50 held in memory."""
    clock = Clock()
    store = MemoryStore()
    here = ChatRoom("here", 1, OWNER.id, RoomState(moderators={MOD.id}), store, clock=clock)
    there = ChatRoom("there", 2, BOB.id, RoomState(), store, clock=clock, limits=ChatLimits())
    elsewhere = there.send(BOB, "mine")
    with pytest.raises(ChatRejected) as exc:
        await here.delete(OWNER, elsewhere["id"])
    assert code(exc) == "not_found" and store.deleted == []
    # The owner's message, pushed out of the room's memory (history of 2).
    small = ChatRoom(
        "small",
        3,
        OWNER.id,
        RoomState(moderators={MOD.id}),
        store,
        clock=clock,
        limits=ChatLimits(history=2),
    )
    owners = small.send(OWNER, "by the owner")
    mods = small.send(MOD, "by a moderator")
    small.send(ALICE, "a")
    small.send(BOB, "b")
    assert all(m["id"] not in (owners["id"], mods["id"]) for _, m in small.history)
    with pytest.raises(ChatRejected) as exc:
        await small.delete(MOD, owners["id"])
    assert code(exc) == "forbidden"
    with pytest.raises(ChatRejected) as exc:
        await small.delete(ChatUser(9, "other_mod"), mods["id"])
    assert code(exc) == "forbidden"  # a viewer
    small.state.moderators.add(9)
    with pytest.raises(ChatRejected) as exc:
        await small.delete(ChatUser(9, "other_mod"), mods["id"])
    assert code(exc) == "forbidden"  # moderators do not act on moderators
    await small.delete(MOD, mods["id"])  # one's own message
    await small.delete(OWNER, owners["id"])
    assert store.deleted == [mods["id"], owners["id"]]


async def test_owner_outranks_moderators_and_nobody_acts_on_the_owner() -> None:
    r, _ = room(Clock())
    await r.timeout(OWNER, "mod", 60)  # owner > moderator
    with pytest.raises(ChatRejected) as exc:
        await r.set_moderator(OWNER, "owner", False)
    assert code(exc) == "forbidden"
    with pytest.raises(ChatRejected) as exc:
        await r.ban(MOD, "mod")  # not even oneself
    assert code(exc) == "forbidden"


class Channels:
    """The channels table, as the chat service sees it."""

    def __init__(self) -> None:
        self.refs = {"demo": ChannelRef(1, "demo", OWNER.id)}

    async def by_name(self, name: str) -> ChannelRef | None:
        return self.refs.get(name)

    async def by_id(self, ids: Any) -> dict[int, ChannelRef]:
        return {r.id: r for r in self.refs.values() if r.id in ids}


def service(channels: Channels, store: MemoryStore, *, bulk: bool = True) -> ChatService:
    async def room_state(channel_id: int, history: int) -> RoomState:
        return RoomState(bans=dict(store.bans))

    return ChatService(
        store,
        channel=channels.by_name,
        channels_by_id=channels.by_id if bulk else None,
        room_state=room_state,
    )


@pytest.mark.parametrize("bulk", [True, False])
async def test_a_room_follows_its_channel_owner(bulk: bool) -> None:
    """Regression: after the channel moved to another user, the old owner kept the owner's
    role and banned the new owner."""
    channels, store = Channels(), MemoryStore()
    chat = service(channels, store, bulk=bulk)
    r = await chat.room("demo")
    assert r is not None
    await r.ban(OWNER, "alice")
    channels.refs["demo"] = ChannelRef(1, "demo", ALICE.id)
    await chat.refresh()
    assert r.role(ALICE) is Role.OWNER and r.role(OWNER) is Role.VIEWER
    assert ALICE.id not in r.state.bans and ALICE.id not in store.bans  # the ban is lifted
    r.send(ALICE, "mine now")
    with pytest.raises(ChatRejected) as exc:
        await r.ban(OWNER, "alice")
    assert code(exc) == "forbidden"
    await r.ban(ALICE, "owner")
    # The API's hook works the same, without waiting for a refresh.
    channels.refs["demo"] = ChannelRef(1, "demo", BOB.id)
    await chat.channel_changed("demo")
    assert r.role(BOB) is Role.OWNER


async def test_a_deleted_channel_closes_its_room_and_a_new_one_starts_afresh() -> None:
    """Regression: a deleted channel's chat still opened and took messages."""
    channels, store = Channels(), MemoryStore()
    chat = service(channels, store)
    r = await chat.room("demo")
    assert r is not None
    member = r.join(ALICE)
    del channels.refs["demo"]
    await chat.refresh()
    assert member.end_reason is EndReason.CHANNEL_DELETED and member.ready.is_set()
    assert r.closed and not r.members
    with pytest.raises(ChatRejected) as exc:
        r.send(ALICE, "anyone?")
    assert code(exc) == "channel_deleted"
    assert await chat.room("demo") is None
    # Created again under the same name: a new channel id, a new room.
    channels.refs["demo"] = ChannelRef(7, "demo", BOB.id)
    again = await chat.room("demo")
    assert again is not None and again is not r and again.channel_id == 7
    # A room whose channel was replaced between two lookups is replaced too.
    channels.refs["demo"] = ChannelRef(8, "demo", BOB.id)
    joined = again.join(None)
    third = await chat.room("demo")
    assert third is not None and third.channel_id == 8
    assert joined.end_reason is EndReason.CHANNEL_DELETED


@pytest.mark.parametrize(
    "text",
    ["[" * 2000 + "]" * 2000, '{"a":' * 20 + "1" + "}" * 20, "not json", "[1]", '"s"', "{"],
)
def test_malformed_requests_are_refused(text: str) -> None:
    with pytest.raises(MalformedRequest):
        parse_request(text)


def test_requests_parse_and_brackets_in_strings_do_not_count() -> None:
    text = '{"type":"send","text":"' + "[[[{{{" * 100 + '\\"}"}'
    assert parse_request(text)["type"] == "send"


async def test_each_batch_reports_its_messages_delivery_times_and_its_fan_out() -> None:
    ticks = iter([10.0, 10.02, 10.05, 10.1, 10.13])  # accepted x3, fan-out start, end

    batches: list[tuple[list[float], float]] = []
    r = ChatRoom(
        "demo",
        1,
        OWNER.id,
        RoomState(),
        MemoryStore(),
        limits=ChatLimits(min_batch=0.01),
        clock=Clock(),
        monotonic=lambda: next(ticks),
        on_batch=lambda delays, fanout: batches.append((delays, fanout)),
    )
    member = r.join(None)
    sent = [r.send(ChatUser(40 + i, f"b{i}"), f"batch {i}") for i in range(3)]
    # A message deleted before its batch leaves is neither delivered nor reported.
    await r.delete(OWNER, sent[1]["id"])
    await asyncio.sleep(0.05)
    assert len(batches) == 1
    delays, fanout = batches[0]
    assert delays == pytest.approx([0.13, 0.08]) and fanout == pytest.approx(0.03)
    assert "batch 0" in member.frames[-1] and "batch 1" not in member.frames[-1]
