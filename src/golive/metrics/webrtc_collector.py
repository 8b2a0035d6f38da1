"""WebRTC playback (WHEP) metrics read at scrape time: sessions by state, and those closed
for never connecting."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class WebrtcCollector(Collector):
    def __init__(
        self, sessions: Callable[[], tuple[int, int]], connect_timeouts: Callable[[], int]
    ) -> None:
        """``sessions``: (connecting, connected) now; ``connect_timeouts``: a running total."""
        self._sessions = sessions
        self._connect_timeouts = connect_timeouts

    def describe(self) -> Iterable[Metric]:
        return []  # families are built per scrape

    def collect(self) -> Iterator[Metric]:
        connecting, connected = self._sessions()
        sessions = GaugeMetricFamily(
            "golive_whep_sessions",
            "WebRTC (WHEP) playback sessions on this node, by state",
            labels=["state"],
        )
        sessions.add_metric(["connecting"], connecting)
        sessions.add_metric(["connected"], connected)
        timeouts = CounterMetricFamily(
            "golive_whep_connect_timeouts",
            "WHEP sessions closed for not connecting within whep_connect_timeout",
        )
        timeouts.add_metric([], self._connect_timeouts())
        yield sessions
        yield timeouts
