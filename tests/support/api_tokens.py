"""Users and API tokens for tests, created straight in a running server's stores."""

from __future__ import annotations

from collections.abc import Sequence

from golive.app import GoliveServer


async def user_token(
    server: GoliveServer, username: str, scopes: Sequence[str], *, admin: bool = False
) -> str:
    """Create (or reuse) ``username`` and return a new token secret with ``scopes``."""
    assert server.users is not None and server.tokens is not None
    user = await server.users.by_name(username)
    if user is None:
        user = await server.users.add(username, is_admin=admin)
    _, secret = await server.tokens.create(user, scopes)
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
