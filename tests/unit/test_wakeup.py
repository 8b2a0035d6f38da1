"""The live window's wake-up: every waiter released by one fire, timeouts leave nothing behind."""

from __future__ import annotations

import asyncio

from golive.store.wakeup import Wakeup


async def test_one_fire_releases_every_waiter_and_only_those_waiting() -> None:
    wakeup = Wakeup()
    wakeup.fire()  # nobody waits: nothing to do, nothing remembered
    waiters = [asyncio.create_task(wakeup.wait(5.0)) for _ in range(3)]
    await asyncio.sleep(0)
    assert wakeup.waiting == 3
    wakeup.fire()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert wakeup.waiting == 0
    # A fire before the wait began does not count for it.
    assert await wakeup.wait(0.01) is False


async def test_timed_out_and_cancelled_waiters_are_dropped() -> None:
    wakeup = Wakeup()
    assert await wakeup.wait(0) is False
    assert await wakeup.wait(0.01) is False
    assert wakeup.waiting == 0
    task = asyncio.create_task(wakeup.wait(5.0))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert wakeup.waiting == 0
