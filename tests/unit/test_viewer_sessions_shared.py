"""ViewerSessions' side of sharing: what a flush sends, when a shared figure is believed,
and the flush task, against a scripted `ViewerPresence` (no Redis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest

from golive.store.viewer_presence import PresenceFigures, PresenceUnavailable, StreamPresence
from golive.store.viewer_sessions import ViewerSessions


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedPresence:
    """Records every flush and answers the figures it is told to."""

    def __init__(self, count: int = 0, peak: int = 0) -> None:
        self.figures = PresenceFigures(count, peak)
        self.rounds: list[list[StreamPresence]] = []
        self.failing = False
        self.hold: asyncio.Event | None = None  # set: the next round waits for it

    async def share(
        self, streams: Sequence[StreamPresence], *, now: float, expiry: float, max_sessions: int
    ) -> list[PresenceFigures]:
        self.rounds.append(list(streams))
        if self.hold is not None:
            await self.hold.wait()
        if self.failing:
            raise PresenceUnavailable("down")
        return [self.figures for _ in streams]


async def _never(seconds: float) -> None:
    await asyncio.Event().wait()


@pytest.fixture
def clock() -> Clock:
    return Clock(100.0)


@pytest.fixture
def wall() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def presence() -> ScriptedPresence:
    return ScriptedPresence(count=4, peak=6)


@pytest.fixture
async def viewers(
    presence: ScriptedPresence, clock: Clock, wall: Clock
) -> AsyncIterator[ViewerSessions]:
    """Shared, with a flush task that waits forever before its first round: the tests run
    the rounds themselves."""
    sessions = ViewerSessions(clock=clock, wall_clock=wall, shared_ttl=5.0, sleep=_never)
    sessions.share(presence)
    yield sessions
    await sessions.stop_sharing()


async def test_a_flush_sends_only_what_was_seen_since_the_last_one_in_wall_clock(
    viewers: ViewerSessions, presence: ScriptedPresence, clock: Clock, wall: Clock
) -> None:
    viewers.seen("news", "t1", "c:a")
    clock.now += 0.5
    wall.now += 0.5
    viewers.seen("news", "t1", "c:b")
    await viewers.flush()
    [stream] = presence.rounds[0]
    assert (stream.channel, stream.stream_token, stream.peak) == ("news", "t1", 2)
    assert stream.sessions == {"c:a": 1_800_000_000.0, "c:b": 1_800_000_000.5}
    assert viewers.count("news") == 4 and viewers.peak("news") == 6
    viewers.seen("news", "t1", "c:b")
    await viewers.flush()
    assert presence.rounds[1][0].sessions == {"c:b": 1_800_000_000.5}
    await viewers.flush()  # nothing new: the stream still goes, to read its figure
    assert presence.rounds[2][0].sessions == {}


async def test_a_shared_figure_is_never_below_this_nodes_own_and_goes_stale(
    viewers: ViewerSessions, presence: ScriptedPresence, clock: Clock
) -> None:
    presence.figures = PresenceFigures(1, 1)
    viewers.seen("news", "t1", "c:a")
    await viewers.flush()
    viewers.seen("news", "t1", "c:b")
    assert viewers.count("news") == 2  # b is not in the figure yet
    presence.figures = PresenceFigures(7, 7)
    await viewers.flush()
    clock.now += 5
    assert viewers.count("news") == 7
    clock.now += 0.1  # no flush for longer than shared_ttl: this node's own count
    assert viewers.count("news") == 2 and viewers.peak("news") == 7


async def test_figures_of_a_stream_that_ended_during_the_round_are_dropped(
    viewers: ViewerSessions, presence: ScriptedPresence
) -> None:
    viewers.seen("news", "t1", "c:a")
    presence.hold = asyncio.Event()
    round_ = asyncio.create_task(viewers.flush())
    await asyncio.sleep(0)
    viewers.seen("news", "t2", "c:a")  # a new stream began
    presence.hold.set()
    await round_
    assert viewers.count("news") == 1 and viewers.peak("news") == 1


async def test_after_a_failed_round_every_session_goes_again(
    viewers: ViewerSessions, presence: ScriptedPresence
) -> None:
    viewers.seen("news", "t1", "c:a")
    await viewers.flush()
    viewers.seen("news", "t1", "c:b")
    presence.failing = True
    await viewers.flush()
    assert viewers.count("news") == 2
    presence.failing = False
    await viewers.flush()
    assert set(presence.rounds[-1][0].sessions) == {"c:a", "c:b"}
    assert viewers.count("news") == 4


async def test_without_a_store_a_flush_does_nothing() -> None:
    viewers = ViewerSessions(clock=Clock(100.0))
    viewers.seen("news", "t1", "c:a")
    await viewers.flush()
    assert viewers.count("news") == 1


async def test_the_flush_task_waits_an_interval_between_rounds_until_stopped(
    clock: Clock, wall: Clock
) -> None:
    presence = ScriptedPresence(count=3, peak=3)
    pauses: list[float] = []
    second_pause = asyncio.Event()

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) > 1:  # one round, then the test looks
            second_pause.set()
            await asyncio.Event().wait()

    viewers = ViewerSessions(clock=clock, wall_clock=wall, flush_interval=0.25, sleep=sleep)
    viewers.seen("news", "t1", "c:before")  # seen before sharing began: sent too
    viewers.share(presence)
    with pytest.raises(RuntimeError):
        viewers.share(presence)
    await asyncio.wait_for(second_pause.wait(), 5)
    assert pauses == [0.25, 0.25]
    assert [set(r[0].sessions) for r in presence.rounds] == [{"c:before"}]
    assert viewers.count("news") == 3
    await viewers.stop_sharing()
    assert viewers.count("news") == 1


class SwallowingPresence(ScriptedPresence):
    """Completes a round although it was cancelled, as redis-py sometimes does."""

    def __init__(self) -> None:
        super().__init__(count=8, peak=8)
        self.entered = asyncio.Event()

    async def share(
        self, streams: Sequence[StreamPresence], *, now: float, expiry: float, max_sessions: int
    ) -> list[PresenceFigures]:
        self.entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        return [self.figures for _ in streams]


async def test_stopping_ends_the_task_even_when_the_store_swallows_the_cancellation(
    clock: Clock, wall: Clock
) -> None:
    presence = SwallowingPresence()

    async def no_pause(seconds: float) -> None:
        await asyncio.sleep(0)

    viewers = ViewerSessions(clock=clock, wall_clock=wall, sleep=no_pause)
    viewers.seen("news", "t1", "c:a")
    viewers.share(presence)
    await asyncio.wait_for(presence.entered.wait(), 5)
    await asyncio.wait_for(viewers.stop_sharing(), 5)
    assert viewers.count("news") == 1  # the late figure was not kept
