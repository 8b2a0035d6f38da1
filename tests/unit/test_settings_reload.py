"""SIGHUP's reload applied to a running server, and JSON log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from golive.log_format import JsonFormatter
from tests.support.server import running_server


async def test_reload_applies_live_settings_and_defers_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_server(tmp_path / "data") as server:
        new = server.settings.model_copy(
            update={
                "reconnect_grace": 3.0,
                "rtmp_idle_timeout": 7.0,
                "webhook_url": "http://127.0.0.1:9/hook",
                "webhook_secret": "0123456789abcdef",
                "on_publish_url": "http://127.0.0.1:9/publish",
                "on_publish_default": "deny",
                "http_port": 1234,  # needs a restart
            }
        )
        caplog.set_level(logging.INFO)
        changed = await server.reload(new)
        assert set(changed) == {
            "reconnect_grace",
            "rtmp_idle_timeout",
            "webhook_url",
            "webhook_secret",
            "on_publish_url",
            "on_publish_default",
            "http_port",
        }
        assert server.settings.reconnect_grace == 3.0
        assert server.settings.http_port == 0  # unchanged until a restart
        assert server.registry._grace == 3.0
        assert server.rtmp is not None and server.rtmp.limits.idle_timeout == 7.0
        assert server.webhooks is not None
        assert server.webhooks.target.url == "http://127.0.0.1:9/hook"
        assert server.publish_approval is not None
        assert server.publish_approval.approver.target.default_allow is False
        assert any("http_port changed" in r.getMessage() for r in caplog.records)


def test_json_log_lines() -> None:
    record = logging.LogRecord(
        "golive.live", logging.INFO, __file__, 1, "stream %s", ("started",), None
    )
    record.channel = "demo"
    record.stream_id = "ab12cd34"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "stream started"
    assert entry["level"] == "info" and entry["logger"] == "golive.live"
    assert (entry["channel"], entry["stream_id"]) == ("demo", "ab12cd34")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]
