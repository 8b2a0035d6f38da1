"""Whether a publisher may go live, whatever protocol it came by.

Every ingest protocol (RTMP today; SRT and WHIP are to come) describes its publisher as a
``PublishAttempt`` (the stream key, the address, the codecs when it knows them before any
media) and asks ``PublishAdmission.admit``. The answer is the stream's sink, or
``AdmissionRefused`` with a ``RefusalReason`` and a message for the publisher; each protocol
turns a reason into its own wire answer (RTMP: ``NetStream.Publish.BadName`` or ``.Rejected``,
ingest/rtmp/admission_answer.py; WHIP would say 401, 409 or 503).

The checks, in order, each with its log line:

1. the server is shutting down;
2. the address is cooling down after too many failed attempts (before the key is looked at:
   a guesser learns nothing from a hit);
3. the stream key names a channel (a miss counts as a failed attempt);
4. the codecs, when the protocol knows them already, are ones golive takes;
5. the operator's on_publish hook, if any, agrees;
6. nobody else publishes the channel, on this node or (in a cluster) any other: the channel's
   publish lease is taken here (live/channel_claims.py); a node taking a channel over from a
   dead one first adopts the recording it left open;
7. the registry opens the publisher.

``PublishAdmission.check`` answers checks 1 to 4, and whether a publisher is already on the
channel here, with no side effect (nothing goes live, no hook is asked): SRT asks it during
its handshake, which libsrt may still fail afterwards (the passphrase), and admits once the
connection is made.

Knows no wire format, database or HTTP: the channel lookup, the hook and the recording's
adoption are handed in by the composition root.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from golive.live.channel_claims import ChannelBusy, ChannelClaims, ClaimsUnavailable
from golive.live.publish_attempts import PublishAttempts, peer_host
from golive.live.publisher import PublisherSession
from golive.live.registry import AlreadyPublishing, StreamRegistry
from golive.live.stream_key_watch import StreamKeyWatch

__all__ = [
    "SUPPORTED_CODECS",
    "AdmissionRefused",
    "AdmissionUnavailable",
    "AdmittedChannel",
    "PublishAdmission",
    "PublishAttempt",
    "RefusalReason",
]

log = logging.getLogger("golive.live")

# Codecs golive ingests, as the sample-entry FourCCs of ISO BMFF (what CODECS strings start
# with): H.264, HEVC and AV1 video (the latter two are also transcoded to H.264), AAC audio.
SUPPORTED_CODECS = frozenset({"avc1", "hvc1", "av01", "mp4a"})


class RefusalReason(Enum):
    SHUTTING_DOWN = "shutting_down"
    COOLING_DOWN = "cooling_down"  # too many failed attempts from the address
    WRONG_KEY = "wrong_key"
    CODEC_UNSUPPORTED = "codec_unsupported"
    REFUSED_BY_HOOK = "refused_by_hook"
    ALREADY_LIVE = "already_live"
    UNAVAILABLE = "unavailable"  # the database or the cluster state: try again


class AdmissionRefused(Exception):
    """The publisher may not go live: why, and what to tell it."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class AdmissionUnavailable(Exception):
    """Raised by the channel lookup when it cannot answer (the database is down)."""


class AdmittedChannel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def record(self) -> bool: ...


