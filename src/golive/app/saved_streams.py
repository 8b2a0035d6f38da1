"""The live streams kept across a restart: saved to the data directory at shutdown, taken
back at the next start-up if it comes within the grace (resume/ does the reading and
writing)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path

from golive.app.recordings_lifecycle import RecordingsLifecycle
from golive.db.channels import ChannelStore
from golive.live.consumer import StreamConsumer
from golive.live.hub import StreamHub, StreamState
from golive.live.registry import StreamRegistry
from golive.packager.hls_stream import HlsStreamPackager
from golive.resume import saved_stream
from golive.webhooks.stream_events import StreamEventNotifier

log = logging.getLogger("golive")


class SavedStreams:
    def __init__(
        self,
        root: Path,
        registry: StreamRegistry,
        *,
        consumers_for: Callable[[StreamHub], Sequence[StreamConsumer]],
        channel_records: MutableMapping[str, bool],
    ) -> None:
        """``consumers_for`` makes a restored stream's consumers, as for a new one;
        ``channel_records`` is where it reads whether the channel is recorded."""
        self.root = root
        self._registry = registry
        self._consumers_for = consumers_for
        self._channel_records = channel_records

    async def save(self, hubs: list[StreamHub], *, resumable: bool) -> None:
        for hub in hubs:
            saved = saved_stream.capture(hub, resumable=resumable)
            if saved is None:
                continue
            try:
                path = await asyncio.to_thread(saved_stream.write, self.root, saved)
            except OSError as exc:
                log.error("could not save stream: %s", exc, extra=hub.log_extra)
                continue
            log.info(
                "stream saved to %s (%s)",
                path,
                "resumable" if resumable else "ended",
                extra=hub.log_extra,
            )

    async def restore(
        self,
        grace: float,
        *,
        channels: ChannelStore,
        recordings: RecordingsLifecycle | None,
        stream_events: StreamEventNotifier | None,
    ) -> list[str]:
        """Take back streams a previous run saved, if it stopped less than the grace ago;
        return their channels.

        A restored stream waits a full ``grace`` from now for its publisher, who could not
        reconnect while the server was down.
        """
        restored: list[str] = []
        now = time.time()
        for saved in await asyncio.to_thread(saved_stream.load_all, self.root):
            fresh = saved.resumable and grace > 0 and now - saved.saved_at < grace
            channel = await channels.get(saved.channel) if fresh else None
            if channel is not None:
                self._channel_records[saved.channel] = channel.record
                if recordings is not None:
                    await recordings.continue_saved(saved.channel, saved.stream_id)
                hub = StreamHub(saved.channel, saved.stream_id, saved.started_at)
                hub.timeline_end = saved.timeline_end
                hub.publishes = saved.publishes
                hub.state = StreamState.RECONNECTING
                for consumer in self._consumers_for(hub):
                    hub.add_consumer(consumer)
                for consumer in hub.consumers:
                    if isinstance(consumer, HlsStreamPackager):
                        saved_stream.restore_into(consumer, saved)
                        break
                self._channel_records.pop(saved.channel, None)
                self._registry.restore(hub, grace=grace)
                restored.append(saved.channel)
            elif saved.resumable and stream_events is not None:
                # Saved to be resumed, but the server came back too late: it ended after all.
                gone = StreamHub(saved.channel, saved.stream_id, saved.started_at)
                gone.publishes = saved.publishes
                stream_events.ended(gone)
            await asyncio.to_thread(saved_stream.discard, self.root, saved.channel)
        return restored
