"""/tokens: the caller's personal API tokens (administrators see everyone's)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Path

from golive.db.api_tokens import InvalidScopes, Principal
from golive.db.models import ApiToken
from golive.http.api.auth import Reader, Services, Writer
from golive.http.api.errors import ApiError, responses
from golive.http.api.schemas import Scope, TokenCreate, TokenCreated, TokenOut
from golive.http.api.services import ApiServices

router = APIRouter(prefix="/tokens", tags=["tokens"])

TokenId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Token id.")]


async def token_out(svc: ApiServices, token: ApiToken, usernames: dict[int, str]) -> TokenOut:
    if token.user_id not in usernames:
        user = await svc.users.get(token.user_id)
        usernames[token.user_id] = user.username if user is not None else ""
    return TokenOut(
        id=token.id,
        user=usernames[token.user_id],
        name=token.name,
        token_hint=token.token_hint,
        scopes=[cast(Scope, s) for s in token.scopes.split()],
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


async def _visible_token(svc: ApiServices, caller: Principal, token_id: int) -> ApiToken:
    token = await svc.tokens.get(token_id)
    if token is None or not (caller.is_admin or token.user_id == caller.user.id):
        raise ApiError("token_not_found", f"no token with id {token_id}")
    return token


@router.get("", response_model=list[TokenOut], responses=responses())
async def list_tokens(svc: Services, caller: Reader) -> list[TokenOut]:
    """The caller's tokens, revoked ones included (administrators: everyone's)."""
    tokens = await svc.tokens.list(None if caller.is_admin else caller.user.id)
    names = {caller.user.id: caller.user.username}
    return [await token_out(svc, t, names) for t in tokens]


@router.post("", status_code=201, response_model=TokenCreated, responses=responses(400))
async def create_token(svc: Services, caller: Writer, body: TokenCreate) -> TokenCreated:
    """A new token for the caller, with at most the scopes of the token in use."""
    for scope in body.scopes:
        if not caller.allows(scope):
            raise ApiError(
                "insufficient_scope", f"a token cannot grant {scope!r}: the caller lacks it"
            )
    try:
        token, secret = await svc.tokens.create(caller.user, body.scopes, name=body.name)
    except InvalidScopes as exc:
        raise ApiError("invalid_scopes", str(exc)) from None
    out = await token_out(svc, token, {caller.user.id: caller.user.username})
    return TokenCreated(token=out, secret=secret)


@router.get("/{token_id}", response_model=TokenOut, responses=responses(404))
async def get_token(svc: Services, caller: Reader, token_id: TokenId) -> TokenOut:
    """One of the caller's tokens (administrators: anyone's)."""
    token = await _visible_token(svc, caller, token_id)
    return await token_out(svc, token, {caller.user.id: caller.user.username})


@router.delete("/{token_id}", response_model=TokenOut, responses=responses(404))
async def revoke_token(svc: Services, caller: Writer, token_id: TokenId) -> TokenOut:
    """Revoke a token at once (it is kept, marked revoked, for the record)."""
    await _visible_token(svc, caller, token_id)
    token = await svc.tokens.revoke(token_id)
    return await token_out(svc, token, {caller.user.id: caller.user.username})
