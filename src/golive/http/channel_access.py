"""Which channels are not public, kept in memory for the media routes.

The ``/live/`` lean path answers players several times a second per viewer: it must know
whether a channel is private without asking the database. app.py fills this map from the
channels table at start, again whenever the API or the dashboard changes a channel, and
every few seconds (the CLI changes channels from another process).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ChannelAccess"]

PRIVATE = "private"
UNLISTED = "unlisted"
PUBLIC = "public"


class ChannelAccess:
    """Channel name -> (visibility, owner's user id) for every channel that is not public."""

    def __init__(self, restricted: Mapping[str, tuple[str, int | None]] | None = None) -> None:
        self._restricted: dict[str, tuple[str, int | None]] = dict(restricted or {})

    def replace(self, restricted: Mapping[str, tuple[str, int | None]]) -> None:
        self._restricted = dict(restricted)

    def visibility(self, channel: str) -> str:
        found = self._restricted.get(channel)
        return PUBLIC if found is None else found[0]

    def is_private(self, channel: str) -> bool:
        found = self._restricted.get(channel)
        return found is not None and found[0] == PRIVATE

    def is_listed(self, channel: str) -> bool:
        """Whether the channel shows on the home page and in lists for everyone."""
        return channel not in self._restricted

    def may_watch(self, channel: str, user_id: int | None, *, is_admin: bool = False) -> bool:
        """Whether a signed-in user (None: nobody signed in) may watch without a token."""
        found = self._restricted.get(channel)
        if found is None or found[0] != PRIVATE:
            return True
        return is_admin or (user_id is not None and found[1] == user_id)
