"""ChannelLocator: the serving node's address, remembered for a moment."""

from __future__ import annotations

from golive.cluster.channel_locator import ChannelLocator
from golive.live.publish_lease import LeaseHolder, LeaseUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Leases:
    def __init__(self) -> None:
        self.holders: dict[str, LeaseHolder] = {}
        self.asked = 0
        self.down = False

    async def holder(self, channel: str) -> LeaseHolder | None:
        self.asked += 1
        if self.down:
            raise LeaseUnavailable("Redis is away")
        return self.holders.get(channel)


URLS = {"node-b": "http://10.0.0.2:8080", "node-c": "http://10.0.0.3:8080"}


async def url_of(node: str) -> str | None:
    return URLS.get(node)


def locator(leases: Leases, clock: Clock, **kw: int) -> ChannelLocator:
    return ChannelLocator(leases, url_of, "node-a", ttl=0.5, clock=clock, **kw)  # type: ignore[arg-type]


async def test_the_holders_address_is_remembered_for_the_ttl_then_looked_up_again() -> None:
    leases, clock = Leases(), Clock()
    locate = locator(leases, clock)
    leases.holders["demo"] = LeaseHolder("node-b", 7)
    assert [await locate("demo") for _ in range(5)] == [URLS["node-b"]] * 5
    assert leases.asked == 1
    leases.holders["demo"] = LeaseHolder("node-c", 9)  # taken over
    clock.now += 0.4
    assert await locate("demo") == URLS["node-b"]
    clock.now += 0.2
    assert await locate("demo") == URLS["node-c"] and leases.asked == 2


async def test_this_node_nobody_and_an_outage_mean_no_forwarding() -> None:
    leases, clock = Leases(), Clock()
    locate = locator(leases, clock)
    leases.holders["mine"] = LeaseHolder("node-a", 3)
    assert await locate("mine") is None
    assert await locate("nobody") is None
    assert [await locate("nobody") for _ in range(3)] == [None] * 3
    assert leases.asked == 2  # "not live anywhere" is remembered too
    leases.down = True
    assert await locate("other") is None
    assert await locate("other") is None
    assert leases.asked == 4  # an outage is not remembered: asked again next time


async def test_memory_is_bounded() -> None:
    leases, clock = Leases(), Clock()
    locate = locator(leases, clock, max_entries=3)
    for n in range(10):
        await locate(f"ch{n}")
    assert len(locate._known) == 3 and list(locate._known) == ["ch7", "ch8", "ch9"]
