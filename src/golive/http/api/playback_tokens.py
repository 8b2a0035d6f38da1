"""/playback-tokens: signed, expiring playback URLs for private (or any) media.

``POST /playback-tokens`` with ``{"channel": name}``, ``{"vod": id}`` or ``{"clip": id}``
and an optional ``ttl`` answers a token and the URLs that play through it
(``/p/<token>/live/<ch>/index.m3u8`` and so on). It needs a token with the ``playback``
scope (``write`` and ``admin`` include it) and the channel's ownership (administrators:
any). The origin checks the token with no database lookup (http/playback_gate.py), so a
token cannot be revoked: keep ttls short, or rotate the secret (docs/security.md).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from golive.accounts.playback_tokens import PlaybackKind
from golive.db.api_tokens import Principal
from golive.http.api.auth import Services, require
from golive.http.api.channels import visible_channel
from golive.http.api.errors import ApiError, responses
from golive.http.api.schemas import PlaybackTokenCreate, PlaybackTokenOut
from golive.http.api.services import ApiServices

router = APIRouter(prefix="/playback-tokens", tags=["playback"])

Player = Annotated[Principal, Depends(require("playback"))]


async def _owns(svc: ApiServices, caller: Principal, channel_name: str) -> bool:
    if caller.is_admin:
        return True
    channel = await svc.channels.get(channel_name)
    return channel is not None and channel.owner_id == caller.user.id


async def _target(
    svc: ApiServices, caller: Principal, body: PlaybackTokenCreate
) -> tuple[PlaybackKind, str, str]:
    """(kind, resource, URL path below the token) of what the body names, if the caller may."""
    named = [v for v in (body.channel, body.vod, body.clip) if v is not None]
    if len(named) != 1:
        raise ApiError("invalid_playback_target", "name exactly one of channel, vod and clip")
    if body.channel is not None:
        channel = await visible_channel(svc, caller, body.channel)
        return PlaybackKind.LIVE, channel.name, f"/live/{channel.name}"
    if body.vod is not None:
        vod = None if svc.recordings is None else await svc.recordings.get(body.vod)
        if vod is None or not await _owns(svc, caller, vod.channel):
            raise ApiError("vod_not_found", f"no VOD {body.vod!r} of yours")
        if not caller.is_admin and vod.channel_id is None:
            raise ApiError("vod_not_found", f"no VOD {body.vod!r} of yours")
        return PlaybackKind.VOD, vod.id, f"/vod/{vod.id}"
    assert body.clip is not None
    channel_name = (
        None if svc.clip_channels is None else await svc.clip_channels.channel_of(body.clip)
    )
    if channel_name is None or not await _owns(svc, caller, channel_name):
        raise ApiError("clip_not_found", f"no clip {body.clip!r} of yours")
    return PlaybackKind.CLIP, body.clip, f"/clip/{body.clip}"


@router.post("", status_code=201, response_model=PlaybackTokenOut, responses=responses(400, 404))
async def create_playback_token(
    svc: Services, caller: Player, body: PlaybackTokenCreate
) -> PlaybackTokenOut:
    """A signed playback token for a channel's live media, a VOD or a clip, valid for ``ttl``
    seconds. Its URLs work for anyone who has them, through any cache, until they expire."""
    settings = svc.settings()
    if body.ttl > settings.playback_token_max_ttl:
        raise ApiError(
            "invalid_playback_target",
            f"ttl is at most {settings.playback_token_max_ttl} s here",
        )
    if svc.playback_tokens is None:
        raise ApiError("not_found", "this server issues no playback tokens")
    kind, resource, below = await _target(svc, caller, body)
    expires = math.ceil(time.time() + body.ttl)
    token = svc.playback_tokens.issue(kind, resource, expires)
    base = f"{settings.http_base_url}/p/{token}{below}"
    return PlaybackTokenOut(
        token=token,
        expires_at=datetime.fromtimestamp(expires, UTC),
        playlist_url=f"{base}/index.m3u8",
        mpd_url=None if kind is PlaybackKind.CLIP else f"{base}/manifest.mpd",
    )
