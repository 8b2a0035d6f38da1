"""Per-channel metrics read from the live streams at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from golive.live.hub import StreamHub
from golive.packager.hls_stream import HlsStreamPackager


class LiveStreamCollector(Collector):
    """Turns every live StreamHub's health and packager counters into metric families.

    Counters restart from zero when a new stream starts on a channel, which Prometheus'
    ``rate()`` and ``increase()`` treat as an ordinary counter reset.
    """

    def __init__(
        self,
        streams: Callable[[], Iterable[StreamHub]],
        *,
        rtmp_connections: Callable[[], int] = lambda: 0,
        reload_waiters: Callable[[], int] = lambda: 0,
        viewers: Callable[[str], int] = lambda channel: 0,
    ) -> None:
        self._streams = streams
        self._viewers = viewers
        self._rtmp_connections = rtmp_connections
        self._reload_waiters = reload_waiters

    def describe(self) -> Iterable[Metric]:
        return []  # families are built per scrape

    def collect(self) -> Iterator[Metric]:
        ch = ["channel"]
        live = GaugeMetricFamily(
            "golive_stream_live",
            "1 while the channel has a stream (live or reconnecting)",
            labels=[*ch, "state"],
        )
        bitrate = GaugeMetricFamily(
            "golive_ingest_bitrate_bps", "Ingest bitrate over the last 5 s, bits/s", labels=ch
        )
        fps = GaugeMetricFamily("golive_ingest_fps", "Ingest video frames per second", labels=ch)
        gop = GaugeMetricFamily(
            "golive_ingest_keyframe_interval_seconds",
            "Seconds between the last two keyframes",
            labels=ch,
        )
        ingest_bytes = CounterMetricFamily(
            "golive_ingest_bytes", "Media payload bytes received", labels=ch
        )
        frames = CounterMetricFamily("golive_ingest_frames", "Frames received", labels=ch)
        publishes = CounterMetricFamily(
            "golive_stream_publishes",
            "Publisher connections of the stream (reconnects + 1)",
            labels=ch,
        )
        viewers = GaugeMetricFamily(
            "golive_viewers", "Current viewers (players seen in the last 30 s)", labels=ch
        )
        rl = [*ch, "rendition"]
        parts = CounterMetricFamily("golive_parts_published", "LL-HLS parts published", labels=rl)
        segments = CounterMetricFamily(
            "golive_segments_completed", "Media segments completed", labels=rl
        )
        speed = GaugeMetricFamily(
            "golive_transcode_speed", "Transcoder output media seconds per wall second", labels=ch
        )
        restarts = CounterMetricFamily(
            "golive_transcode_restarts", "Transcoder processes restarted after dying", labels=ch
        )
        capped = GaugeMetricFamily(
            "golive_transcode_capped",
            "1 when the stream is served passthrough because max_transcoders was reached",
            labels=ch,
        )
        for hub in list(self._streams()):
            c = [hub.channel]
            health = hub.health.snapshot()
            live.add_metric([hub.channel, str(hub.state)], 1)
            bitrate.add_metric(c, health.bitrate_bps)
            fps.add_metric(c, health.fps)
            if health.keyframe_interval is not None:
                gop.add_metric(c, health.keyframe_interval)
            ingest_bytes.add_metric(c, health.bytes)
            frames.add_metric(c, health.frames)
            publishes.add_metric(c, hub.publishes)
            viewers.add_metric(c, self._viewers(hub.channel))
            transcode = getattr(hub.health, "transcode", None)
            if transcode is not None:
                if getattr(transcode, "speed", None) is not None:
                    speed.add_metric(c, transcode.speed)
                restarts.add_metric(c, getattr(transcode, "restarts", 0))
                capped.add_metric(c, 1 if getattr(transcode, "capped", None) else 0)
            for consumer in hub.consumers:
                if isinstance(consumer, HlsStreamPackager):
                    for name, rendition in consumer.renditions.items():
                        parts.add_metric([hub.channel, name], rendition.parts_published)
                        segments.add_metric([hub.channel, name], rendition.segments_completed)
        yield from (live, bitrate, fps, gop, ingest_bytes, frames, publishes, viewers)
        yield from (parts, segments, speed, restarts, capped)
        yield GaugeMetricFamily(
            "golive_rtmp_connections",
            "Open RTMP and RTMPS connections",
            value=self._rtmp_connections(),
        )
        yield GaugeMetricFamily(
            "golive_blocking_reload_waiters",
            "HTTP requests waiting for a playlist or part that does not exist yet",
            value=self._reload_waiters(),
        )
