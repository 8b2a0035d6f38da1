"""One text payload handed to every member of a fan-out, encoded at most once per transport.

The room produces text; how it travels is the transport's business. A transport that writes
its own encoding (http/websocket_wire.py frames it for the socket) asks ``encoded`` with its
encoder, so a batch for 10,000 members is encoded once, by the first member written to.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["SharedText"]


class SharedText:
    __slots__ = ("_encoded", "_encoder", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._encoder: Callable[[str], bytes] | None = None
        self._encoded = b""

    def encoded(self, encode: Callable[[str], bytes]) -> bytes:
        """``encode(text)``, computed once for the last encoder asked."""
        if self._encoder is not encode:
            self._encoded = encode(self.text)
            self._encoder = encode
        return self._encoded
