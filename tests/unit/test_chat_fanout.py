"""Fan-out in slices, one frame after another, and batches that wait for the fan-out before
them, coalesce and are split at the frame cap. The event loop and the clock are fakes: each
test runs the loop's turns by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from golive.chat.chat_room import ChatLimits, ChatRoom, ChatUser, EndReason, RoomState
from golive.chat.fanout import Fanout
from golive.chat.shared_text import SharedText


class Timer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """call_soon and call_later, run by the test."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []
        self.timers: list[Timer] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(delay, callback)
        self.timers.append(timer)
        return timer

    def turn(self) -> int:
        """One loop turn: the callbacks queued before it; returns how many ran."""
        ready, self.soon = self.soon, []
        for callback in ready:
            callback()
        return len(ready)

    def fire_timers(self) -> None:
        due, self.timers = self.timers, []
        for timer in due:
            if not timer.cancelled:
                timer.callback()


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Member:
    def __init__(self, name: str, *, stalls_after: int | None = None) -> None:
        self.name = name
        self.closed = False
        self.got: list[str] = []
        self.shared: list[SharedText] = []
        self._stalls_after = stalls_after

    def push(self, frame: str, shared: SharedText | None = None) -> None:
        assert shared is not None and shared.text == frame
        self.shared.append(shared)
        if self._stalls_after is not None and len(self.got) >= self._stalls_after:
            self.closed = True  # as ChatMember does when its socket holds too much
            return
        self.got.append(frame)


def fanout(
    members: list[Member], loop: FakeLoop, ticks: Ticks, slice_size: int
) -> tuple[Fanout, list[Member], list[str]]:
    dropped: list[Member] = []
    idle: list[str] = []
    f = Fanout(
        lambda: members,
        slice_size=slice_size,
        call_soon=loop.call_soon,
        monotonic=ticks,
        on_dropped=dropped.append,
        on_idle=lambda: idle.append("idle"),
    )
    return f, dropped, idle


def test_a_frame_goes_out_a_slice_per_loop_turn_and_the_next_waits_for_it() -> None:
    loop, ticks = FakeLoop(), Ticks()
    members = [Member(f"m{i}") for i in range(5)]
    f, dropped, idle = fanout(members, loop, ticks, slice_size=2)
    done: list[tuple[float, float, int]] = []
    f.send("one", lambda *args: done.append(args))
    # The first slice is written at once, the rest in later turns.
    assert [len(m.got) for m in members] == [1, 1, 0, 0, 0] and f.busy
    f.send("two")
    assert [len(m.got) for m in members] == [1, 1, 0, 0, 0]  # waits behind "one"
    ticks.now = 100.5
    assert loop.turn() == 1
    assert [m.got for m in members[:4]] == [["one"]] * 4 and members[4].got == []
    ticks.now = 101.0
    loop.turn()
    assert all(m.got == ["one"] for m in members)
    assert done == [(100.0, 101.0, 5)] and idle == []
    # "two" starts in the next turn and finishes in three turns, in order for everyone.
    turns = 0
    while loop.soon:
        turns += loop.turn()
    assert turns == 3 and all(m.got == ["one", "two"] for m in members)
    assert idle == ["idle"] and not f.busy and dropped == []


def test_members_are_taken_when_a_frame_starts_and_leavers_are_skipped() -> None:
    loop, ticks = FakeLoop(), Ticks()
    members = [Member("a"), Member("b"), Member("c")]
    f, dropped, _ = fanout(members, loop, ticks, slice_size=1)
    f.send("one")
    members.append(Member("late"))  # joined during "one": gets "two", not "one"
    members[2].closed = True  # left before its turn came
    f.send("two")
    while loop.soon:
        loop.turn()
    assert [m.got for m in members] == [["one", "two"], ["one", "two"], [], ["two"]]
    assert dropped == []  # leaving is not being dropped


def test_a_member_that_stops_reading_is_dropped_and_the_others_continue() -> None:
    loop, ticks = FakeLoop(), Ticks()
    stuck = Member("stuck", stalls_after=1)
    members = [Member("a"), stuck, Member("b")]
    f, dropped, _ = fanout(members, loop, ticks, slice_size=10)
    f.send("one")
    f.send("two")
    while loop.soon:
        loop.turn()
    assert dropped == [stuck] and stuck.got == ["one"]
    assert members[0].got == members[2].got == ["one", "two"]


def test_clear_forgets_waiting_frames() -> None:
    loop, ticks = FakeLoop(), Ticks()
    members = [Member("a"), Member("b")]
    f, _, _ = fanout(members, loop, ticks, slice_size=1)
    f.send("one")
    f.send("two")
    f.clear()
    while loop.soon:
        loop.turn()
    assert members[0].got == ["one"] and members[1].got == [] and not f.busy
    f.send("three")  # a cleared fan-out works again
    while loop.soon:
        loop.turn()
    assert members[1].got == ["three"]


class NoStore:
    def save_message(self, channel_id: int, user_id: int, message: dict[str, Any]) -> None:
        pass


