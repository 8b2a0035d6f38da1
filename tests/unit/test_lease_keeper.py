"""LeaseKeeper on a fake clock: renews, reports a lost lease at once; by default rides out a
store outage and takes back a lease the store lost; with fence_on_outage, self-fences in time."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from golive.live.lease_keeper import REASON_NOT_RENEWED, REASON_TAKEN, LeaseKeeper
from golive.live.publish_lease import Lease, LeaseHolder, LeaseUnavailable, LocalPublishLeases


class FakeTime:
    """A clock and a sleep that move only when the test advances them."""

    def __init__(self) -> None:
        self.now = 0.0
        self._order = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    async def advance_to(self, moment: float) -> None:
        """Run every task woken up to ``moment``, in time order."""
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= moment:
            when, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            if not wake.done():
                wake.set_result(None)
            await _settle()
        self.now = moment
        await _settle()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class ReachableLeases(LocalPublishLeases):
    """The in-process store, with a switch that makes it unreachable or silent."""

    def __init__(self, time: FakeTime) -> None:
        super().__init__(ttl=6.0, clock=time.clock)
        self.reachable = True
        self.silent = False
        self.renewals: list[float] = []
        self._time = time

    async def renew(self, lease: Lease) -> bool:
        self.renewals.append(self._time.now)
        if self.silent:
            await asyncio.get_running_loop().create_future()  # never answers
        if not self.reachable:
            raise LeaseUnavailable("connection refused")
        return await super().renew(lease)

    async def acquire(self, channel: str, holder: str) -> Lease | None:
        if not self.reachable:
            raise LeaseUnavailable("connection refused")
        return await super().acquire(channel, holder)


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def store(time: FakeTime) -> ReachableLeases:
    return ReachableLeases(time)


class Lost:
    def __init__(self, time: FakeTime) -> None:
        self.calls: list[tuple[float, Lease, str]] = []
        self._time = time

    def __call__(self, lease: Lease, reason: str) -> None:
        self.calls.append((self._time.now, lease, reason))


@pytest.fixture
def lost(time: FakeTime) -> Lost:
    return Lost(time)


@pytest.fixture
async def keeper(store: ReachableLeases, time: FakeTime, lost: Lost) -> LeaseKeeper:
    """A self-fencing keeper (fence_on_outage=True)."""
    return LeaseKeeper(
        store,
        "node-a",
        on_lost=lost,
        safety_margin=1.0,
        fence_on_outage=True,
        clock=time.clock,
        sleep=time.sleep,
    )


@pytest.fixture
async def riding_keeper(store: ReachableLeases, time: FakeTime, lost: Lost) -> LeaseKeeper:
    """The keeper golive runs: streams go on through a store outage."""
    return LeaseKeeper(store, "node-a", on_lost=lost, clock=time.clock, sleep=time.sleep)


async def test_renews_every_third_of_the_ttl_and_keeps_the_lease(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await keeper.acquire("news")
    assert lease is not None
    await time.advance_to(20.0)
    assert store.renewals == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
    assert await store.holder("news") == LeaseHolder("node-a", lease.token)
    assert keeper.lease("news") == lease
    assert lost.calls == []
    await keeper.close()


async def test_reports_the_lease_lost_at_the_first_refused_renewal(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await keeper.acquire("news")
    assert lease is not None
    await store.release(lease)  # as if it expired ...
    assert await store.acquire("news", "node-b") is not None  # ... and another node took it
    await time.advance_to(1.99)
    assert lost.calls == []
    await time.advance_to(2.0)
    assert lost.calls == [(2.0, lease, REASON_TAKEN)]
    assert keeper.lease("news") is None
    await time.advance_to(10.0)
    assert store.renewals == [2.0]  # no renewal after the loss
    assert len(lost.calls) == 1


async def test_self_fences_when_no_renewal_succeeds_for_ttl_less_margin(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await keeper.acquire("news")
    assert lease is not None
    store.reachable = False
    await time.advance_to(4.99)
    assert lost.calls == []
    await time.advance_to(5.0)
    # Before the store could expire it (6 s) and hand the channel to another node.
    assert lost.calls == [(5.0, lease, REASON_NOT_RENEWED)]
    assert store.renewals == [2.0, 4.0]
    assert keeper.lease("news") is None


async def test_self_fences_when_the_store_never_answers(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await keeper.acquire("news")
    assert lease is not None
    store.silent = True
    await time.advance_to(4.99)
    assert lost.calls == []
    await time.advance_to(5.0)
    assert lost.calls == [(5.0, lease, REASON_NOT_RENEWED)]
    # A hung renewal is abandoned at the next turn and tried again.
    assert store.renewals == [2.0, 4.0]


async def test_a_renewal_that_gets_through_moves_the_deadline(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await keeper.acquire("news")
    assert lease is not None
    store.reachable = False
    await time.advance_to(3.0)  # the renewal at 2 s failed
    store.reachable = True
    await time.advance_to(4.0)  # this one succeeds: deadline 4 + 6 - 1 = 9
    store.reachable = False
    await time.advance_to(8.99)
    assert lost.calls == []
    await time.advance_to(9.0)
    assert lost.calls == [(9.0, lease, REASON_NOT_RENEWED)]


async def test_release_stops_renewing_and_frees_the_channel(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await keeper.acquire("news")
    assert lease is not None
    await time.advance_to(3.0)
    await keeper.release("news")
    assert await store.holder("news") is None
    assert keeper.lease("news") is None
    await time.advance_to(20.0)
    assert store.renewals == [2.0]
    assert lost.calls == []


async def test_release_while_unreachable_still_stops_renewing(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    assert await keeper.acquire("news") is not None
    store.reachable = False

    async def unreachable_release(lease: Lease) -> None:
        raise LeaseUnavailable("connection refused")

    store.release = unreachable_release  # type: ignore[method-assign]
    await keeper.release("news")
    await time.advance_to(20.0)
    assert store.renewals == []
    assert lost.calls == []


async def test_acquire_answers_none_when_held_and_raises_when_unreachable(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime
) -> None:
    assert await store.acquire("news", "node-b") is not None
    assert await keeper.acquire("news") is None
    store.reachable = False
    with pytest.raises(LeaseUnavailable):
        await keeper.acquire("sport")
    assert keeper.lease("news") is None and keeper.lease("sport") is None
    await time.advance_to(10.0)
    assert store.renewals == []


async def test_acquiring_again_replaces_the_kept_lease(
    keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    first = await keeper.acquire("news")
    second = await keeper.acquire("news")
    assert first is not None and second is not None
    assert second.token > first.token
    await time.advance_to(10.0)
    # Only the new lease is renewed; the old one's task is gone, not reported lost.
    assert store.renewals == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert keeper.lease("news") == second
    assert lost.calls == []
    await keeper.close()
    assert await store.holder("news") is None


def test_the_margin_must_leave_two_renewals_before_the_deadline(store: ReachableLeases) -> None:
    def on_lost(lease: Lease, reason: str) -> None:
        pass

    with pytest.raises(ValueError):
        LeaseKeeper(store, "node-a", on_lost=on_lost, safety_margin=2.0)
    with pytest.raises(ValueError):
        LeaseKeeper(store, "node-a", on_lost=on_lost, safety_margin=0.0)


async def test_by_default_a_store_outage_does_not_stop_the_stream(
    riding_keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await riding_keeper.acquire("news")
    assert lease is not None
    store.reachable = False
    await time.advance_to(30.0)
    assert lost.calls == []
    assert store.renewals == [2.0 * n for n in range(1, 16)]  # retried all along
    store.reachable = True
    await time.advance_to(32.0)
    # The in-process store expired it meanwhile (as a restarted Redis would have lost it):
    # the channel is free, so the keeper takes it again with a larger token.
    fresh = riding_keeper.lease("news")
    assert fresh is not None and fresh.token > lease.token
    assert await store.holder("news") == LeaseHolder("node-a", fresh.token)
    assert lost.calls == []
    await time.advance_to(40.0)
    assert await store.holder("news") == LeaseHolder("node-a", fresh.token)
    await riding_keeper.close()


async def test_by_default_a_lease_another_node_took_is_lost_when_the_store_answers(
    riding_keeper: LeaseKeeper, store: ReachableLeases, time: FakeTime, lost: Lost
) -> None:
    lease = await riding_keeper.acquire("news")
    assert lease is not None
    store.reachable = False
    await time.advance_to(10.0)  # expired at 6 s in the store
    store.reachable = True
    assert await store.acquire("news", "node-b") is not None
    await time.advance_to(11.99)
    assert lost.calls == []
    await time.advance_to(12.0)
    assert lost.calls == [(12.0, lease, REASON_TAKEN)]
    assert riding_keeper.lease("news") is None
