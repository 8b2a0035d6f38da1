"""argon2id password hashing: format, verification, policy, and that it stays off the loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from golive.accounts.password_hashing import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordPolicyError,
    check_password_policy,
    hash_password,
    verify_password,
)

pytestmark = pytest.mark.timeout(30)


async def test_hash_is_argon2id_salted_and_verifies() -> None:
    first = await hash_password("correct horse")
    second = await hash_password("correct horse")
    assert first.startswith("$argon2id$v=19$")
    assert first != second  # a fresh salt each time
    assert await verify_password(first, "correct horse")
    assert await verify_password(second, "correct horse")
    assert not await verify_password(first, "correct hors")
    assert not await verify_password(first, "Correct horse")


async def test_missing_or_garbage_hash_never_verifies() -> None:
    assert not await verify_password(None, "correct horse")
    assert not await verify_password("not a hash", "correct horse")
    assert not await verify_password("$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA", "correct horse")


async def test_unknown_user_costs_as_much_as_a_wrong_password() -> None:
    stored = await hash_password("correct horse")

    async def cost(stored_hash: str | None) -> float:
        # CPU time of the process (the hashing thread's included), not wall time: on a busy
        # machine the nice-10 hashing thread waits for the CPU, which says nothing of cost.
        t0 = time.process_time()
        await verify_password(stored_hash, "wrong password")
        return time.process_time() - t0

    # Fastest of three, so a hiccup does not decide.
    known = min([await cost(stored) for _ in range(3)])
    unknown = min([await cost(None) for _ in range(3)])
    # The missing hash is hashed anyway: same order of cost, not an early return.
    assert unknown > known / 3, (known, unknown)


def test_policy() -> None:
    check_password_policy("x" * MIN_LENGTH)
    check_password_policy("x" * MAX_LENGTH)
    with pytest.raises(PasswordPolicyError, match="at least"):
        check_password_policy("x" * (MIN_LENGTH - 1))
    with pytest.raises(PasswordPolicyError, match="at most"):
        check_password_policy("x" * (MAX_LENGTH + 1))


async def test_too_long_passwords_are_refused_without_hashing() -> None:
    with pytest.raises(PasswordPolicyError):
        await hash_password("x" * (MAX_LENGTH + 1))
    stored = await hash_password("correct horse")
    t0 = time.process_time()
    assert not await verify_password(stored, "x" * (MAX_LENGTH + 1))
    assert time.process_time() - t0 < 0.01  # a hash costs about 40 ms of CPU


async def test_hashing_leaves_the_event_loop_free() -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    await asyncio.gather(*(hash_password(f"password {i}") for i in range(4)))
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    # The loop kept ticking while four hashes ran (two at a time) in the hashing pool.
    assert ticks >= elapsed / 0.005 / 3, (ticks, elapsed)


async def test_hashing_runs_one_lane_at_a_time_below_the_event_loops_priority() -> None:
    """A flood of sign-ins takes one core's spare time, never the live streams' CPU."""
    import os
    import threading

    from golive.accounts import password_hashing

    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def worker_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert await password_hashing.hash_queue.run(worker_nice) >= loop_nice + 10
    assert password_hashing._POOL._max_workers == 1
    stored = await hash_password("correct horse battery")
    assert "$m=19456,t=2,p=1$" in stored
