"""Bearer-token authentication and scope checks, as FastAPI dependencies."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from golive.db.api_tokens import Principal
from golive.http.api.errors import ApiError
from golive.http.api.services import ApiServices

# auto_error=False: a missing header is answered with our own JSON error, not FastAPI's.
bearer = HTTPBearer(auto_error=False, description="A personal API token: glt_…")


def services(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


Services = Annotated[ApiServices, Depends(services)]


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        if request.headers.get("authorization"):
            raise ApiError("invalid_token", "Authorization must be 'Bearer <token>'")
        raise ApiError("missing_token", "send 'Authorization: Bearer <token>'")
    svc = services(request)
    limit = svc.rate_limit
    address = request.client.host if request.client is not None else ""
    if limit is not None and (wait := await limit.auth_wait(address)) > 0:
        raise ApiError(
            "rate_limited",
            f"too many unknown tokens from this address: retry in {math.ceil(wait)} s",
            retry_after=wait,
        )
    found = await svc.tokens.authenticate(credentials.credentials)
    if found is None:
        if limit is not None:
            await limit.auth_failed(address)
        raise ApiError("invalid_token", "the token is unknown or revoked")
    if limit is not None and (wait := await limit.take(found.token_id)) > 0:
        raise ApiError(
            "rate_limited",
            f"this token is over api_requests_per_minute: retry in {math.ceil(wait)} s",
            retry_after=wait,
        )
    return found


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency returning the caller, who must hold ``scope`` (scopes nest)."""

    async def check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        if not caller.allows(scope):
            raise ApiError("insufficient_scope", f"this endpoint needs the {scope!r} scope")
        return caller

    check.required_scope = scope  # type: ignore[attr-defined]  # read by the OpenAPI builder
    return check


async def _admin(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    if not caller.is_admin:
        raise ApiError(
            "admin_required", "this endpoint needs an administrator's token with the admin scope"
        )
    return caller


_admin.required_scope = "admin (administrator)"  # type: ignore[attr-defined]

Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(_admin)]
