"""The WHIP endpoint's ingest side: offers in, publishes admitted, sessions kept and ended.

``publish`` takes what the HTTP layer read (the offer's bytes, the bearer token, the
client's address) and answers with a ``WhipReply``: 201 with the SDP answer and the new
session's id, or a refusal (admission_answer.py) — each refusal logged once here, with the
stream key masked. The number of sessions is bounded (``WhipLimits.max_sessions``), counting
those still being admitted or negotiated.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from golive.ingest.rtmp.redaction import mask_key
from golive.ingest.whip.admission_answer import WhipRefusal, refusal_for
from golive.ingest.whip.offer_check import OfferRefused, check_offer
from golive.ingest.whip.whip_session import StreamSink, WhipLimits, WhipSession
from golive.live.publish_admission import AdmissionRefused, PublishAttempt

__all__ = ["WhipReply", "WhipSessions"]

log = logging.getLogger("golive.ingest.whip")

_NEGOTIATION_TIMEOUT = 10.0


@dataclass(frozen=True)
class WhipReply:
    """What the HTTP layer answers: status, body (the SDP answer or a message), headers."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    session_id: str | None = None  # for a 201: the resource's last path segment


class WhipSessions:
    def __init__(
        self,
        admit: Callable[[PublishAttempt], Awaitable[StreamSink]],
        limits: Callable[[], WhipLimits] = WhipLimits,
    ) -> None:
        self._admit = admit
        self._limits = limits
        self._sessions: dict[str, WhipSession] = {}
        self._closing = False

    @property
    def count(self) -> int:
        return len(self._sessions)

    async def publish(self, offer: bytes, bearer: str | None, remote_addr: str) -> WhipReply:
        limits = self._limits()
        if self._closing:
            return _refused(WhipRefusal.unavailable("server is shutting down"), remote_addr)
        if len(self._sessions) >= limits.max_sessions:
            return _refused(
                WhipRefusal.unavailable(
                    f"too many WHIP sessions ({limits.max_sessions}): try again later", 10
                ),
                remote_addr,
            )
        if not bearer:
            return _refused(
                WhipRefusal.unauthorized(
                    "no stream key: send it as the bearer token (Authorization: Bearer <key>)"
                ),
                remote_addr,
            )
        try:
            checked = check_offer(offer)
        except OfferRefused as refused:
            return _refused(WhipRefusal(refused.status, refused.message), remote_addr, bearer)
        session = WhipSession(
            secrets.token_urlsafe(18),
            checked,
            remote_addr=remote_addr,
            limits=limits,
            on_end=self._ended,
        )
        self._sessions[session.id] = session
        try:
            async with asyncio.timeout(_NEGOTIATION_TIMEOUT):
                await session.negotiate()
        except (ValueError, TimeoutError) as exc:
            session.end("offer refused")
            return _refused(WhipRefusal(400, str(exc) or "negotiation timed out"), remote_addr)
        except BaseException:
            session.end("offer refused: internal error")
            raise
        try:
            sink = await self._admit(
                PublishAttempt(
                    stream_key=bearer,
                    remote_addr=remote_addr,
                    disconnect=session.end,
                    protocol="whip",
                    codecs=checked.codecs,
                )
            )
        except AdmissionRefused as refused:
            session.end("publish refused")
            return _refused(refusal_for(refused.reason, refused.message), remote_addr, bearer)
        except BaseException:
            session.end("publish refused: internal error")
            raise
        log_extra: dict[str, object] = dict(getattr(sink, "log_extra", {}))
        session.admitted(sink, log_extra)
        try:
            async with asyncio.timeout(_NEGOTIATION_TIMEOUT):
                await session.prepare_audio()
                answer = await session.answer()
        except (ValueError, TimeoutError) as exc:
            # The admission's publisher is let go: the stream goes as if it dropped.
            session.end(f"negotiation failed: {exc}")
            return _refused(WhipRefusal(400, str(exc) or "negotiation failed"), remote_addr)
        except BaseException:
            session.end("negotiation failed: internal error")
            raise
        if session.ended is not None:
            return _refused(WhipRefusal(409, f"publish ended: {session.ended}"), remote_addr)
        log.info(
            "WHIP publish from %s accepted (session %s…)",
            remote_addr,
            session.id[:6],
            extra=log_extra,
        )
        return WhipReply(
            201,
            answer,
            {"content-type": "application/sdp", "etag": f'"{session.id[:12]}"'},
            session_id=session.id,
        )

    def end(self, session_id: str) -> bool:
        """The publisher's DELETE: whether there was such a session."""
        session = self._sessions.get(session_id)
        if session is None:
            return False
        session.end("publisher ended the session")
        return True

    async def close(self) -> None:
        """Ends every session (server stopping) and waits for their connections to close."""
        self._closing = True
        sessions = list(self._sessions.values())
        for session in sessions:
            session.end("server is shutting down")
        if sessions:
            await asyncio.gather(
                *(asyncio.wait_for(s.closed(), 5.0) for s in sessions), return_exceptions=True
            )

    def _ended(self, session: WhipSession) -> None:
        self._sessions.pop(session.id, None)


def _refused(refusal: WhipRefusal, remote_addr: str, key: str | None = None) -> WhipReply:
    hint = f" (key {mask_key(key)})" if key else ""
    log.warning(
        "WHIP publish refused with %d: %s; publisher %s%s",
        refusal.status,
        refusal.message,
        remote_addr,
        hint,
    )
    return WhipReply(
        refusal.status,
        refusal.message + "\n",
        {"content-type": "text/plain; charset=utf-8", **refusal.headers},
    )