class PublishDecision(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class PublishHook(Protocol):
    """The operator's on_publish approval (webhooks/)."""

    @property
    def enabled(self) -> bool: ...

    async def decide(self, channel: str, data: dict[str, Any]) -> PublishDecision: ...


@dataclass(frozen=True)
class PublishAttempt:
    """A publisher asking to go live."""

    stream_key: str  # never log it whole
    remote_addr: str  # "host:port"
    disconnect: Callable[[str], None]  # ends the publish later, with a reason for the client
    protocol: str = "rtmp"
    # The codecs the publisher will send, when the protocol says before any media (WHIP's
    # SDP offer); None when only the media will tell (RTMP, SRT).
    codecs: frozenset[str] | None = None
    # What the protocol adds for the on_publish hook (RTMP: the application name).
    details: Mapping[str, Any] = field(default_factory=dict)


class PublishAdmission:
    def __init__(
        self,
        *,
        lookup: Callable[[str], Awaitable[AdmittedChannel | None]],
        attempts: PublishAttempts,
        claims: ChannelClaims,
        registry: StreamRegistry,
        key_watch: StreamKeyWatch,
        key_hash: Callable[[str], str],
        key_hint: Callable[[str], str],
        hook: Callable[[], PublishHook | None] = lambda: None,
        adopt: Callable[[str], Awaitable[None]] | None = None,
        shutting_down: Callable[[], bool] = lambda: False,
        channel_records: MutableMapping[str, bool] | None = None,
        supported_codecs: frozenset[str] = SUPPORTED_CODECS,
    ) -> None:
        """``lookup``: the channel a stream key names (raises AdmissionUnavailable when it
        cannot tell); ``adopt``: in a cluster, called with a channel this node just took the
        lease of and does not have live, to continue the recording another node left open;
        ``channel_records``: where the channel's record flag is left, under its name, while
        the registry opens the publisher (the consumer factory reads it)."""
        self._lookup = lookup
        self._attempts = attempts
        self._claims = claims
        self._registry = registry
        self._key_watch = key_watch
        self._key_hash = key_hash
        self._key_hint = key_hint
        self._hook = hook
        self._adopt = adopt
        self._shutting_down = shutting_down
        self._records: MutableMapping[str, bool] = (
            channel_records if channel_records is not None else {}
        )
        self._codecs = supported_codecs

    async def check(self, attempt: PublishAttempt) -> None:
        """Raise the AdmissionRefused that ``admit`` would, as far as that can be told
        without side effects: checks 1 to 4, and a publisher already on this channel here.

        Changes nothing a refused ``admit`` would not (a wrong key counts as a failed
        attempt): no hook call, no lease, no registry change. For a protocol that has more
        to verify after asking (SRT's passphrase comes after its listen callback), so that
        bad input does not make the channel live even for a moment; ``admit`` follows once
        the connection is made, and may still refuse (a race, the hook)."""
        channel = await self._vetted(attempt)
        if self._registry.publisher(channel.name) is not None:
            raise self._already_live(channel.name, attempt)

    async def admit(self, attempt: PublishAttempt) -> PublisherSession:
        """The publisher's sink, or AdmissionRefused."""
        channel = await self._vetted(attempt)
        await self._approve(channel.name, attempt)
        claimed = await self._claim(channel.name, attempt)
        if claimed and self._adopt is not None and self._registry.hub(channel.name) is None:
            await self._adopt(channel.name)
        self._records[channel.name] = channel.record
        try:
            sink = self._registry.open_publisher(channel.name, disconnect=attempt.disconnect)
        except AlreadyPublishing:
            if claimed:
                self._claims.abandon(channel.name)
            raise self._already_live(channel.name, attempt) from None
        finally:
            self._records.pop(channel.name, None)
        self._key_watch.published(channel.name, self._key_hash(attempt.stream_key))
        return sink

    async def _vetted(self, attempt: PublishAttempt) -> AdmittedChannel:
        """Checks 1 to 4: the channel the attempt's key names, or AdmissionRefused."""
        if self._shutting_down():
            raise AdmissionRefused(RefusalReason.SHUTTING_DOWN, "server is shutting down")
        host = peer_host(attempt.remote_addr)
        wait = await self._attempts.retry_after(host)
        if wait > 0:
            log.warning(
                "publish refused: %s is cooling down after too many failed publish attempts "
                "(%.0f s left)",
                attempt.remote_addr,
                wait,
            )
            raise AdmissionRefused(
                RefusalReason.COOLING_DOWN,
                f"Too many failed publish attempts: try again in {math.ceil(wait)} s",
            )
        channel = await self._channel(attempt, host)
        if attempt.codecs is not None and not attempt.codecs <= self._codecs:
            unsupported = ", ".join(sorted(attempt.codecs - self._codecs))
            log.warning(
                "publish refused: channel %s: unsupported codecs %s from %s",
                channel.name,
                unsupported,
                attempt.remote_addr,
            )
            raise AdmissionRefused(
                RefusalReason.CODEC_UNSUPPORTED,
                f"Unsupported codec: {unsupported} (golive takes "
                f"{', '.join(sorted(self._codecs))})",
            )
        return channel

    def _already_live(self, channel: str, attempt: PublishAttempt) -> AdmissionRefused:
        log.warning(
            "publish refused: channel %s is already live (second publisher from %s)",
            channel,
            attempt.remote_addr,
        )
        return AdmissionRefused(RefusalReason.ALREADY_LIVE, f"Channel {channel} is already live")

    async def _channel(self, attempt: PublishAttempt, host: str) -> AdmittedChannel:
        try:
            channel = await self._lookup(attempt.stream_key)
        except AdmissionUnavailable as exc:
            # Running streams go on; new ones wait until the database is back.
            log.error(
                "publish refused: the database is unavailable (%s); publisher %s",
                exc,
                attempt.remote_addr,
            )
            raise AdmissionRefused(
                RefusalReason.UNAVAILABLE, "Database unavailable: try again in a few seconds"
            ) from None
        if channel is not None:
            return channel
        log.warning(
            "publish refused: unknown stream key %s… from %s",
            self._key_hint(attempt.stream_key),
            attempt.remote_addr,
        )
        if await self._attempts.failed(host):
            limits = self._attempts.limits
            log.warning(
                "publish: %s failed %d times within %g s: refusing it for %g s",
                host,
                limits.limit,
                limits.window,
                limits.cooldown,
            )
        raise AdmissionRefused(RefusalReason.WRONG_KEY, "Invalid stream key")

    async def _approve(self, channel: str, attempt: PublishAttempt) -> None:
        hook = self._hook()
        if hook is None or not hook.enabled:
            return
        hub = self._registry.hub(channel)
        decision = await hook.decide(
            channel,
            {
                **attempt.details,
                "remote_addr": attempt.remote_addr,
                "stream_key_hint": self._key_hint(attempt.stream_key),
                "resumes_stream": hub.stream_id if hub is not None else None,
            },
        )
        if not decision.allowed:
            raise AdmissionRefused(RefusalReason.REFUSED_BY_HOOK, decision.reason)

    async def _claim(self, channel: str, attempt: PublishAttempt) -> bool:
        try:
            return await self._claims.claim(channel)
        except ChannelBusy as busy:
            log.warning(
                "publish refused: channel %s is already live on %s (publisher from %s)",
                channel,
                busy.holder or "this node",
                attempt.remote_addr,
            )
            raise AdmissionRefused(
                RefusalReason.ALREADY_LIVE, f"Channel {channel} is already live"
            ) from None
        except ClaimsUnavailable as exc:
            log.error(
                "publish refused: channel %s: cluster state unavailable (%s); publisher %s",
                channel,
                exc,
                attempt.remote_addr,
            )
            raise AdmissionRefused(
                RefusalReason.UNAVAILABLE,
                "Cluster state is unavailable: try again in a few seconds",
            ) from None
