"""Who may watch what: which channels are private, the playback tokens that admit a viewer
to one, and the browser sessions of the owners and administrators who may watch anyway."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.requests import HTTPConnection, Request

from golive.accounts.playback_secret import playback_secret
from golive.accounts.playback_tokens import PlaybackKind, PlaybackTokens, TokenRefused
from golive.accounts.web_sessions import BrowserSessions, SessionUser
from golive.clip_requests import Clipper, ClipRequests
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.clips import ClipSummary
from golive.db.recordings import RecordingSummary as StoredRecording
from golive.http.channel_access import ChannelAccess
from golive.http.playback_gate import PlaybackGate

log = logging.getLogger("golive")

# Seconds between re-reads of which channels are private (the CLI changes them elsewhere).
CHANNEL_ACCESS_REFRESH = 2.0
# Lifetime of the token a private channel's request is forwarded under: it is checked once,
# when the serving node receives the request, so a minute covers any clock skew between nodes.
FORWARDING_TOKEN_SECONDS = 60


class PlaybackAccess:
    def __init__(self, sessions: Callable[[], BrowserSessions | None]) -> None:
        """``sessions``: the browser sessions, once the site is built."""
        self.channel_access = ChannelAccess()
        self.tokens: PlaybackTokens | None = None
        self.gate: PlaybackGate | None = None
        self._sessions = sessions
        self._channels: ChannelStore | None = None
        self._follow_task: asyncio.Task[None] | None = None

    async def start(self, s: Settings, channels: ChannelStore) -> None:
        secret = await asyncio.to_thread(playback_secret, s.playback_token_secret, s.data_dir)
        previous = s.playback_token_previous_secret.encode("utf-8")
        self.tokens = PlaybackTokens(secret, *([previous] if previous else []))
        self.gate = PlaybackGate(self.tokens)
        self._channels = channels
        await self.refresh()
        self._follow_task = asyncio.create_task(self._follow())

    def stop(self) -> None:
        if self._follow_task is not None:
            self._follow_task.cancel()

    async def refresh(self) -> None:
        """Re-read which channels are not public (after any change to a channel)."""
        assert self._channels is not None
        self.channel_access.replace(await self._channels.access())

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(CHANNEL_ACCESS_REFRESH)
            try:
                await self.refresh()
            except Exception as exc:  # the database is briefly away: the last map holds
                log.warning("could not re-read channel visibility: %s", exc)

    def forwarding_token(self, channel: str) -> str | None:
        """A playback token under which a private channel's admitted request goes on to the
        node serving it (a forwarded request carries no cookie)."""
        if self.tokens is None or not self.channel_access.is_private(channel):
            return None
        expires = int(time.time()) + FORWARDING_TOKEN_SECONDS
        return self.tokens.issue(PlaybackKind.LIVE, channel, expires)

    async def may_watch_channel(self, conn: HTTPConnection, channel: str) -> bool:
        """Whether the browser session behind ``conn`` may watch private ``channel``."""
        user = await self._user(conn)
        if user is None:
            return False
        return self.channel_access.may_watch(channel, user.id, is_admin=user.is_admin)

    async def may_join_chat(self, conn: HTTPConnection, channel: str) -> bool:
        """A private channel's chat: its owner's or an administrator's session, or a playback
        token for the channel in the ``playback_token`` query parameter."""
        if not self.channel_access.is_private(channel):
            return True
        token = conn.query_params.get("playback_token")
        if token and self.tokens is not None:
            try:
                claim = self.tokens.verify(token, time.time())
            except TokenRefused:
                claim = None
            if claim is not None and claim.covers(PlaybackKind.LIVE, channel):
                return True
        return await self.may_watch_channel(conn, channel)

    async def owns_recording(self, request: Request, recording: StoredRecording) -> bool:
        """Whether the request comes from the browser session of the recording's channel owner
        (or of an administrator)."""
        if self._channels is None:
            return False
        user = await self._user(request)
        if user is None:
            return False
        if user.is_admin:
            return True
        channel = await self._channels.get(recording.channel)
        return (
            channel is not None
            and channel.owner_id == user.id
            and (recording.channel_id is None or recording.channel_id == channel.id)
        )

    async def manages_clip(self, clips: ClipRequests, request: Request, clip: ClipSummary) -> bool:
        """Whether the request comes from the browser session of someone who manages the
        clip (its creator, its channel's owner, an administrator)."""
        user = await self._user(request)
        if user is None:
            return False
        return await clips.may_manage(Clipper(user.id, user.username, user.is_admin), clip)

    async def _user(self, conn: HTTPConnection) -> SessionUser | None:
        """The user of the browser session behind ``conn``, if any (and once the site is)."""
        sessions = self._sessions()
        return None if sessions is None else await sessions.user(conn)
