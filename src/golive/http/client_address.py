"""Which address a request came from, given the peer and the proxies trusted to say.

Behind a reverse proxy every request's peer is the proxy, so limits keyed on the peer would
put all clients in one bucket; but a header naming the client can be sent by anyone. The
forwarding headers (``Forwarded``, else ``X-Forwarded-For``) are therefore read only when the
peer is one of ``trusted_proxies``, and then from the right: the nearest address not itself a
trusted proxy is the client (entries further left were written by the client and prove
nothing). Sans-I/O: a pure function of the peer and the headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["TrustedProxies", "client_address", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks or single addresses; ValueError names the first that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR block") from None
    return tuple(networks)


class TrustedProxies:
    """The proxies whose forwarding headers are believed."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks = parse_networks(entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)


def client_address(
    peer: str, headers: Sequence[tuple[bytes, bytes]], trusted: TrustedProxies
) -> str:
    """The client's address: ``peer`` itself unless ``peer`` is a trusted proxy that named
    the client in ``Forwarded`` or ``X-Forwarded-For`` (``headers`` as in an ASGI scope)."""
    if not trusted or not trusted.trusts(peer):
        return peer
    forwarded: list[str] = []
    x_forwarded: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            forwarded += _forwarded_for(value.decode("latin-1"))
        elif name == b"x-forwarded-for":
            x_forwarded += [part.strip() for part in value.decode("latin-1").split(",")]
    chain = forwarded or x_forwarded
    for hop in reversed(chain):
        address = _address_of(hop)
        if address is None:
            return peer  # a garbled hop: nothing left of it can be believed
        if not trusted.trusts(address):
            return address
    return peer if not chain else (_address_of(chain[0]) or peer)


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` parameters of a ``Forwarded`` header (RFC 7239), in order."""
    found = []
    for element in value.split(","):
        for pair in element.split(";"):
            key, _, item = pair.strip().partition("=")
            if key.strip().lower() == "for":
                found.append(item.strip().strip('"'))
    return found


def _address_of(hop: str) -> str | None:
    """An IP address from a hop: ``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]``, ``[::1]:5678``."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    ip = _ip(hop)
    return None if ip is None else str(ip)


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
