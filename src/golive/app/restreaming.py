"""Restreaming on this node: a forwarder per live stream, kept in step with the stored
destinations.

The consumer factory adds a ``StreamForwarder`` to every stream; its destinations are read
from the database right after (the factory cannot wait), whenever the API or the dashboard
changes them (``changed``), and every ``POLL_INTERVAL`` seconds, which also brings in
changes made through another process or node. In a cluster the forwarder runs where the
stream is, like the packager; the status the API answers is that node's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from golive.config import Settings
from golive.db.restream_destinations import RestreamDestinationStore
from golive.http.api.restream_status import RestreamStatusInfo
from golive.live.hub import StreamHub
from golive.restream.destination import DestinationConfig, DestinationState, DestinationStatus
from golive.restream.forwarder import ForwarderSettings, StreamForwarder

__all__ = ["POLL_INTERVAL", "Restreaming"]

log = logging.getLogger("golive.restream")

POLL_INTERVAL = 2.0


class Restreaming:
    """Implements the API's ``RestreamLive`` over this node's forwarders."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        ffmpeg: str,
        preexec: Callable[[], None] | None,
        *,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._settings = settings
        self._ffmpeg = ffmpeg
        self._preexec = preexec
        self._poll_interval = poll_interval
        self._store: RestreamDestinationStore | None = None
        self._forwarders: dict[str, tuple[StreamHub, StreamForwarder]] = {}
        self._ending: set[asyncio.Task[None]] = set()
        self._poll: asyncio.Task[None] | None = None
        self._undecryptable: dict[tuple[str, int], str] = {}

    def start(self, store: RestreamDestinationStore) -> None:
        self._store = store
        self._poll = asyncio.create_task(self._follow())
        if self._forwarders:  # streams restored before the database was open
            self._refresh_soon(list(self._forwarders))

    # -- the streams --------------------------------------------------------------------------

    def consumer_for(self, hub: StreamHub) -> StreamForwarder:
        s = self._settings()
        forwarder = StreamForwarder(
            ForwarderSettings(
                self._ffmpeg,
                preexec=self._preexec,
                max_buffer=s.restream_max_buffer,
                connect_timeout=s.restream_connect_timeout,
            ),
            log_extra=hub.log_extra,
        )
        previous = self._forwarders.get(hub.channel)
        if previous is not None:
            self._finish(previous[1])
        self._forwarders[hub.channel] = (hub, forwarder)
        if self._store is not None:
            self._refresh_soon([hub.channel])
        return forwarder

    def ended(self, hub: StreamHub) -> None:
        current = self._forwarders.get(hub.channel)
        if current is not None and current[0] is hub:
            del self._forwarders[hub.channel]
            self._finish(current[1])
            for key in [k for k in self._undecryptable if k[0] == hub.channel]:
                del self._undecryptable[key]

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        for _, forwarder in self._forwarders.values():
            self._finish(forwarder)
        self._forwarders.clear()
        if self._ending:
            await asyncio.gather(*list(self._ending), return_exceptions=True)

    def kill(self) -> None:
        for _, forwarder in self._forwarders.values():
            forwarder.kill()

    # -- RestreamLive -------------------------------------------------------------------------

    def status(self, channel: str) -> Mapping[int, RestreamStatusInfo]:
        current = self._forwarders.get(channel)
        found: dict[int, RestreamStatusInfo] = {}
        if current is not None:
            found = {i: _info(s) for i, s in current[1].statuses().items()}
        for (name, dest_id), reason in self._undecryptable.items():
            if name == channel:
                found[dest_id] = RestreamStatusInfo(DestinationState.FAILED.value, reason)
        return found

    async def changed(self, channel: str) -> None:
        if channel in self._forwarders:
            await self._refresh([channel])

    # -- following the stored destinations ----------------------------------------------------

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            if self._forwarders:
                try:
                    await self._refresh(list(self._forwarders))
                except Exception:
                    log.exception("reading the restream destinations failed")

    def _refresh_soon(self, channels: list[str]) -> None:
        task = asyncio.create_task(self._refresh(channels))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _refresh(self, channels: list[str]) -> None:
        store = self._store
        if store is None:
            return
        enabled = await store.enabled_for(channels)
        limit = self._settings().restream_max_destinations
        for channel in channels:
            current = self._forwarders.get(channel)
            if current is None:
                continue
            configs: list[DestinationConfig] = []
            for key in [k for k in self._undecryptable if k[0] == channel]:
                del self._undecryptable[key]
            for dest in enabled.get(channel, [])[:limit]:
                info = dest.info
                if dest.key is None:
                    # Encrypted under another secret: say so instead of streaming nothing.
                    self._undecryptable[(channel, info.id)] = (
                        "the stored key cannot be decrypted (the server's secret changed): "
                        "enter the key again"
                    )
                    continue
                configs.append(DestinationConfig(info.id, info.url, dest.key, info.name))
            current[1].update(configs)

    def _finish(self, forwarder: StreamForwarder) -> None:
        task = asyncio.create_task(forwarder.aclose())
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


def _info(status: DestinationStatus) -> RestreamStatusInfo:
    return RestreamStatusInfo(
        status.state.value, status.reason, status.retry_in, status.bitrate_bps
    )
