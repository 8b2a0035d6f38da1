"""The addresses the WebRTC stack (aiortc's ICE agent, aioice) offers as host candidates.

aioice gathers one host candidate per address of every interface but loopback, and has no
option to choose them: ``webrtc_host_addresses`` replaces its address lookup for the whole
process (WHEP and WHIP share it). Checked against aioice 0.13's module layout; with another
layout the setting is refused at start-up rather than silently ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import aioice.ice

__all__ = ["use_host_addresses"]

log = logging.getLogger("golive.webrtc")

_AIOICE_DEFAULT = aioice.ice.get_host_addresses


def use_host_addresses(addresses: Sequence[str]) -> None:
    """Offer exactly ``addresses`` (empty: aioice's own choice) from now on."""
    if not callable(getattr(aioice.ice, "get_host_addresses", None)):
        raise RuntimeError(
            "webrtc_host_addresses: this aioice has no get_host_addresses to replace"
        )
    if not addresses:
        aioice.ice.get_host_addresses = _AIOICE_DEFAULT
        return
    chosen = list(addresses)

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = configured
    log.info("WebRTC host candidates: %s", ", ".join(chosen))
