"""Which WebRTC sessions have run out of time to connect (clock injected, no I/O).

A WHEP POST costs a peer connection, its ports and its queues before the client has proved
anything; a client that never completes ICE and DTLS must not keep them. Each session gets
``timeout`` seconds from its offer to connect.
"""

from __future__ import annotations

__all__ = ["ConnectDeadlines"]


class ConnectDeadlines:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._deadlines: dict[str, float] = {}

    def opened(self, session: str, now: float) -> None:
        self._deadlines[session] = now + self.timeout

    def connected(self, session: str) -> None:
        self._deadlines.pop(session, None)

    forget = connected

    def expired(self, now: float) -> list[str]:
        """The sessions past their deadline (forgotten here; the caller closes them)."""
        late = [s for s, deadline in self._deadlines.items() if now >= deadline]
        for session in late:
            del self._deadlines[session]
        return late

    def __len__(self) -> int:
        return len(self._deadlines)
