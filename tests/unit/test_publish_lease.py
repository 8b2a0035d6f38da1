"""LocalPublishLeases: one holder per channel, growing tokens, expiry, fenced writes."""

from __future__ import annotations

import pytest

from golive.live.publish_lease import (
    FENCE_TOKEN_FIELD,
    Lease,
    LeaseHolder,
    LocalPublishLeases,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def leases(clock: Clock) -> LocalPublishLeases:
    return LocalPublishLeases(ttl=6.0, clock=clock)


async def test_first_holder_gets_the_channel_and_a_second_is_refused(
    leases: LocalPublishLeases,
) -> None:
    lease = await leases.acquire("news", "node-a")
    assert lease is not None
    assert lease == Lease("news", "node-a", lease.token, 6.0)
    assert await leases.acquire("news", "node-b") is None
    assert await leases.holder("news") == LeaseHolder("node-a", lease.token)
    # Other channels are independent.
    assert await leases.acquire("sport", "node-b") is not None


async def test_a_lease_expires_after_its_ttl_unless_renewed(
    leases: LocalPublishLeases, clock: Clock
) -> None:
    lease = await leases.acquire("news", "node-a")
    assert lease is not None
    clock.now += 5.9
    assert await leases.renew(lease)
    clock.now += 5.9  # 11.8 s after acquiring, 5.9 s after the renewal
    assert await leases.holder("news") == LeaseHolder("node-a", lease.token)
    clock.now += 0.1
    assert await leases.holder("news") is None
    assert not await leases.renew(lease)


async def test_tokens_grow_with_every_acquisition(leases: LocalPublishLeases, clock: Clock) -> None:
    first = await leases.acquire("news", "node-a")
    assert first is not None
    clock.now += 6.0
    second = await leases.acquire("news", "node-b")
    assert second is not None
    await leases.release(second)
    third = await leases.acquire("news", "node-a")
    assert third is not None
    assert first.token < second.token < third.token


async def test_the_same_holder_acquiring_again_gets_a_new_token_and_kills_the_old_lease(
    leases: LocalPublishLeases,
) -> None:
    old = await leases.acquire("news", "node-a")
    new = await leases.acquire("news", "node-a")
    assert old is not None and new is not None
    assert new.token > old.token
    assert not await leases.renew(old)
    assert not await leases.fenced_set(old, "stream:news", {"state": "live"})
    assert await leases.renew(new)


async def test_only_the_current_lease_releases(leases: LocalPublishLeases, clock: Clock) -> None:
    stale = await leases.acquire("news", "node-a")
    assert stale is not None
    clock.now += 6.0
    current = await leases.acquire("news", "node-b")
    assert current is not None
    await leases.release(stale)
    assert await leases.holder("news") == LeaseHolder("node-b", current.token)
    await leases.release(current)
    assert await leases.holder("news") is None


async def test_a_write_fenced_by_an_expired_lease_is_refused(
    leases: LocalPublishLeases, clock: Clock
) -> None:
    paused = await leases.acquire("news", "node-a")
    assert paused is not None
    assert await leases.fenced_set(paused, "stream:news", {"node": "node-a", "state": "live"})
    clock.now += 6.0
    # Expired, not yet taken: refused already.
    assert not await leases.fenced_set(paused, "stream:news", {"state": "ended"})
    taker = await leases.acquire("news", "node-b")
    assert taker is not None
    assert await leases.fenced_set(taker, "stream:news", {"node": "node-b"})
    assert not await leases.fenced_set(paused, "stream:news", {"node": "node-a"})
    assert await leases.read_state("stream:news") == {
        "node": "node-b",
        "state": "live",
        FENCE_TOKEN_FIELD: str(taker.token),
    }


async def test_read_state_of_nothing_written_is_empty(leases: LocalPublishLeases) -> None:
    assert await leases.read_state("stream:none") == {}


def test_a_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LocalPublishLeases(ttl=0)
