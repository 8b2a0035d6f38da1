"""Deciding the client's address from the peer, the forwarding headers and trusted proxies."""

from __future__ import annotations

import pytest

from golive.http.client_address import TrustedProxies, client_address

PROXY = TrustedProxies(["10.0.0.0/8", "::1"])


def h(**headers: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]


def test_untrusted_peer_headers_are_ignored() -> None:
    assert client_address("192.0.2.5", h(x_forwarded_for="203.0.113.1"), PROXY) == "192.0.2.5"
    assert client_address("192.0.2.5", h(forwarded="for=203.0.113.1"), PROXY) == "192.0.2.5"


def test_no_trusted_proxies_means_the_peer() -> None:
    headers = h(x_forwarded_for="203.0.113.1")
    assert client_address("10.0.0.1", headers, TrustedProxies()) == "10.0.0.1"


def test_trusted_peer_names_the_rightmost_untrusted_hop() -> None:
    headers = h(x_forwarded_for="198.51.100.9, 203.0.113.1, 10.1.1.1")
    assert client_address("10.0.0.1", headers, PROXY) == "203.0.113.1"


def test_forwarded_wins_and_accepts_ports_and_ipv6() -> None:
    headers = h(forwarded='for="[2001:db8::7]:4711";proto=https', x_forwarded_for="203.0.113.1")
    assert client_address("::1", headers, PROXY) == "2001:db8::7"
    assert client_address("10.0.0.1", h(forwarded="for=203.0.113.4:80"), PROXY) == "203.0.113.4"


def test_garbage_hop_falls_back_to_the_peer() -> None:
    assert client_address("10.0.0.1", h(x_forwarded_for="unknown"), PROXY) == "10.0.0.1"


def test_bad_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies(["proxy.example"])
