"""ASGI layer that puts the real client's address into ``scope["client"]``.

Everything downstream (sign-in and sign-up limits, viewer sessions, logs) reads
``request.client``; deciding it once here (golive.http.client_address) keeps them all agreeing,
and uvicorn's own proxy-header handling is switched off so that nothing else rewrites it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from golive.http.client_address import TrustedProxies, client_address

__all__ = ["ForwardedClient"]


class ForwardedClient:
    def __init__(self, app: ASGIApp, trusted: Callable[[], TrustedProxies]) -> None:
        self.app = app
        self._trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and peer:
            address = client_address(str(peer[0]), scope.get("headers", []), self._trusted())
            if address != peer[0]:
                # The port is the proxy's, not the client's: 0 says it is unknown.
                scope["client"] = (address, 0)
        await self.app(scope, receive, send)