def loop_room(
    loop: FakeLoop,
    ticks: Ticks,
    on_batch: Callable[[list[float], float], None] | None = None,
    **limits: Any,
) -> ChatRoom:
    return ChatRoom(
        "demo",
        1,
        None,
        RoomState(),
        NoStore(),  # type: ignore[arg-type]  # only save_message is used here
        limits=ChatLimits(**limits),
        monotonic=ticks,
        loop=loop,
        on_batch=on_batch,
    )


def batches(frames: Any) -> list[list[str]]:
    """The texts of each ``messages`` frame a member got."""
    return [
        [m["text"] for m in json.loads(f)["messages"]]
        for f in frames
        if json.loads(f)["type"] == "messages"
    ]


def test_a_batch_due_during_a_fan_out_waits_for_it_then_goes_out_whole() -> None:
    loop, ticks = FakeLoop(), Ticks()
    observed: list[tuple[list[float], float]] = []
    r = loop_room(loop, ticks, lambda delays, f: observed.append((delays, f)), fanout_slice=2)
    members = [r.join(None) for _ in range(5)]
    r.send(ChatUser(1, "u1"), "first")
    loop.fire_timers()  # batch 1 closes: the first slice goes out now
    assert loop.turn() == 1  # second slice; the third is queued
    ticks.now = 100.2
    for i in range(3):  # accepted while batch 1 is still going out
        r.send(ChatUser(10 + i, f"v{i}"), f"during {i}")
    assert len(loop.timers) == 1
    loop.fire_timers()  # batch 2's interval has passed, but batch 1 is not done
    assert sorted(len(batches(m.frames)) for m in members) == [0, 1, 1, 1, 1]
    ticks.now = 100.3
    loop.turn()  # batch 1 done: batch 2 closes at once, its first slice with it
    assert sorted(len(batches(m.frames)) for m in members) == [1, 1, 1, 2, 2]
    assert loop.timers == []  # no timer: it went out right after batch 1
    while loop.soon:
        loop.turn()
    want = [["first"], ["during 0", "during 1", "during 2"]]  # one frame for the three
    assert all(batches(m.frames) == want for m in members)
    assert observed[0][0] == pytest.approx([0.3]) and observed[0][1] == pytest.approx(0.3)
    assert r.delivered == 4 * 5


def test_a_late_batch_is_split_at_the_frame_cap() -> None:
    loop, ticks = FakeLoop(), Ticks()
    r = loop_room(loop, ticks, max_frame_bytes=400)
    member = r.join(None)
    texts = [f"{i:02d} " + "x" * 60 for i in range(12)]
    for i, text in enumerate(texts):
        r.send(ChatUser(100 + i, f"user{i}"), text)
    loop.fire_timers()
    while loop.soon:
        loop.turn()
    frames = [f for f in member.frames if json.loads(f)["type"] == "messages"]
    assert len(frames) > 1
    assert [t for b in batches(frames) for t in b] == texts  # all, in order
    for frame in frames:
        listed = json.loads(frame)["messages"]
        body = sum(len(json.dumps(m, separators=(",", ":")).encode()) + 1 for m in listed)
        assert len(listed) == 1 or body <= 400
    # Frames are what json.dumps would give for the same batch.
    first = json.loads(frames[0])
    assert frames[0] == json.dumps(first, ensure_ascii=False, separators=(",", ":"))


def test_a_moderation_frame_goes_out_after_the_batch_before_it() -> None:
    loop, ticks = FakeLoop(), Ticks()
    r = loop_room(loop, ticks, fanout_slice=1)
    a, b = r.join(None), r.join(None)
    r.send(ChatUser(1, "u1"), "hello")
    loop.fire_timers()
    r.broadcast('{"type":"settings","slow_mode":5}')
    while loop.soon:
        loop.turn()
    for member in (a, b):
        kinds = [json.loads(f)["type"] for f in member.frames]
        assert kinds == ["hello", "history", "messages", "settings"]


def test_a_member_that_stops_reading_is_still_closed_too_slow() -> None:
    loop, ticks = FakeLoop(), Ticks()
    r = loop_room(loop, ticks, max_queued_frames=3, fanout_slice=1)
    reader, stuck = r.join(None), r.join(None)
    for i in range(3):  # neither socket has started: frames queue (hello, history, ...)
        reader.frames.clear()
        r.send(ChatUser(1 + i, f"u{i}"), f"m{i}")
        loop.fire_timers()
        while loop.soon:
            loop.turn()
    assert stuck.end_reason is EndReason.TOO_SLOW and stuck not in r.members
    assert reader in r.members and r.dropped_members == 1


def test_every_member_of_a_frame_gets_the_same_shared_text_encoded_once() -> None:
    loop, ticks = FakeLoop(), Ticks()
    members = [Member(f"m{i}") for i in range(5)]
    f, _, _ = fanout(members, loop, ticks, slice_size=2)
    f.send("one")
    f.send("two")
    while loop.turn():
        pass
    for index in range(2):
        texts = {id(m.shared[index]) for m in members}
        assert len(texts) == 1  # one object for the whole room, so one encoding
    encodings: list[str] = []

    def encode(text: str) -> bytes:
        encodings.append(text)
        return text.encode()

    assert all(m.shared[0].encoded(encode) == b"one" for m in members)
    assert encodings == ["one"]
