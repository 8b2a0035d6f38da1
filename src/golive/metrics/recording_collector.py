"""The recording archive's and the retention task's counters, read when scraped."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from golive.record.retention_task import RetentionStats
from golive.record.segment_archive import ArchiveStats


class RecordingCollector(Collector):
    def __init__(
        self,
        stats: Callable[[], ArchiveStats],
        retention: Callable[[], RetentionStats] | None = None,
    ) -> None:
        self._stats = stats
        self._retention = retention

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        yield CounterMetricFamily(
            "golive_recording_bytes_written",
            "Segment bytes stored by the recordings",
            value=s.bytes_written,
        )
        yield CounterMetricFamily(
            "golive_recording_segments_written",
            "Segments stored and indexed by the recordings",
            value=s.segments_written,
        )
        yield CounterMetricFamily(
            "golive_recording_segments_dropped",
            "Segments not recorded: the buffer was full while storage was down or slow, or a "
            "finished recording could wait no longer",
            value=s.segments_dropped,
        )
        yield CounterMetricFamily(
            "golive_recording_storage_errors",
            "Failed storage or index writes of the recordings (each retried)",
            value=s.storage_errors,
        )
        yield GaugeMetricFamily(
            "golive_recording_buffered_bytes",
            "Segment bytes waiting to be stored",
            value=s.queued_bytes,
        )
        yield GaugeMetricFamily(
            "golive_recordings_in_progress",
            "Recordings being written",
            value=s.recordings_in_progress,
        )
        if self._retention is not None:
            r = self._retention()
            yield CounterMetricFamily(
                "golive_recordings_expired",
                "Recordings deleted by retention (age or total size)",
                value=r.recordings_deleted,
            )
            yield CounterMetricFamily(
                "golive_recording_expired_bytes",
                "Bytes of the recordings deleted by retention",
                value=r.bytes_deleted,
            )
            yield CounterMetricFamily(
                "golive_recording_retention_errors",
                "Retention deletions that failed (storage down; retried at the next pass)",
                value=r.errors,
            )
