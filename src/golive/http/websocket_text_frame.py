"""RFC 6455 server-to-client text frames, encoded once for a whole room (sans-I/O)."""

from __future__ import annotations

import struct

__all__ = ["encode_text_frame"]


def encode_text_frame(text: str) -> bytes:
    """One unfragmented, unmasked text frame (servers never mask, RFC 6455 section 5.1)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = struct.pack(">BBH", 0x81, 126, n)
    else:
        header = struct.pack(">BBQ", 0x81, 127, n)
    return header + payload
