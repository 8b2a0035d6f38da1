"""/channels: create, list, read, update, delete channels and rotate their stream keys."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Path, Response

from golive.db.api_tokens import Principal
from golive.db.channels import ChannelExists, InvalidChannelName, InvalidStreamKey
from golive.db.models import Channel
from golive.http.api.auth import Reader, Services, Writer
from golive.http.api.errors import ApiError, responses
from golive.http.api.schemas import (
    CHANNEL_NAME_PATTERN,
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    ClipPermission,
    StreamKeyOut,
)
from golive.http.api.services import ApiServices

router = APIRouter(prefix="/channels", tags=["channels"])

ChannelName = Annotated[str, Path(pattern=CHANNEL_NAME_PATTERN, description="Channel name.")]


async def visible_channel(svc: ApiServices, caller: Principal, name: str) -> Channel:
    """The channel if the caller owns it or is an administrator; else channel_not_found.

    Someone else's channel answers exactly like a missing one, so names do not leak.
    """
    channel = await svc.channels.get(name)
    if channel is None or not (caller.is_admin or channel.owner_id == caller.user.id):
        raise ApiError("channel_not_found", f"no channel {name!r}")
    return channel


async def channel_out(
    svc: ApiServices, channel: Channel, owners: dict[int, str] | None = None
) -> ChannelOut:
    owner: str | None = None
    if channel.owner_id is not None:
        if owners is not None and channel.owner_id in owners:
            owner = owners[channel.owner_id]
        else:
            user = await svc.users.get(channel.owner_id)
            owner = user.username if user is not None else None
    return ChannelOut(
        name=channel.name,
        title=channel.title,
        owner=owner,
        stream_key_hint=channel.stream_key_hint,
        created_at=channel.created_at,
        key_rotated_at=channel.key_rotated_at,
        live=svc.live.get(channel.name) is not None,
        watch_url=svc.settings().watch_url(channel.name),
        record=channel.record,
        retention_days=channel.retention_days,
        retention_gb=channel.retention_gb,
        visibility=channel.visibility,  # type: ignore[arg-type]  # checked on the way in
        clip_permission=cast(ClipPermission, channel.clip_permission),
    )


async def _owner_id(svc: ApiServices, caller: Principal, owner: str | None) -> int | None:
    if owner is None or owner == caller.user.username:
        return None if owner is None else caller.user.id
    if not caller.is_admin:
        raise ApiError("admin_required", "only administrators may give a channel to someone else")
    user = await svc.users.by_name(owner)
    if user is None:
        raise ApiError("user_not_found", f"no user {owner!r}")
    return user.id


@router.get("", response_model=list[ChannelOut], responses=responses())
async def list_channels(svc: Services, caller: Reader) -> list[ChannelOut]:
    """Channels the caller owns; every channel for administrators."""
    found = await svc.channels.list(owner_id=None if caller.is_admin else caller.user.id)
    owners = {u.id: u.username for u in await svc.users.list()}
    return [await channel_out(svc, c, owners) for c in found]


@router.post("", status_code=201, response_model=StreamKeyOut, responses=responses(400, 404, 409))
async def create_channel(svc: Services, caller: Writer, body: ChannelCreate) -> StreamKeyOut:
    """Create a channel owned by the caller (or, for administrators, by ``owner``)."""
    owner_id = await _owner_id(svc, caller, body.owner)
    if owner_id is None:
        owner_id = caller.user.id
    try:
        channel, key = await svc.channels.add(body.name, title=body.title, owner_id=owner_id)
    except ChannelExists as exc:
        raise ApiError("channel_exists", str(exc)) from None
    except InvalidChannelName as exc:
        raise ApiError("invalid_channel_name", str(exc)) from None
    except InvalidStreamKey as exc:
        raise ApiError("invalid_stream_key", str(exc)) from None
    return await _key_out(svc, channel, key)


@router.get("/{name}", response_model=ChannelOut, responses=responses(404))
async def get_channel(svc: Services, caller: Reader, name: ChannelName) -> ChannelOut:
    """One channel (its owner's or, for administrators, any)."""
    return await channel_out(svc, await visible_channel(svc, caller, name))


@router.patch("/{name}", response_model=ChannelOut, responses=responses(400, 404))
async def update_channel(
    svc: Services, caller: Writer, name: ChannelName, body: ChannelUpdate
) -> ChannelOut:
    """Change the title, the recording switch, the retention, the visibility, who may clip,
    or (administrators) the owner."""
    await visible_channel(svc, caller, name)
    owner_id = await _owner_id(svc, caller, body.owner)
    global_retention = "retention_days" in body.model_fields_set and body.retention_days is None
    if "retention_days" in body.model_fields_set and not caller.is_admin:
        _check_owner_retention(svc, body.retention_days)
    channel = await svc.channels.update(
        name,
        title=body.title,
        owner_id=owner_id,
        record=body.record,
        retention_days=body.retention_days,
        global_retention=global_retention,
        visibility=body.visibility,
        clip_permission=body.clip_permission,
        retention_gb=body.retention_gb,
    )
    if svc.channels_changed is not None:
        await svc.channels_changed()  # a private channel is closed to strangers at once
    if svc.chat is not None:
        await svc.chat.channel_changed(name)  # a new owner takes the owner's role at once
    return await channel_out(svc, channel)


def _check_owner_retention(svc: ApiServices, days: int | None) -> None:
    """Owners may keep recordings for less than the operator's global limit, not longer."""
    limit = svc.settings().record_retention_days
    if days is not None and limit > 0 and (days == 0 or days > limit):
        raise ApiError(
            "admin_required",
            f"recordings are kept at most {limit} days here; only administrators may keep "
            "a channel's longer",
        )


@router.delete("/{name}", status_code=204, response_class=Response, responses=responses(404))
async def delete_channel(svc: Services, caller: Writer, name: ChannelName) -> Response:
    """Delete a channel; a live stream on it is stopped and ended."""
    await visible_channel(svc, caller, name)
    svc.live.stop(name, "channel deleted", end=True)
    await svc.channels.delete(name)
    if svc.channels_changed is not None:
        await svc.channels_changed()
    if svc.chat is not None:
        await svc.chat.channel_changed(name)  # closes the chat's connections
    return Response(status_code=204)


@router.post("/{name}/stream-key", response_model=StreamKeyOut, responses=responses(404))
async def rotate_stream_key(svc: Services, caller: Writer, name: ChannelName) -> StreamKeyOut:
    """Replace the stream key; the old one stops working and its live publisher is cut off.

    The stream then waits the reconnect grace for a publisher with the new key.
    """
    await visible_channel(svc, caller, name)
    key = await svc.channels.rotate_key(name)
    svc.live.stop(name, "stream key rotated", end=False)
    channel = await visible_channel(svc, caller, name)
    return await _key_out(svc, channel, key)


async def _key_out(svc: ApiServices, channel: Channel, key: str) -> StreamKeyOut:
    settings = svc.settings()
    return StreamKeyOut(
        channel=await channel_out(svc, channel),
        stream_key=key,
        rtmp_server=settings.rtmp_base_url,
        rtmp_url=settings.rtmp_publish_url(key),
    )
