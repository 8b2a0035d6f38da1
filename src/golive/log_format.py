"""Log lines that name the channel and stream they concern."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

_CONTEXT_FIELDS = ("channel", "stream_id", "peer")


class ContextFormatter(logging.Formatter):
    """Appends ``[channel=… stream_id=…]`` when a record carries that context in ``extra``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in _CONTEXT_FIELDS if hasattr(record, name)
        )
        return f"{text} [{context}]" if context else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the stream context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            if hasattr(record, name):
                entry[name] = str(getattr(record, name))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level``, as text or JSON lines (``fmt``); safe to call again."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO: in a cluster each media request sent on to another
    # node would be a line. Its warnings still show.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
