"""Every metric of one golive server, in its own registry (several servers share a test process)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

from golive.live.hub import StreamHub
from golive.metrics.live_stream_collector import LiveStreamCollector
from golive.metrics.recording_collector import RecordingCollector
from golive.metrics.webrtc_collector import WebrtcCollector
from golive.record.retention_task import RetentionStats
from golive.record.segment_archive import ArchiveStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Parts are published while the frame that completes them is handled: the delay is mostly
# the packaging time, so the buckets start at 50 µs.
_PART_DELAY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)

# Upload lag of a recorded segment: a local disk takes milliseconds, object storage up to
# seconds, and an outage as long as the buffer holds.
_UPLOAD_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Chat: a message waits for its batch (up to 100 ms) and the batch's fan-out, so the buckets
# are fine up to a second.
_CHAT_DELIVERY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.125,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.0,
    5.0,
)


class ServerMetrics:
    """The registry /metrics renders, and the few metrics updated as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        self.http_requests = Counter(
            "golive_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.part_delay = Histogram(
            "golive_part_availability_delay_seconds",
            "From the arrival of a part's last frame to the part's publication",
            ["channel"],
            buckets=_PART_DELAY_BUCKETS,
            registry=self.registry,
        )
        # Chat comes in a later version; the series exist so dashboards can be built now.
        self.chat_messages = Counter(
            "golive_chat_messages", "Chat messages accepted", registry=self.registry
        )
        self.chat_dropped = Counter(
            "golive_chat_messages_dropped",
            "Chat messages dropped (rate limits, full queues)",
            registry=self.registry,
        )

        self.chat_delivery = Histogram(
            "golive_chat_delivery_seconds",
            "From a chat message's acceptance to the end of the fan-out of the batch carrying "
            "it (every member's connection has the frame)",
            ["channel"],
            buckets=_CHAT_DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.chat_fanout = Histogram(
            "golive_chat_fanout_seconds",
            "Time to hand one chat batch frame to every member of its room, first slice to last",
            ["channel"],
            buckets=_CHAT_DELIVERY_BUCKETS,
            registry=self.registry,
        )

        self.clips_created = Counter(
            "golive_clips_created", "Clips made (copied and playable)", registry=self.registry
        )
        self.recording_upload_lag = Histogram(
            "golive_recording_upload_lag_seconds",
            "From a segment's completion to its being stored and indexed in its recording",
            buckets=_UPLOAD_LAG_BUCKETS,
            registry=self.registry,
        )

    def watch_recordings(
        self,
        stats: Callable[[], ArchiveStats],
        retention: Callable[[], RetentionStats] | None = None,
    ) -> None:
        self.registry.register(RecordingCollector(stats, retention))

    def watch_streams(
        self,
        streams: Callable[[], Iterable[StreamHub]],
        *,
        rtmp_connections: Callable[[], int],
        reload_waiters: Callable[[], int],
        viewers: Callable[[str], int] = lambda channel: 0,
    ) -> None:
        self.registry.register(
            LiveStreamCollector(
                streams,
                rtmp_connections=rtmp_connections,
                reload_waiters=reload_waiters,
                viewers=viewers,
            )
        )

    def watch_webrtc(
        self, sessions: Callable[[], tuple[int, int]], connect_timeouts: Callable[[], int]
    ) -> None:
        self.registry.register(WebrtcCollector(sessions, connect_timeouts))

    def part_delay_observer(self, channel: str) -> Callable[[float], None]:
        """The callback a channel's packager reports part delays to."""
        return self.part_delay.labels(channel).observe

    def chat_batch_observer(self, channel: str) -> Callable[[list[float], float], None]:
        """The callback a channel's chat room reports each delivered batch to."""
        delivery = self.chat_delivery.labels(channel)
        fanout = self.chat_fanout.labels(channel)

        def observe(delays: list[float], seconds: float) -> None:
            for delay in delays:
                delivery.observe(delay)
            fanout.observe(seconds)

        return observe

    def render(self) -> bytes:
        return generate_latest(self.registry)
