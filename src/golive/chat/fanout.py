"""Writing a room's frames to its members a slice at a time, one frame after another.

A frame for 10,000 members written in one loop callback holds the event loop for the whole
fan-out: nothing else (messages arriving, other requests, the next batch's timer) runs until
it ends. Here a frame is written to at most ``slice_size`` members per loop turn; the rest
follows in later turns (``call_soon``), so the loop polls its sockets in between. Frames go out
in the order given and a frame's fan-out starts only when the previous one has finished, so
every member sees the same order. Members are taken when a frame's fan-out starts: one who
joins meanwhile gets the next frame (their history already holds this one's messages), one
who leaves meanwhile is skipped (a closed member ignores ``push``).

Knows nothing of sockets or framing: a member is anything with ``push`` and ``closed``
(chat_room.py's ``ChatMember``), and every member of one fan-out is handed the same
``SharedText``, so a transport encodes the frame once for all of them. The clock and the
loop's ``call_soon`` are injected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from golive.chat.shared_text import SharedText

__all__ = ["Fanout", "Recipient"]


class Recipient(Protocol):
    @property
    def closed(self) -> bool: ...

    def push(self, frame: str, shared: SharedText | None = None) -> None: ...


# Told when a frame's fan-out has ended: when it started and ended (monotonic seconds) and
# how many members it was written to.
FrameDone = Callable[[float, float, int], None]


@dataclass(slots=True)
class _Frame:
    text: str
    done: FrameDone | None
    shared: SharedText | None = None
    members: list[Any] | None = None  # taken when its fan-out starts
    next: int = 0
    started: float = 0.0


class Fanout:
    """The frames waiting to go to a room's members, and the one going out now."""

    def __init__(
        self,
        members: Callable[[], Collection[Any]],
        *,
        slice_size: int,
        call_soon: Callable[[Callable[[], None]], object],
        monotonic: Callable[[], float],
        on_dropped: Callable[[Any], None],
        on_idle: Callable[[], None] = lambda: None,
    ) -> None:
        """``members`` gives the current members; ``on_dropped`` is told of a member that
        closed while being written to (it stopped reading, or its socket broke); ``on_idle``
        when the last queued frame has gone out."""
        self._members = members
        self._slice = max(1, slice_size)
        self._call_soon = call_soon
        self._monotonic = monotonic
        self._on_dropped = on_dropped
        self._on_idle = on_idle
        self._queue: deque[_Frame] = deque()
        self._scheduled = False

    @property
    def busy(self) -> bool:
        """True while a frame is still being written or waiting its turn."""
        return bool(self._queue)

    def send(self, text: str, done: FrameDone | None = None) -> None:
        """Queue ``text`` for every member. When nothing else is going out, the first slice
        is written before this returns."""
        self._queue.append(_Frame(text, done))
        if len(self._queue) == 1 and not self._scheduled:
            self._write_slice()

    def clear(self) -> None:
        """Forget every frame not yet written (the room closed)."""
        self._queue.clear()

    def _write_slice(self) -> None:
        """Write the current frame to the next slice of members; schedule what remains."""
        self._scheduled = False
        if not self._queue:
            return
        frame = self._queue[0]
        members = frame.members
        if members is None:
            if frame.done is not None:
                frame.started = self._monotonic()
            frame.shared = SharedText(frame.text)
            members = frame.members = list(self._members())
        end = min(len(members), frame.next + self._slice)
        text, shared = frame.text, frame.shared
        for i in range(frame.next, end):
            member = members[i]
            if member.closed:
                continue  # left since the fan-out started
            member.push(text, shared)
            if member.closed:
                self._on_dropped(member)
        frame.next = end
        if end < len(members):
            self._schedule()
            return
        self._queue.popleft()
        if frame.done is not None:
            frame.done(frame.started, self._monotonic(), len(members))
        if self._queue:
            self._schedule()
        else:
            self._on_idle()

    def _schedule(self) -> None:
        self._scheduled = True
        self._call_soon(self._write_slice)
