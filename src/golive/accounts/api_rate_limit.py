"""How often the API may be called: per token, and failed sign-ins per address.

Each API token may make at most ``per_minute`` requests in any 60 s (setting
``api_requests_per_minute``; 0 turns it off), so one runaway script cannot take a node's
event loop or the database from everyone else. Requests with an unknown or revoked token are
counted per client address, and an address past ``AUTH_FAILURES_PER_MINUTE`` is refused
before its token is even looked up (each lookup is a database query). The counts live in the
`AttemptStore` the node was given: its memory alone, or Redis in a cluster, so the limit is
one budget across every node rather than one per node.

Knows no HTTP: the API's auth dependency asks, and turns a wait into its 429.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from golive.accounts.attempt_store import AttemptCounter, AttemptStore

__all__ = ["AUTH_FAILURES_PER_MINUTE", "ApiRateLimit"]

log = logging.getLogger("golive.accounts")

WINDOW = 60.0
# Unknown tokens one address may try per minute: real clients rarely send one; a script
# probing for tokens (or hammering the token lookup) is held to one a second.
AUTH_FAILURES_PER_MINUTE = 60
# A refused key is logged once per this many seconds, not once per refused request.
_LOG_EVERY = 60.0
_LOGGED_KEYS = 10_000


class ApiRateLimit:
    def __init__(
        self,
        store: AttemptStore,
        per_minute: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._per_minute = per_minute
        self._clock = clock
        self._logged: dict[str, float] = {}

    async def take(self, token_id: int) -> float:
        """Count a request of the token: 0 when counted, else the seconds to wait."""
        limit = self._per_minute()
        if limit <= 0:
            return 0.0
        counter = self._store.counter("api-token", limit=limit, window=WINDOW)
        wait = await counter.take(str(token_id))
        if wait > 0:
            self._log(f"token {token_id}", f"over {limit} requests per minute")
        return wait

    async def auth_wait(self, address: str) -> float:
        """Seconds ``address`` must wait after too many unknown tokens (0: none)."""
        return await self._failures().retry_after(address)

    async def auth_failed(self, address: str) -> None:
        """An unknown or revoked token came from ``address``."""
        if await self._failures().take(address) > 0:
            self._log(f"address {address}", f"over {AUTH_FAILURES_PER_MINUTE} unknown tokens")

    def _failures(self) -> AttemptCounter:
        return self._store.counter(
            "api-auth-failure", limit=AUTH_FAILURES_PER_MINUTE, window=WINDOW
        )

    def _log(self, who: str, why: str) -> None:
        now = self._clock()
        if now - self._logged.get(who, -_LOG_EVERY) < _LOG_EVERY:
            return
        if len(self._logged) >= _LOGGED_KEYS:
            self._logged.clear()
        self._logged[who] = now
        log.warning("API rate limit: %s refused, %s (logged once a minute)", who, why)
