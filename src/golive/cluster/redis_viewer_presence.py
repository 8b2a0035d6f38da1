"""RedisViewerPresence: the viewers of every node, one sorted set per channel stream.

``golive:viewers:<channel>:<stream token>`` holds a member per session id scored by when a
node last saw it (wall-clock seconds); ``golive:viewers-peak:<channel>:<stream token>`` is a
one-member sorted set whose score is the stream's peak. Each node's flush is two pipelines,
no Lua and no transaction (every command is atomic on its own, and repeating one is
harmless, so the client's retry after a broken connection is safe):

1. per stream: ``ZADD GT`` the sessions (a later sighting from another node is never moved
   back), ``ZREMRANGEBYSCORE`` those older than the expiry, ``ZREMRANGEBYRANK`` all but the
   ``max_sessions`` most recent (Redis stays bounded whatever the number of nodes),
   ``PEXPIRE``, ``ZCARD``: the count;
2. per stream: ``ZADD GT`` the peak member to the larger of that count and the node's own
   peak (it only ever rises, atomically, whichever node writes), ``PEXPIRE``, ``ZSCORE``.

Both keys expire twice the viewer expiry after the last flush of any node, so an ended
stream leaves nothing behind. Why this shape: docs/viewers.md, "In a cluster".
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from golive.store.viewer_presence import PresenceFigures, PresenceUnavailable, StreamPresence

__all__ = ["PEAK_MEMBER", "RedisViewerPresence", "peak_key", "sessions_key"]

_PREFIX = "golive:viewers:"
_PEAK_PREFIX = "golive:viewers-peak:"
PEAK_MEMBER = "peak"

# Problems that mean "Redis cannot be reached now" (the next flush tries again).
_UNREACHABLE = (RedisError, OSError, TimeoutError)


def sessions_key(channel: str, stream_token: str) -> str:
    return f"{_PREFIX}{channel}:{stream_token}"


def peak_key(channel: str, stream_token: str) -> str:
    return f"{_PEAK_PREFIX}{channel}:{stream_token}"


class RedisViewerPresence:
    """`ViewerPresence` in Redis (use `golive.cluster.redis_client`'s bounded client)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def share(
        self,
        streams: Sequence[StreamPresence],
        *,
        now: float,
        expiry: float,
        max_sessions: int,
    ) -> list[PresenceFigures]:
        if not streams:
            return []
        # Members leave by score; the keys outlive their newest member by as much again.
        ttl_ms = max(1, int(expiry * 2000))
        try:
            counted = self._redis.pipeline(transaction=False)
            card_at: list[int] = []  # where each stream's ZCARD answer is
            for stream in streams:
                key = sessions_key(stream.channel, stream.stream_token)
                if stream.sessions:
                    counted.zadd(key, dict(stream.sessions), gt=True)
                # Exclusive bound: a session seen exactly `expiry` ago is still in, as locally.
                counted.zremrangebyscore(key, "-inf", f"({now - expiry!r}")
                counted.zremrangebyrank(key, 0, -(max_sessions + 1))
                counted.pexpire(key, ttl_ms)
                counted.zcard(key)
                card_at.append(len(counted) - 1)
            answers = await counted.execute()
            counts = [int(answers[at]) for at in card_at]

            peaks = self._redis.pipeline(transaction=False)
            for stream, count in zip(streams, counts, strict=True):
                key = peak_key(stream.channel, stream.stream_token)
                peaks.zadd(key, {PEAK_MEMBER: max(count, stream.peak)}, gt=True)
                peaks.pexpire(key, ttl_ms)
                peaks.zscore(key, PEAK_MEMBER)
            peak_answers = await peaks.execute()
        except _UNREACHABLE as exc:
            raise PresenceUnavailable(f"Redis cannot be reached: {exc}") from exc
        return [
            PresenceFigures(count, int(peak_answers[3 * i + 2] or count))
            for i, count in enumerate(counts)
        ]
