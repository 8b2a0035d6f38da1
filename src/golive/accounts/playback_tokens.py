"""Signed, expiring playback tokens: the right to watch one channel's live media, one VOD or
one clip until a time, checked by the origin without any database lookup.

A token is ``<payload>.<mac>``, both unpadded base64url:

- payload: ``<kind>:<resource>:<expires>`` in ASCII, where kind is ``l`` (live channel),
  ``v`` (VOD) or ``c`` (clip), resource the channel name or the VOD/clip id (letters,
  digits, ``_`` and ``-`` only), expires whole seconds since the epoch;
- mac: HMAC-SHA256 under the server's secret of a version label and the payload.

Only URL-safe characters, so a token is one path segment: ``/p/<token>/live/<ch>/...``. The
payload is readable by anyone holding the token (nothing in it is secret); only the secret
makes one. Verification checks the MAC first, in constant time, then the expiry; the caller
then checks that the token names what the URL asks for.

Rotation: ``PlaybackTokens`` signs with its first secret and accepts any of them, so a new
secret can be put first while the old one still verifies tokens already handed out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "MAX_TOKEN_LENGTH",
    "PlaybackClaim",
    "PlaybackKind",
    "PlaybackTokens",
    "TokenRefused",
]

_LABEL = b"golive-playback-v1\x00"
_RESOURCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{43}")
MAX_TOKEN_LENGTH = 250


class PlaybackKind(Enum):
    """What a token opens; the value is its letter in the payload."""

    LIVE = "l"
    VOD = "v"
    CLIP = "c"


_BY_LETTER = {kind.value: kind for kind in PlaybackKind}


@dataclass(frozen=True, slots=True)
class PlaybackClaim:
    """What a valid token says: ``kind`` ``resource`` may be watched until ``expires``."""

    kind: PlaybackKind
    resource: str
    expires: int  # seconds since the epoch

    def covers(self, kind: PlaybackKind, resource: str) -> bool:
        return self.kind is kind and hmac.compare_digest(self.resource, resource)


class TokenRefused(Exception):
    """A token that does not open anything: ``str()`` says why, for the 403 and the log."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # One spelling per token: the last character's unused bits must be zero, as _b64 writes
    # them (base64 decoders ignore them, so several tokens would otherwise verify alike).
    if _b64(data) != text:
        raise ValueError("not the canonical base64 of its bytes")
    return data


class PlaybackTokens:
    """Makes and checks tokens with ``secrets`` (the first one signs; all verify)."""

    def __init__(self, *secrets: bytes) -> None:
        if not secrets or any(len(s) < 16 for s in secrets):
            raise ValueError("a playback token secret must be at least 16 bytes")
        # Keyed once, over the version label: a check copies the state and adds the payload.
        self._keyed = [hmac.new(secret, _LABEL, hashlib.sha256) for secret in secrets]

    def _mac(self, index: int, payload: bytes) -> bytes:
        mac = self._keyed[index].copy()
        mac.update(payload)
        return mac.digest()

    def issue(self, kind: PlaybackKind, resource: str, expires: int) -> str:
        """A token for ``resource`` valid until ``expires`` (epoch seconds)."""
        if _RESOURCE.fullmatch(resource) is None:
            raise ValueError(f"not a resource a token can name: {resource!r}")
        payload = f"{kind.value}:{resource}:{int(expires)}".encode("ascii")
        return f"{_b64(payload)}.{_b64(self._mac(0, payload))}"

    def verify(self, token: str, now: float) -> PlaybackClaim:
        """The claim of a genuine, unexpired token; TokenRefused otherwise."""
        if len(token) > MAX_TOKEN_LENGTH or _TOKEN.fullmatch(token) is None:
            raise TokenRefused("malformed playback token")
        encoded, _, signature = token.partition(".")
        try:
            payload = _unb64(encoded)
            mac = _unb64(signature)
        except (binascii.Error, ValueError):
            raise TokenRefused("malformed playback token") from None
        # Every secret is tried (no early exit), so timing says nothing about which matched.
        genuine = False
        for index in range(len(self._keyed)):
            genuine |= hmac.compare_digest(self._mac(index, payload), mac)
        if not genuine:
            raise TokenRefused("playback token signature is not valid")
        try:
            letter, resource, expires_text = payload.decode("ascii").split(":")
            kind = _BY_LETTER[letter]
            expires = int(expires_text)
        except (UnicodeDecodeError, ValueError, KeyError):
            raise TokenRefused("malformed playback token") from None
        if _RESOURCE.fullmatch(resource) is None:
            raise TokenRefused("malformed playback token")
        if expires <= now:
            raise TokenRefused("playback token has expired")
        return PlaybackClaim(kind, resource, expires)
