"""Passwords hashed with argon2id (argon2-cffi's defaults: RFC 9106's second recommendation,
64 MiB and three passes per hash).

Hashing runs in a small thread pool of its own: it keeps the event loop free, and bounds the
memory and CPU a flood of sign-ins can take (two hashes at a time, the rest queue), without
occupying the default executor other code relies on.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "PasswordPolicyError",
    "check_password_policy",
    "hash_password",
    "verify_password",
]

_HASHER = PasswordHasher()
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="golive-argon2")
MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; this only bounds the work one request can ask for


class PasswordPolicyError(ValueError):
    """The password is too short or too long; ``str()`` says which."""


def check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"the password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"the password may have at most {MAX_LENGTH} characters")


async def hash_password(password: str) -> str:
    """The argon2id hash, in PHC string form (``$argon2id$v=19$...``)."""
    check_password_policy(password)
    return await asyncio.get_running_loop().run_in_executor(_POOL, _HASHER.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing hash is hashed anyway, so the time a sign-in
    takes does not tell whether the user exists."""
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

    return await asyncio.get_running_loop().run_in_executor(_POOL, verify)
