"""The Redis client a node's shared state goes through, with the bounds a cluster needs."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["DEFAULT_COMMAND_TIMEOUT", "redis_client"]

# A frozen or unreachable server must not hold admission, a renewal or a request for long.
DEFAULT_COMMAND_TIMEOUT = 1.0


def redis_client(url: str, *, command_timeout: float = DEFAULT_COMMAND_TIMEOUT) -> Redis:
    """A client for ``url`` whose every command gives up after ``command_timeout`` seconds.

    It retries once, at once, on a fresh connection: after a Redis restart the pooled ones
    are dead. Every operation sent through it must be safe to repeat (the lease scripts are:
    a repeated acquire by the same holder only moves the token on).
    """
    return Redis.from_url(
        url,
        socket_timeout=command_timeout,
        socket_connect_timeout=command_timeout,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
