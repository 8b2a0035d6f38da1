"""The door of ``/p/<token>/...``: signed playback tokens in the URL path.

``/p/<token>/live/<ch>/...``, ``/p/<token>/vod/<id>/...`` and ``/p/<token>/clip/<id>/...``
are the same media as without the prefix, for whoever holds a token naming that channel,
VOD or clip (``golive.accounts.playback_tokens``). The token is a path segment, so the
relative URIs inside playlists and MPDs carry it with no rewriting, and an edge cache keys
on it like on any URL. Checking one costs one HMAC and no database lookup.

A refused token is a 403 with a one-line reason and a warning in the log; the warnings are
rate-limited (one per ``log_interval``, with how many were left out), since anyone can send
bad tokens at any rate.

**Caching.** An answer through a token may be kept by shared caches, but never past the
token's expiry: its ``Cache-Control`` max-age is the smaller of the plain answer's and the
seconds the token has left (``cache_control``).

**Path tricks.** The token must name the very channel/VOD/clip the rest of the path names;
a path whose raw form has a percent sign, or a dot segment, is refused before that
(``split``), so nothing decodes or normalises into another resource.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from golive.accounts.playback_tokens import (
    PlaybackClaim,
    PlaybackKind,
    PlaybackTokens,
    TokenRefused,
)

__all__ = ["PREFIX", "PlaybackGate", "TokenPath"]

log = logging.getLogger("golive.http")

PREFIX = "/p/"
_TOKEN_PATH = re.compile(
    r"/p/(?P<token>[A-Za-z0-9_.-]{1,250})"
    r"(?P<rest>/(?P<area>live|vod|clip)/(?P<resource>[A-Za-z0-9_-]{1,64})/[^%]*)"
)
_KINDS = {"live": PlaybackKind.LIVE, "vod": PlaybackKind.VOD, "clip": PlaybackKind.CLIP}
_MAX_AGE = re.compile(r"max-age=(\d+)")
REFUSED_CACHE = "no-store"


class TokenPath:
    """A ``/p/`` path taken apart: the token, the plain path after it and what it names."""

    __slots__ = ("kind", "resource", "rest", "token")

    def __init__(self, token: str, rest: str, kind: PlaybackKind, resource: str) -> None:
        self.token = token
        self.rest = rest
        self.kind = kind
        self.resource = resource


def split(path: str) -> TokenPath | None:
    """``path`` (its raw form, as sent) taken apart, or None when it is not a well-formed
    token path (then it is a 404: nothing else lives under ``/p/``)."""
    match = _TOKEN_PATH.fullmatch(path)
    if match is None:
        return None
    rest = match["rest"]
    if "/./" in rest or "/../" in rest or rest.endswith(("/.", "/..")) or "//" in rest:
        return None
    return TokenPath(match["token"], rest, _KINDS[match["area"]], match["resource"])


class PlaybackGate:
    """Checks tokens against what a path names; makes the capped Cache-Control."""

    def __init__(
        self,
        tokens: PlaybackTokens,
        *,
        clock: Callable[[], float] = time.time,
        log_interval: float = 10.0,
    ) -> None:
        self.tokens = tokens
        self._clock = clock
        self._log_interval = log_interval
        self._next_log = 0.0
        self._unlogged = 0
        self.refused = 0  # tokens refused since start (a metric)

    def now(self) -> float:
        return self._clock()

    def check(self, found: TokenPath, client: str = "") -> PlaybackClaim | str:
        """The claim if the token opens what the path names, else the reason it does not."""
        try:
            claim = self.tokens.verify(found.token, self._clock())
        except TokenRefused as exc:
            return self._refuse(str(exc), found, client)
        if not claim.covers(found.kind, found.resource):
            return self._refuse("playback token is for another resource", found, client)
        return claim

    def _refuse(self, reason: str, found: TokenPath, client: str) -> str:
        self.refused += 1
        now = time.monotonic()
        if now >= self._next_log:
            more = f" ({self._unlogged} more refused since the last line)" if self._unlogged else ""
            log.warning(
                "playback token refused for %s %s from %s: %s%s",
                found.kind.name.lower(),
                found.resource,
                client or "?",
                reason,
                more,
            )
            self._next_log = now + self._log_interval
            self._unlogged = 0
        else:
            self._unlogged += 1
        return reason

    def cache_control(self, plain: str, claim: PlaybackClaim) -> str:
        """``plain`` (the answer's own Cache-Control) with a max-age the token outlives."""
        left = max(0, int(claim.expires - self._clock()))
        if plain.startswith(("no-", "private")):
            return plain
        match = _MAX_AGE.search(plain)
        age = left if match is None else min(left, int(match[1]))
        return f"public, max-age={age}"
