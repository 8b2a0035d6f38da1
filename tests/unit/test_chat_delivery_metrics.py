"""The chat delivery histograms that /metrics renders (bench/chat.py reads them)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from golive.metrics.server_metrics import ServerMetrics


def test_a_batch_observes_each_message_and_one_fan_out() -> None:
    metrics = ServerMetrics()
    observe = metrics.chat_batch_observer("demo")
    observe([0.04, 0.12, 0.6], 0.02)
    samples = {
        (s.name, s.labels.get("le")): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.labels.get("channel") == "demo"
    }
    assert samples[("golive_chat_delivery_seconds_count", None)] == 3
    assert samples[("golive_chat_delivery_seconds_bucket", "0.05")] == 1
    assert samples[("golive_chat_delivery_seconds_bucket", "0.5")] == 2
    assert samples[("golive_chat_fanout_seconds_count", None)] == 1
    assert samples[("golive_chat_fanout_seconds_bucket", "0.02")] == 1
    assert samples[("golive_chat_fanout_seconds_bucket", "0.01")] == 0
