"""What a signed-in streamer may do to channels, shared by the dashboard's forms and its
JSON endpoints: create one, change its title and category, rotate its stream key, stop its
stream."""

from __future__ import annotations

import logging

from golive.accounts.web_sessions import SessionUser
from golive.db.channels import ChannelError, ChannelExists
from golive.db.models import (
    CLIP_PERMISSIONS,
    PRIVATE,
    VISIBILITIES,
    Channel,
    is_valid_channel_name,
)
from golive.http.web.site_context import WebContext
from golive.http.web.text_input import clean_line

__all__ = [
    "SITE_PATHS",
    "ChannelActionError",
    "create_channel",
    "listed_for",
    "owned_channel",
    "rotate_stream_key",
    "stop_stream",
    "update_channel",
    "watchable_by",
]

log = logging.getLogger("golive.http")

TITLE_LENGTH = 200  # Channel.title's column
CATEGORY_LENGTH = 60  # Channel.category's column

# Top-level paths of the site: a channel of that name could never be watched at /<name>.
# (golive.db.models.RESERVED_CHANNEL_NAMES has login, logout and the media/API paths.)
SITE_PATHS = frozenset({"signup", "login", "logout", "dashboard", "web"})


class ChannelActionError(Exception):
    """Refused; ``status``, ``code`` and ``message`` are what the user is told."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def owned_channel(ctx: WebContext, user: SessionUser, name: str) -> Channel:
    """The channel if ``user`` owns it (or is an administrator); someone else's channel is
    answered like a missing one, so names of others' channels cannot be probed here."""
    channel = await ctx.channels.get(name) if is_valid_channel_name(name) else None
    if channel is None or (channel.owner_id != user.id and not user.is_admin):
        raise ChannelActionError(404, "not_found", "no such channel of yours")
    return channel


def watchable_by(channel: Channel, user: SessionUser | None) -> bool:
    """Whether ``user`` (None: nobody signed in) may see a private channel at all."""
    if channel.visibility != PRIVATE:
        return True
    return user is not None and (user.is_admin or channel.owner_id == user.id)


def listed_for(channel: Channel, user: SessionUser | None) -> bool:
    """Whether the channel shows in the home page and lists: public ones for everyone,
    unlisted and private ones for their owner and administrators."""
    if channel.visibility == "public":
        return True
    return user is not None and (user.is_admin or channel.owner_id == user.id)


async def create_channel(ctx: WebContext, user: SessionUser, raw_name: str) -> tuple[Channel, str]:
    """A new channel owned by ``user``, with its stream key (shown this once)."""
    name = raw_name.strip().lower()
    if not is_valid_channel_name(name) or name in SITE_PATHS:
        raise ChannelActionError(
            400,
            "invalid_name",
            "Channel names are 1-32 lowercase letters, digits, '-' or '_', starting with a "
            "letter or digit, and not a reserved word.",
        )
    if not user.is_admin:
        owned = await ctx.channels.list(owner_id=user.id)
        if len(owned) >= ctx.max_channels_per_user:
            raise ChannelActionError(
                403,
                "too_many_channels",
                f"You can own at most {ctx.max_channels_per_user} channels.",
            )
    try:
        channel, key = await ctx.channels.add(name, owner_id=user.id)
    except ChannelExists as exc:
        raise ChannelActionError(409, "exists", f"The channel {name!r} already exists.") from exc
    except ChannelError as exc:
        raise ChannelActionError(400, "invalid", str(exc)) from exc
    log.info("web: %s created channel %s", user.username, name)
    return channel, key


async def update_channel(
    ctx: WebContext,
    user: SessionUser,
    name: str,
    *,
    title: str,
    category: str,
    record: bool | None = None,
    visibility: str | None = None,
    clip_permission: str | None = None,
) -> Channel:
    channel = await owned_channel(ctx, user, name)
    if visibility is not None and visibility not in VISIBILITIES:
        raise ChannelActionError(
            400, "bad_request", f"visibility must be one of {', '.join(VISIBILITIES)}"
        )
    if clip_permission is not None and clip_permission not in CLIP_PERMISSIONS:
        raise ChannelActionError(
            400, "bad_request", f"clip_permission must be one of {', '.join(CLIP_PERMISSIONS)}"
        )
    updated = await ctx.channels.update(
        channel.name,
        title=clean_line(title, TITLE_LENGTH),
        category=clean_line(category, CATEGORY_LENGTH),
        record=record,
        visibility=visibility,
        clip_permission=clip_permission,
    )
    if visibility is not None and visibility != channel.visibility:
        log.info("web: %s made channel %s %s", user.username, channel.name, visibility)
        if ctx.channels_changed is not None:
            await ctx.channels_changed()
    return updated


async def rotate_stream_key(ctx: WebContext, user: SessionUser, name: str) -> str:
    """A new stream key; the old one stops working and a live publisher that used it is
    disconnected."""
    channel = await owned_channel(ctx, user, name)
    key = await ctx.channels.rotate_key(channel.name)
    ctx.live.stop(channel.name, "stream key rotated", end=False)
    log.info("web: %s rotated the stream key of %s", user.username, channel.name)
    return key


async def stop_stream(ctx: WebContext, user: SessionUser, name: str) -> None:
    """Disconnect the channel's publisher (its key still works: rotate it to keep it out)."""
    channel = await owned_channel(ctx, user, name)
    if not ctx.live.stop(channel.name, "stopped from the dashboard", end=False):
        raise ChannelActionError(409, "not_live", f"The channel {channel.name} is not live.")
    log.info("web: %s stopped the stream of %s", user.username, channel.name)
