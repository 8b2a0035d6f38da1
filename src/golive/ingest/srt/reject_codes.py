"""SRT reject codes the listener answers a caller with (libsrt's access_control.h).

Codes 1400-1599 are the "predefined" ones, HTTP status codes plus 1000; the caller sees the
code (e.g. ffmpeg and srt-live-transmit print it) and the server's log says why.
"""

from __future__ import annotations

REJX_BAD_REQUEST = 1400  # the stream id cannot be understood
REJX_UNAUTHORIZED = 1401  # wrong stream key
REJX_OVERLOAD = 1402  # too many connections, or too many failed attempts (HTTP 429)
REJX_FORBIDDEN = 1403  # refused by the operator's on_publish hook
REJX_BAD_MODE = 1405  # the stream id asks to read, not publish
REJX_UNACCEPTABLE = 1406  # media golive does not take
REJX_CONFLICT = 1409  # the channel is already live
REJX_ISE = 1500  # internal server error
REJX_DOWN = 1503  # shutting down, or the database / cluster state is unavailable
