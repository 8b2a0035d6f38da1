"""Sign up through the real web forms and return the session cookie."""

from __future__ import annotations

import re

import httpx


async def csrf_token(client: httpx.AsyncClient, path: str = "/signup") -> str:
    page = await client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match[1]


async def sign_up(
    client: httpx.AsyncClient, username: str, password: str = "correct horse", display: str = ""
) -> str:
    """Signs ``username`` up on ``client`` (which keeps the cookies); returns the session id."""
    token = await csrf_token(client)
    r = await client.post(
        "/signup",
        data={"username": username, "password": password, "display_name": display, "csrf": token},
    )
    assert r.status_code == 303, r.text
    session = client.cookies.get("golive_session")
    assert session
    return session
