"""RedisPublishLeases: publish leases shared by every node, with fencing tokens, in Redis.

redis-py's Lock has no fencing token, so each operation is one Lua script: the comparison
and the change it guards happen atomically on the server.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from golive.cluster.redis_client import DEFAULT_COMMAND_TIMEOUT, redis_client
from golive.live.publish_lease import (
    DEFAULT_LEASE_TTL,
    FENCE_TOKEN_FIELD,
    Lease,
    LeaseHolder,
    LeaseUnavailable,
)

T = TypeVar("T")


# KEYS: lease, token counter. ARGV: holder, ttl in ms, the node's wall clock in ms.
# The token is the larger of counter + 1 and the clock: it grows by one per acquisition,
# and a server that lost its data (or a replica promoted behind) still issues tokens larger
# than any it issued before, as long as fewer than one acquisition a millisecond happened.
_ACQUIRE = """
local current = redis.call('HGET', KEYS[1], 'holder')
if current and current ~= ARGV[1] then
  return false
end
local token = tonumber(ARGV[3])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last + 1 > token then
  token = last + 1
end
-- Written as an integer: Lua's own number format could turn it into 1.7e+12.
local text = string.format('%d', token)
redis.call('SET', KEYS[2], text)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', text)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
"""

# KEYS: lease. ARGV: holder, token, ttl in ms.
_RENEW = """
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1]
    and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: holder, token.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1]
    and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# KEYS: lease, state. ARGV: holder, token, then field, value pairs.
_FENCED_SET = """
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1]
    and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('HSET', KEYS[2], '__FENCE__', ARGV[2], unpack(ARGV, 3))
  return 1
end
return 0
""".replace("__FENCE__", FENCE_TOKEN_FIELD)


def lease_key(channel: str) -> str:
    return f"golive:lease:{channel}"


def token_key(channel: str) -> str:
    return f"golive:lease-token:{channel}"


def state_key(key: str) -> str:
    return f"golive:state:{key}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisPublishLeases:
    """PublishLeases in Redis (one server, or a primary behind Sentinel: no Redis Cluster,
    since a script's keys need not share a slot).

    ``wall_clock`` (seconds) seeds tokens; the lease's expiry is the server's own clock. A
    client passed in should time out and retry as the one ``from_url`` builds does.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        ttl: float = DEFAULT_LEASE_TTL,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError("a lease ttl must be positive")
        self._redis = redis
        self._ttl = ttl
        self._wall_clock = wall_clock
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._fenced_set = redis.register_script(_FENCED_SET)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl: float = DEFAULT_LEASE_TTL,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        wall_clock: Callable[[], float] = time.time,
    ) -> RedisPublishLeases:
        return cls(
            redis_client(url, command_timeout=command_timeout), ttl=ttl, wall_clock=wall_clock
        )

    @property
    def ttl(self) -> float:
        return self._ttl

    async def close(self) -> None:
        await self._redis.aclose()

    async def acquire(self, channel: str, holder: str) -> Lease | None:
        token = await self._call(
            self._acquire(
                keys=[lease_key(channel), token_key(channel)],
                args=[holder, self._ttl_ms, int(self._wall_clock() * 1000)],
            )
        )
        if token is None:
            return None
        return Lease(channel, holder, int(token), self._ttl)

    async def renew(self, lease: Lease) -> bool:
        renewed = await self._call(
            self._renew(
                keys=[lease_key(lease.channel)],
                args=[lease.holder, lease.token, self._ttl_ms],
            )
        )
        return bool(renewed)

    async def release(self, lease: Lease) -> None:
        await self._call(
            self._release(keys=[lease_key(lease.channel)], args=[lease.holder, lease.token])
        )

    async def holder(self, channel: str) -> LeaseHolder | None:
        holder, token = await self._call(self._redis.hmget(lease_key(channel), ["holder", "token"]))
        if holder is None or token is None:
            return None
        return LeaseHolder(_text(holder), int(token))

    async def fenced_set(self, lease: Lease, key: str, mapping: Mapping[str, str]) -> bool:
        if not mapping:
            raise ValueError("a fenced write needs at least one field")
        pairs = [part for field, value in mapping.items() for part in (field, value)]
        written = await self._call(
            self._fenced_set(
                keys=[lease_key(lease.channel), state_key(key)],
                args=[lease.holder, lease.token, *pairs],
            )
        )
        return bool(written)

    async def read_state(self, key: str) -> dict[str, str]:
        state = await self._call(self._redis.hgetall(state_key(key)))
        return {_text(field): _text(value) for field, value in state.items()}

    @property
    def _ttl_ms(self) -> int:
        return max(1, round(self._ttl * 1000))

    async def _call(self, command: Awaitable[T]) -> T:
        try:
            return await command
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            raise LeaseUnavailable(f"the lease store cannot be reached: {error}") from error
