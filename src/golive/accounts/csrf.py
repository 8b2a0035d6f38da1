"""Cross-site request forgery defences for the browser's state-changing requests.

Two independent checks, both required:

- **Origin**: a browser names the page a request came from in ``Origin`` (and, in current
  browsers, ``Sec-Fetch-Site``); a request from another site is refused outright.
- **Token**: the form field ``csrf`` or the header ``X-CSRF-Token`` must repeat a secret the
  page was rendered with: the session's own token once signed in (session-bound), before that
  the random ``golive_csrf`` cookie (double submit, which is what protects sign-in itself).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "csrf_token_matches",
    "is_same_origin",
    "is_well_formed_token",
    "new_csrf_token",
    "origin_of",
]

CSRF_COOKIE = "golive_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def new_csrf_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def is_well_formed_token(token: str | None) -> bool:
    return token is not None and 32 <= len(token) <= 128 and set(token) <= _TOKEN_CHARS


def csrf_token_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    if not expected or not given or not is_well_formed_token(given):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lowercased and without a default port."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def _authority(host_header: str, scheme: str) -> str:
    """The Host header, lowercased and without the scheme's default port."""
    host = host_header.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and host.endswith(f":{default}") and not host.endswith("]"):
        host = host[: -len(default) - 1]
    return host


def is_same_origin(headers: Mapping[str, str], *, trusted_origins: Collection[str] = ()) -> bool:
    """Whether a request may change state, judged by the headers browsers set for it.

    Allowed: no ``Origin`` at all (not a browser, or a browser that omits it on same-origin
    requests; the token check still applies), or an ``Origin`` whose host and port are the
    request's ``Host`` (the scheme may differ behind a TLS-terminating proxy), or one of
    ``trusted_origins`` (the public URL). ``Origin: null`` (sandboxed frames, redirects from
    elsewhere) and ``Sec-Fetch-Site: cross-site`` / ``same-site`` are refused.
    """
    if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    normalised = origin_of(origin)
    if normalised is None:
        return False  # "null" and anything unparsable
    scheme, _, authority = normalised.partition("://")
    if authority == _authority(headers.get("host", ""), scheme):
        return True
    return normalised in {origin_of(t) for t in trusted_origins}
