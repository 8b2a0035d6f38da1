"""The server's transcoders: one per live stream, all stopped and reaped at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from functools import cache

from golive.live.hub import StreamHub
from golive.transcode.ladder import PASSTHROUGH_LADDER, Rung, RungKind, with_h264_fallback
from golive.transcode.transcoder import RenditionOutputs, StreamTranscoder, TranscoderSettings

__all__ = ["TranscodeService", "ffmpeg_binary"]

log = logging.getLogger("golive.transcode")


@cache
def _bundled_ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_binary(configured: str = "") -> str:
    """The configured ffmpeg, or the one the imageio-ffmpeg wheel ships."""
    return configured or _bundled_ffmpeg()


class TranscodeService:
    """Makes the transcoder of each new stream and keeps track of the running ones.

    At most ``limit`` streams (``admit``'s argument, 0 for no limit) are transcoded at once;
    a stream that starts beyond it gets the passthrough ladder. A slot is held from the
    stream's start until its transcoder has finished or failed for good; a stream served
    passthrough is not upgraded later when a slot frees up.

    Every stream gets a transcoder, passthrough ones included: its ladder ends in the H.264
    fallback rung, which it encodes only for a source that is not H.264 and would otherwise
    have no H.264 rendition (see ladder.py). Such a transcoder holds no slot: for an H.264
    source it never starts a child, and an HEVC or AV1 stream must be playable everywhere
    even when the cap is reached.
    """

    def __init__(self) -> None:
        self._running: set[StreamTranscoder] = set()

    def admit(self, hub: StreamHub, ladder: Sequence[Rung], *, limit: int) -> list[Rung]:
        """The ladder ``hub`` gets: ``ladder``, or passthrough when ``limit`` streams are
        already transcoded (the reason is logged and kept in the stream's health)."""
        if not _encodes(ladder) or limit <= 0:
            return list(ladder)
        holding = self._holding()
        if holding < limit:
            return list(ladder)
        reason = f"max_transcoders ({limit}) reached"
        hub.health.transcode.capped = reason
        log.warning(
            "%d streams are being transcoded already: serving this one passthrough (%s)",
            holding,
            reason,
            extra=hub.log_extra,
        )
        # The passthrough ladder keeps the audio-only variant whatever the channel's ladder.
        return list(PASSTHROUGH_LADDER)

    def _holding(self) -> int:
        self._running = {t for t in self._running if not t.finished}
        return sum(1 for t in self._running if t.health.failed is None and _encodes(t.ladder))

    def start(
        self,
        hub: StreamHub,
        outputs: RenditionOutputs,
        *,
        ladder: Sequence[Rung],
        settings: TranscoderSettings,
    ) -> StreamTranscoder:
        """The stream's transcoder: ``ladder`` and the H.264 fallback rung."""
        self._running = {t for t in self._running if not t.finished}
        transcoder = StreamTranscoder(
            with_h264_fallback(ladder),
            outputs,
            settings,
            hub.health.transcode,
            log_extra=hub.log_extra,
        )
        self._running.add(transcoder)
        return transcoder

    @property
    def running(self) -> list[StreamTranscoder]:
        return list(self._running)

    async def close(self) -> None:
        """End every transcoder and wait until each child is reaped."""
        running, self._running = self._running, set()
        results = await asyncio.gather(*(t.aclose() for t in running), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("transcoder did not close cleanly: %r", result)

    def kill_all(self) -> None:
        """Last resort (shutdown past its deadline): kill every child now."""
        for transcoder in self._running:
            with contextlib.suppress(Exception):
                transcoder.kill()


def _encodes(ladder: Sequence[Rung]) -> bool:
    return any(r.kind is RungKind.VIDEO for r in ladder)
