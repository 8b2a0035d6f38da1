"""Passwords hashed with argon2id: 19 MiB, two passes, one lane (the first of the OWASP
Password Storage Cheat Sheet's argon2id settings).

Hashing runs in a thread of its own, one hash at a time, at a lower CPU priority: it keeps
the event loop free and bounds what a flood of sign-ins can take to one core's spare time
and 19 MiB, so live streams are served on time while it runs. bench/abuse.py measured, with
argon2-cffi's defaults (64 MiB, three passes, four lanes) on two workers at normal priority,
parts 5.9 s late at p95 and 152 MB more memory during a sign-in flood; with one such worker at
lower priority parts were on time but memory still grew 84 MB. The default
executor, which other code relies on, is not used. The queue in front of it is bounded too: once
``max_pending`` checks are running or waiting, more are refused at once (``HashingBusy``)
rather than queued behind a flood, where a real user's sign-in would wait for all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "HashingBusy",
    "PasswordPolicyError",
    "check_password_policy",
    "hash_password",
    "hash_queue",
    "verify_password",
]

_T = TypeVar("_T")
# One lane (argon2-cffi's default is four, each a thread of the C library): a hash then uses
# one core, not every core the machine has. Hashes made with other parameters (older ones:
# 64 MiB, three passes, four lanes) still verify.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Added to the hashing thread's nice value: the event loop and the encoders come first.
HASHING_NICENESS = 10


def _lower_priority() -> None:
    # On Linux a nice value belongs to a thread (and the threads it starts), not the process.
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + HASHING_NICENESS
        )


_POOL = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="golive-argon2", initializer=_lower_priority
)
MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; this only bounds the work one request can ask for


class HashingBusy(Exception):
    """Too many password checks are running or waiting; try again shortly."""


class _HashQueue:
    """Admission to the hashing pool: at most ``max_pending`` jobs running or waiting."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.pending = 0

    async def run(self, job: Callable[[], _T]) -> _T:
        # Counted before the first await, so concurrent callers cannot all pass the check.
        if self.pending >= self.max_pending:
            raise HashingBusy("too many password checks at once")
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(_POOL, job)
        finally:
            self.pending -= 1


hash_queue = _HashQueue(16)


class PasswordPolicyError(ValueError):
    """The password is too short or too long; ``str()`` says which."""


def check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"the password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"the password may have at most {MAX_LENGTH} characters")


async def hash_password(password: str) -> str:
    """The argon2id hash, in PHC string form (``$argon2id$v=19$...``); HashingBusy when the
    queue is full."""
    check_password_policy(password)
    return await hash_queue.run(lambda: _HASHER.hash(password))


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing hash is hashed anyway, so the time a sign-in
    takes does not tell whether the user exists. HashingBusy when the queue is full."""
    if len(password) > MAX_LENGTH:
        return False

    def verify() -> bool:
        if stored_hash is None:
            _HASHER.hash(password)  # same cost as a real check
            return False
        try:
            return _HASHER.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await hash_queue.run(verify)
