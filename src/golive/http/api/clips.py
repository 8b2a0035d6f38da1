"""Clips: short copies of a live stream's DVR window or of a VOD, made by any token holder the
channel's ``clip_permission`` allows (the token's user is the creator).

- ``POST /channels/{name}/clips`` from the live stream, ``POST /vods/{id}/clips`` from a VOD
  (``golive.clip_requests`` says what is refused and why);
- ``GET /clips/{id}``, ``GET /channels/{name}/clips``;
- ``PATCH /clips/{id}`` (title), ``DELETE /clips/{id}``: the creator, the channel's owner,
  administrators.

A clip cut from a private VOD is private too: 404 to everyone but the channel's owner, its
creator and administrators, like the VOD.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, cast

from fastapi import APIRouter, Path, Query, Response

from golive.clip_requests import Clipper, ClipRefused, ClipRequests
from golive.db.api_tokens import Principal
from golive.db.clips import ClipSummary
from golive.http.api.auth import Reader, Services, Writer
from golive.http.api.channels import ChannelName
from golive.http.api.errors import ApiError, responses
from golive.http.api.schemas import (
    VOD_ID_PATTERN,
    ClipFromLive,
    ClipFromVod,
    ClipOut,
    ClipStatus,
    ClipUpdate,
    Visibility,
)
from golive.http.api.services import ApiServices
from golive.store.object_store import ObjectStoreError

router = APIRouter(tags=["clips"])
log = logging.getLogger("golive.api")

ClipId = Annotated[str, Path(pattern=VOD_ID_PATTERN, description="The clip's id.")]
VodId = Annotated[str, Path(pattern=VOD_ID_PATTERN, description="The VOD's id.")]
PUBLIC_LISTING = frozenset({"public"})


def _clips(svc: ApiServices) -> ClipRequests:
    if svc.clips is None:
        raise ApiError("clip_not_found", "this server keeps no recordings, so no clips")
    return svc.clips


def clipper(caller: Principal) -> Clipper:
    return Clipper(id=caller.user.id, username=caller.user.username, is_admin=caller.is_admin)


def clip_out(svc: ApiServices, clip: ClipSummary) -> ClipOut:
    base = svc.settings().http_base_url
    return ClipOut(
        id=clip.id,
        channel=clip.channel,
        creator=clip.creator or None,
        title=clip.title,
        vod_id=clip.recording_id,
        start=clip.start,
        duration=clip.duration,
        created_at=datetime.fromtimestamp(clip.created_at, UTC),
        views=clip.views,
        status=cast(ClipStatus, clip.status),
        visibility=cast(Visibility, clip.visibility),
        url=f"{base}/clips/{clip.id}",
        playlist_url=f"{base}/clip/{clip.id}/index.m3u8",
        thumbnail_url=f"{base}/clip/{clip.id}/thumbnail.jpg",
        download_url=f"{base}/clip/{clip.id}/download.mp4",
    )


def _refusal(exc: ClipRefused) -> ApiError:
    return ApiError(exc.code, exc.message)


async def _visible_clip(svc: ApiServices, caller: Principal, clip_id: str) -> ClipSummary:
    clips = _clips(svc)
    clip = await clips.clips.get(clip_id)
    if clip is None or (
        clip.visibility == "private" and not await clips.may_manage(clipper(caller), clip)
    ):
        raise ApiError("clip_not_found", f"no clip {clip_id!r}")
    return clip


async def _managed_clip(svc: ApiServices, caller: Principal, clip_id: str) -> ClipSummary:
    clip = await _visible_clip(svc, caller, clip_id)
    if not await _clips(svc).may_manage(clipper(caller), clip):
        raise ApiError(
            "not_clip_owner",
            "only the clip's creator, the channel's owner or an administrator may change it",
        )
    return clip


@router.post(
    "/channels/{name}/clips",
    status_code=201,
    response_model=ClipOut,
    responses=responses(400, 403, 404, 409, 429, 503),
)
async def clip_live(
    svc: Services, caller: Writer, name: ChannelName, body: ClipFromLive
) -> ClipOut:
    """Clip the channel's live stream: ``duration`` seconds (5-60, default 30) from
    ``start_pdt`` (epoch seconds inside the recorded DVR window), or the last ``duration``
    seconds stored. Cut on segment boundaries, copied: playable at once."""
    try:
        clip = await _clips(svc).from_live(
            clipper(caller),
            name,
            start_pdt=body.start_pdt,
            duration=body.duration,
            title=body.title,
        )
    except ClipRefused as exc:
        raise _refusal(exc) from None
    return clip_out(svc, clip)


@router.post(
    "/vods/{vod_id}/clips",
    status_code=201,
    response_model=ClipOut,
    responses=responses(400, 403, 404, 409, 429, 503),
)
async def clip_vod(svc: Services, caller: Writer, vod_id: VodId, body: ClipFromVod) -> ClipOut:
    """Clip a VOD: ``duration`` seconds (5-60, default 30) from ``start`` seconds into it."""
    try:
        clip = await _clips(svc).from_vod(
            clipper(caller), vod_id, start=body.start, duration=body.duration, title=body.title
        )
    except ClipRefused as exc:
        raise _refusal(exc) from None
    return clip_out(svc, clip)


@router.get("/clips/{clip_id}", response_model=ClipOut, responses=responses(404))
async def get_clip(svc: Services, caller: Reader, clip_id: ClipId) -> ClipOut:
    return clip_out(svc, await _visible_clip(svc, caller, clip_id))


@router.get("/channels/{name}/clips", response_model=list[ClipOut], responses=responses(404))
async def list_clips(
    svc: Services,
    caller: Reader,
    name: ChannelName,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ClipOut]:
    """A channel's clips, newest first: the public ones; every one for the channel's owner
    and administrators."""
    clips = _clips(svc)
    channel = await svc.channels.get(name)
    if channel is None:
        raise ApiError("channel_not_found", f"no channel {name!r}")
    owns = caller.is_admin or channel.owner_id == caller.user.id
    listed = await clips.clips.for_channel(
        channel.id, visibilities=None if owns else PUBLIC_LISTING, limit=limit
    )
    return [clip_out(svc, c) for c in listed]


@router.patch("/clips/{clip_id}", response_model=ClipOut, responses=responses(400, 404))
async def update_clip(svc: Services, caller: Writer, clip_id: ClipId, body: ClipUpdate) -> ClipOut:
    """Change the title (trimmed)."""
    await _managed_clip(svc, caller, clip_id)
    updated = await _clips(svc).clips.retitle(clip_id, body.title.strip())
    if updated is None:
        raise ApiError("clip_not_found", f"no clip {clip_id!r}")
    return clip_out(svc, updated)


@router.delete(
    "/clips/{clip_id}", status_code=204, response_class=Response, responses=responses(404, 503)
)
async def delete_clip(svc: Services, caller: Writer, clip_id: ClipId) -> Response:
    """Delete the clip's objects, then the clip (its VOD is untouched). If the storage
    fails, the clip stays (503) and the same call can be made again."""
    clip = await _managed_clip(svc, caller, clip_id)
    try:
        objects = await _clips(svc).delete(clip)
    except ObjectStoreError as exc:
        log.warning("api: could not delete clip %s from storage: %s", clip.id, exc)
        raise ApiError(
            "storage_unavailable", "the recording storage failed while deleting: retry"
        ) from None
    log.info(
        "api: %s deleted clip %s of %s (%d objects)",
        caller.user.username,
        clip.id,
        clip.channel,
        objects,
    )
    return Response(status_code=204)
