"""What a restream ffmpeg child prints, made safe and useful: redaction and progress.

ffmpeg names its output URL in its error messages (``rtmp://host/app/KEY: I/O error``), and
that URL holds the destination's stream key. Every line is redacted before it is kept or
logged: the key, the whole target URL, and anything after an RTMP URL's application name
are replaced by ``…``. Pure functions, no I/O.

``-progress pipe:1`` writes ``key=value`` lines, a block per second ending in
``progress=continue`` (``progress=end`` at the end); ``total_size`` counts the bytes
written to the output, so it growing means the destination takes the stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ProgressBlock", "ProgressParser", "failure_reason", "redact"]

# An RTMP URL up to its app name, then the rest (ffmpeg follows a URL with ": <error>").
_RTMP_URL = re.compile(
    r"(rtmps?://[^\s/'\"]+(?:/[^\s/'\"]+)?)/[^\s'\"]*?(?=:?(?:\s|$|['\"]))", re.IGNORECASE
)
_MASK = "…"
# ffmpeg's "[tcp @ 0x55d0c0] " before a component's message.
_COMPONENT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
# What ffmpeg says after the cause, in general terms.
_SUMMARY = re.compile(
    r"^(Error opening output|Cannot open connection|Error writing trailer|Conversion failed|"
    r"Error closing|Terminating thread)",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets``, nor what follows an RTMP URL's app name."""
    text = _RTMP_URL.sub(lambda m: f"{m.group(1)}/{_MASK}", text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text


@dataclass(frozen=True, slots=True)
class ProgressBlock:
    total_size: int  # bytes written to the output so far
    ended: bool


class ProgressParser:
    """Fed ``-progress`` output; returns each completed block."""

    def __init__(self) -> None:
        self._pending = b""
        self._total = 0

    def feed(self, data: bytes) -> list[ProgressBlock]:
        *lines, self._pending = (self._pending + data).split(b"\n")
        self._pending = self._pending[-1024:]
        blocks: list[ProgressBlock] = []
        for raw in lines:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "total_size":
                if value.isdigit():  # "N/A" before anything is written
                    self._total = max(self._total, int(value))
            elif key == "progress":
                blocks.append(ProgressBlock(self._total, value == "end"))
        return blocks


def failure_reason(lines: Sequence[str]) -> str:
    """Why ffmpeg stopped, from the last (already redacted) lines it printed: the last line
    that names a cause rather than the summary ffmpeg prints after it."""
    messages = [_COMPONENT.sub("", line).strip() for line in lines]
    messages = [m for m in messages if m]
    causes = [m for m in messages if not _SUMMARY.match(m)]
    return (causes or messages or [""])[-1]
