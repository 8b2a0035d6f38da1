"""CSRF rules: tokens compare in constant time and never match empty; Origin and
Sec-Fetch-Site decide whether a browser request may change state."""

from __future__ import annotations

import pytest

from golive.accounts.csrf import (
    csrf_token_matches,
    is_same_origin,
    is_well_formed_token,
    new_csrf_token,
    origin_of,
)


def test_tokens_are_random_and_well_formed() -> None:
    tokens = {new_csrf_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(is_well_formed_token(t) and len(t) == 43 for t in tokens)


def test_token_matching() -> None:
    token = new_csrf_token()
    assert csrf_token_matches(token, token)
    assert not csrf_token_matches(token, new_csrf_token())
    assert not csrf_token_matches(token, None)
    assert not csrf_token_matches(token, "")
    assert not csrf_token_matches(None, token)
    assert not csrf_token_matches("", "")
    assert not csrf_token_matches(token, token + "\n")
    assert not csrf_token_matches(token, "é" * 43)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Example.COM", "http://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("https://example.com:443/path?q", "https://example.com"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("null", None),
        ("", None),
        ("http://", None),
        ("http://example.com:99999", None),
    ],
)
def test_origin_of(url: str, expected: str | None) -> None:
    assert origin_of(url) == expected


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"host": "live.example:8080"}, True),  # no Origin: not a browser (token still checked)
        ({"host": "live.example:8080", "origin": "http://live.example:8080"}, True),
        ({"host": "live.example", "origin": "https://live.example"}, True),  # TLS proxy
        ({"host": "live.example:80", "origin": "http://live.example"}, True),
        ({"host": "live.example:8080", "origin": "http://evil.example"}, False),
        ({"host": "live.example:8080", "origin": "http://live.example:8081"}, False),
        ({"host": "live.example:8080", "origin": "http://live.example.evil:8080"}, False),
        ({"host": "live.example:8080", "origin": "null"}, False),
        ({"host": "live.example:8080", "origin": "garbage"}, False),
        ({"host": "live.example:8080", "sec-fetch-site": "cross-site"}, False),
        ({"host": "live.example:8080", "sec-fetch-site": "same-site"}, False),
        (
            {
                "host": "live.example:8080",
                "origin": "http://live.example:8080",
                "sec-fetch-site": "same-origin",
            },
            True,
        ),
    ],
)
def test_same_origin(headers: dict[str, str], allowed: bool) -> None:
    assert is_same_origin(headers) is allowed


def test_trusted_public_origin() -> None:
    # Behind a proxy that rewrites Host, the public URL is still accepted.
    headers = {"host": "127.0.0.1:8080", "origin": "https://live.example.com"}
    assert not is_same_origin(headers)
    assert is_same_origin(headers, trusted_origins=["https://live.example.com/"])
    assert not is_same_origin(headers, trusted_origins=["https://other.example.com"])
