"""Log lines that name the channel and stream they concern."""

from __future__ import annotations

import logging

_CONTEXT_FIELDS = ("channel", "stream_id", "peer")


class ContextFormatter(logging.Formatter):
    """Appends ``[channel=… stream_id=…]`` when a record carries that context in ``extra``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in _CONTEXT_FIELDS if hasattr(record, name)
        )
        return f"{text} [{context}]" if context else text


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
