"""/channels/{name}/chat: chat moderation through the API (bans, timeouts, moderators, slow
mode), for the channel's owner and administrators. Changes reach connected chat clients at
once, as if the owner had made them in the chat."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from golive.chat.chat_room import SERVER, ChatRoom
from golive.chat.message_text import ChatRejected
from golive.http.api.auth import Reader, Services, Writer
from golive.http.api.channels import ChannelName, visible_channel
from golive.http.api.errors import ApiError, responses
from golive.http.api.services import ApiServices

router = APIRouter(prefix="/channels", tags=["chat moderation"])

Username = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$", description="A user's name.")
]


class ChatBanIn(BaseModel):
    seconds: int | None = Field(
        default=None,
        ge=1,
        le=14 * 86400,
        description="A timeout of this many seconds; omitted or null: a ban until lifted.",
    )


class ChatBanOut(BaseModel):
    user: str
    until: datetime | None = Field(description="End of a timeout; null for a ban.")


class ChatModerationOut(BaseModel):
    moderators: list[str]
    bans: list[ChatBanOut]
    slow_mode: int = Field(description="Seconds between a chatter's messages; 0: off.")


class SlowModeIn(BaseModel):
    seconds: int = Field(ge=0, le=3600)


async def _chat_room(svc: ApiServices, name: str) -> ChatRoom:
    room = None if svc.chat is None else await svc.chat.room(name)
    if room is None:
        raise ApiError("channel_not_found", f"no chat for channel {name!r}")
    return room


async def _apply(action: Awaitable[None]) -> None:
    try:
        await action
    except ChatRejected as exc:
        code = "user_not_found" if exc.code == "not_found" else "chat_refused"
        raise ApiError(code, exc.message) from None


async def _state(svc: ApiServices, room: ChatRoom) -> ChatModerationOut:
    assert svc.chat_store is not None
    state = room.state
    names = await svc.chat_store.usernames(state.moderators | set(state.bans))
    now = datetime.now(UTC).timestamp()
    bans = [
        ChatBanOut(
            user=names[uid],
            until=None if until is None else datetime.fromtimestamp(until, UTC),
        )
        for uid, until in state.bans.items()
        if uid in names and (until is None or until > now)
    ]
    return ChatModerationOut(
        moderators=sorted(names[u] for u in state.moderators if u in names),
        bans=sorted(bans, key=lambda b: b.user),
        slow_mode=state.slow_mode,
    )


@router.get("/{name}/chat", response_model=ChatModerationOut, responses=responses(404))
async def chat_moderation(svc: Services, caller: Reader, name: ChannelName) -> ChatModerationOut:
    """The chat's moderators, current bans and timeouts, and slow mode."""
    await visible_channel(svc, caller, name)
    return await _state(svc, await _chat_room(svc, name))


@router.put(
    "/{name}/chat/bans/{user}", response_model=ChatModerationOut, responses=responses(404, 409)
)
async def ban_user(
    svc: Services, caller: Writer, name: ChannelName, user: Username, body: ChatBanIn
) -> ChatModerationOut:
    """Ban a user from the chat, or time them out for ``seconds``; their messages are removed."""
    await visible_channel(svc, caller, name)
    room = await _chat_room(svc, name)
    if body.seconds is None:
        await _apply(room.ban(SERVER, user))
    else:
        await _apply(room.timeout(SERVER, user, body.seconds))
    return await _state(svc, room)


@router.delete(
    "/{name}/chat/bans/{user}", status_code=204, response_class=Response, responses=responses(404)
)
async def unban_user(svc: Services, caller: Writer, name: ChannelName, user: Username) -> Response:
    """Lift a ban or timeout."""
    await visible_channel(svc, caller, name)
    await _apply((await _chat_room(svc, name)).unban(SERVER, user))
    return Response(status_code=204)


@router.put(
    "/{name}/chat/moderators/{user}",
    response_model=ChatModerationOut,
    responses=responses(404, 409),
)
async def add_moderator(
    svc: Services, caller: Writer, name: ChannelName, user: Username
) -> ChatModerationOut:
    """Appoint a moderator."""
    await visible_channel(svc, caller, name)
    room = await _chat_room(svc, name)
    await _apply(room.set_moderator(SERVER, user, True))
    return await _state(svc, room)


@router.delete(
    "/{name}/chat/moderators/{user}",
    status_code=204,
    response_class=Response,
    responses=responses(404, 409),
)
async def remove_moderator(
    svc: Services, caller: Writer, name: ChannelName, user: Username
) -> Response:
    """Dismiss a moderator."""
    await visible_channel(svc, caller, name)
    await _apply((await _chat_room(svc, name)).set_moderator(SERVER, user, False))
    return Response(status_code=204)


@router.put("/{name}/chat/slow-mode", response_model=ChatModerationOut, responses=responses(404))
async def set_slow_mode(
    svc: Services, caller: Writer, name: ChannelName, body: SlowModeIn
) -> ChatModerationOut:
    """Set slow mode (0 turns it off)."""
    await visible_channel(svc, caller, name)
    room = await _chat_room(svc, name)
    await _apply(room.set_slow_mode(SERVER, body.seconds))
    return await _state(svc, room)
