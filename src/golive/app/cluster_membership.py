"""This node as a member of a cluster: the shared state in Redis it joins and leaves.

Joining swaps the in-process implementations for the Redis ones (publish leases, rate-limit
counts, viewer presence, the chat bus), makes a channel's media requests go on to the node
serving it, and shares this node's live streams with the others. A single process never
builds this, so it has no Redis code path.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from redis.asyncio import Redis

from golive.app.live_streams import RegistryLiveStreams, SharedLiveStreams
from golive.chat.chat_bus import ChatBus
from golive.cluster.channel_locator import ChannelLocator
from golive.cluster.node_directory import NodeAnnouncer, RedisNodeDirectory
from golive.cluster.redis_attempt_window import RedisAttemptStore
from golive.cluster.redis_chat_bus import RedisChatBus
from golive.cluster.redis_client import redis_client
from golive.cluster.redis_live_directory import RedisLiveDirectory
from golive.cluster.redis_publish_leases import RedisPublishLeases
from golive.cluster.redis_viewer_presence import RedisViewerPresence
from golive.config import Settings
from golive.http.channel_forwarding import ChannelForwarder
from golive.http.live_media import LiveMediaEndpoint
from golive.live.channel_claims import ChannelClaims
from golive.live.registry import StreamRegistry
from golive.store.live_window import LiveStore
from golive.store.viewer_sessions import ViewerSessions

log = logging.getLogger("golive")


@dataclass
class ClusterMembership:
    node_id: str
    redis: Redis
    leases: RedisPublishLeases
    attempt_store: RedisAttemptStore
    live_sharing: SharedLiveStreams
    directory: RedisNodeDirectory
    viewers: ViewerSessions
    media: LiveMediaEndpoint
    announcer: NodeAnnouncer | None = None

    @classmethod
    def join(
        cls,
        s: Settings,
        node_id: str,
        *,
        registry: StreamRegistry,
        viewers: ViewerSessions,
        store: LiveStore,
        media: LiveMediaEndpoint,
        sign: Callable[[str], str | None],
    ) -> ClusterMembership:
        """Shared state in Redis: publish leases, and the node directory that lets any node
        send a channel's media requests on to the node serving it. ``sign`` gives the token a
        private channel's request is forwarded under."""
        redis = redis_client(s.redis_url)
        leases = RedisPublishLeases(redis)
        # Viewer counts add up over the nodes (a player seen on two counts once).
        viewers.share(RedisViewerPresence(redis))
        attempt_store = RedisAttemptStore(redis)
        directory = RedisNodeDirectory(redis)

        locate = ChannelLocator(leases, directory.url_of, node_id)
        media.forwarder = ChannelForwarder(locate, node_id, sign=sign)
        live_sharing = SharedLiveStreams(
            RedisLiveDirectory(redis), node_id, RegistryLiveStreams(registry, viewers, store)
        )
        live_sharing.start()
        log.info("node %s joined the cluster (Redis %s)", node_id, _redis_location(s.redis_url))
        return cls(
            node_id=node_id,
            redis=redis,
            leases=leases,
            attempt_store=attempt_store,
            live_sharing=live_sharing,
            directory=directory,
            viewers=viewers,
            media=media,
        )

    def chat_bus(self) -> ChatBus:
        """Chat crosses nodes through a Redis stream per channel."""
        return RedisChatBus(self.redis, node_id=self.node_id)

    def announce(self, s: Settings, port: int) -> None:
        """Tell the other nodes where this one serves HTTP (``port``, unless node_url)."""
        url = s.node_url or f"http://{_advertised_host(s.host)}:{port}"
        self.announcer = NodeAnnouncer(self.directory, self.node_id, url)
        self.announcer.start()

    async def leave(self) -> None:
        if self.announcer is not None:
            await self.announcer.stop()
        if self.media.forwarder is not None:
            await self.media.forwarder.aclose()
        await self.viewers.stop_sharing()
        await self.live_sharing.close()
        await self.redis.aclose()


def fence_token(claims: ChannelClaims, channel: str, *, clustered: bool) -> int:
    """The token this node's writes to ``channel``'s recording carry: its lease's, in a
    cluster; 0 in a single process (its in-process tokens start over at each run, and no
    other writer exists)."""
    lease = claims.held(channel)
    return lease.token if clustered and lease is not None else 0


def _advertised_host(host: str) -> str:
    """The host other nodes reach this one at, when node_url is not set."""
    if host in ("", "0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def _redis_location(url: str) -> str:
    """The Redis URL without its credentials, for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"
