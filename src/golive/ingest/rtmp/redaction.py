"""How RTMP log lines show the parts of a publish URL that may hold a stream key.

The stream key is a secret, and publishers put it in more places than the publish name: OBS
users paste ``rtmp://host/live/KEY`` as the "Server" (the key lands in ``app`` and
``tcUrl``), or ``rtmp://host/KEY``, and some tools add ``?key=...`` query strings. Log lines
show an app name only when it is one the server serves, and of anything else the first four
characters: enough to tell two attempts apart without revealing a key.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["mask_app", "mask_key"]

_HINT = 4  # characters of a key shown, as in the channel pages' key hint


def mask_key(key: str) -> str:
    """``KEY0123…`` -> ``KEY0…``; ``live_abcdef…`` -> ``live_abcd…`` (a short prefix that
    ends in ``_`` is a key format's marker, not part of the secret)."""
    prefix = key.find("_") + 1
    if not 1 < prefix <= 8 or len(key) < prefix + 2 * _HINT:
        prefix = 0
    return f"{key[: prefix + _HINT]}…"


def mask_app(app: str, served: Collection[str] | None = None) -> str:
    """``live`` stays; ``live/KEY0123?x=y`` -> ``live/KEY0…``; ``KEY0123`` -> ``KEY0…``.

    The first path segment is shown whole only if it is in ``served`` (when given).
    """
    path = app.split("?", 1)[0].strip("/")
    first, sep, rest = path.partition("/")
    masked = first if served is None or first in served else mask_key(first)
    if rest:
        masked += f"/{mask_key(rest)}"
    elif sep or path != app.strip("/"):
        masked += "/…"  # a query string or an empty segment: nothing of it is shown
    return masked
