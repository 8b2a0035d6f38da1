"""Who may see a VOD on the site: the rules of the VOD API, for browser sessions.

A ``ready`` VOD that is ``public`` or ``unlisted`` is seen by everyone, signed in or not; a
``private`` one only by the channel's owner (the same channel, not a later one of the same
name) and administrators, and is a 404 to everyone else, exactly like an unknown id. A
recording still being written or one that failed is not a VOD: 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from golive.accounts.web_sessions import SessionUser
from golive.db.models import RECORDING_READY
from golive.db.recordings import RecordingStore, RecordingSummary
from golive.http.web.site_context import WebContext

__all__ = ["SeenVod", "manages_vod", "seen_vod"]

VOD_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")
PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class SeenVod:
    vod: RecordingSummary
    user: SessionUser | None
    manages: bool  # the channel's owner or an administrator


async def manages_vod(ctx: WebContext, user: SessionUser | None, vod: RecordingSummary) -> bool:
    if user is None:
        return False
    if user.is_admin:
        return True
    if vod.channel_id is None:
        return False
    channel = await ctx.channels.get(vod.channel)
    return channel is not None and channel.id == vod.channel_id and channel.owner_id == user.id


async def seen_vod(ctx: WebContext, request: Request, vod_id: str) -> SeenVod | None:
    """The VOD if the request's browser may see it, else None (answer 404)."""
    site = ctx.vods
    if site is None or VOD_ID.fullmatch(vod_id) is None:
        return None
    recordings: RecordingStore = site.recordings
    vod = await recordings.get(vod_id)
    if vod is None or vod.status != RECORDING_READY:
        return None
    user = await ctx.sessions.user(request)
    manages = await manages_vod(ctx, user, vod)
    if vod.visibility == PRIVATE and not manages:
        return None
    return SeenVod(vod, user, manages)
