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

from golive.chat.chat_room import ChatLimits, ChatRoom, ChatUser, Role, RoomState
from golive.chat.message_text import MAX_MESSAGE_LENGTH, ChatRejected, normalize_message
from golive.chat.token_bucket import TokenBucket
from golive.chat.websocket_frame import encode_text_frame

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

    def save_message(self, channel_id: int, user_id: int, message: dict[str, Any]) -> None:
        self.saved.append(message)

    async def mark_deleted(self, ids: list[str]) -> None:
        self.deleted += ids

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

    def writer(name: str) -> Callable[[bytes], bool]:
        def write(frame: bytes) -> bool:
            if name == "stalled" and len(wires[name]) >= 2:
                raise BufferError("the peer stopped reading")
            wires[name].append(frame)
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
    assert wires["fast"][0] == wires["stalled"][0]  # one encoding for the whole room
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
