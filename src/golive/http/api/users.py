"""/me and /users: who is calling; user administration (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from golive.db.models import User
from golive.db.users import InvalidUsername, UserExists, UserNotFound
from golive.http.api.auth import Admin, Reader, Services
from golive.http.api.errors import ApiError, responses
from golive.http.api.schemas import MeOut, Scope, UserCreate, UserOut

router = APIRouter(tags=["users"])

UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="User id.")]


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        is_admin=user.is_admin,
        created_at=user.created_at,
    )


@router.get("/me", response_model=MeOut, responses=responses())
async def me(caller: Reader) -> MeOut:
    """The caller's user and the scopes of the token in use."""
    ordered: tuple[Scope, ...] = ("read", "write", "admin", "playback")
    scopes = [s for s in ordered if s in caller.scopes]
    return MeOut(user=user_out(caller.user), token_id=caller.token_id, scopes=scopes)


@router.get("/users", response_model=list[UserOut], responses=responses())
async def list_users(svc: Services, caller: Admin) -> list[UserOut]:
    """Every user."""
    return [user_out(u) for u in await svc.users.list()]


@router.post("/users", status_code=201, response_model=UserOut, responses=responses(400, 409))
async def create_user(svc: Services, caller: Admin, body: UserCreate) -> UserOut:
    """Create a user (give them a token with `golive token create` or their own call)."""
    try:
        user = await svc.users.add(
            body.username, display_name=body.display_name, is_admin=body.is_admin
        )
    except UserExists as exc:
        raise ApiError("user_exists", str(exc)) from None
    except InvalidUsername as exc:
        raise ApiError("invalid_username", str(exc)) from None
    return user_out(user)


@router.get("/users/{user_id}", response_model=UserOut, responses=responses(404))
async def get_user(svc: Services, caller: Admin, user_id: UserId) -> UserOut:
    """One user."""
    user = await svc.users.get(user_id)
    if user is None:
        raise ApiError("user_not_found", f"no user with id {user_id}")
    return user_out(user)


@router.delete(
    "/users/{user_id}", status_code=204, response_class=Response, responses=responses(404)
)
async def delete_user(svc: Services, caller: Admin, user_id: UserId) -> Response:
    """Delete a user and their tokens; their channels stay, managed by administrators."""
    try:
        await svc.users.delete(user_id)
    except UserNotFound as exc:
        raise ApiError("user_not_found", str(exc)) from None
    return Response(status_code=204)
