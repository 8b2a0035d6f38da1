"""The transcoder's renditions, also given to a stream's WebRTC source.

Sits between the transcoder and the packager (both speak the transcoder's
``RenditionOutputs`` interface): every rendition still goes to the packager, and its frames
also to the ``WhepSource``, which uses the highest one when the source has B-frames.
Neither side knows the tee is there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from golive.live.consumer import StreamConsumer
from golive.media.frame import Frame, Track
from golive.webrtc.whep_source import WhepSource

__all__ = ["RenditionTee"]

log = logging.getLogger("golive.webrtc")

_T = TypeVar("_T")


class Rendition(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def height(self) -> int: ...


class RenditionTarget(Protocol):
    """The packager, as the transcoder sees it."""

    def open_rendition(self, rendition: Rendition) -> StreamConsumer: ...

    def close_rendition(self, name: str) -> None: ...


class RenditionTee:
    def __init__(self, target: RenditionTarget, source: WhepSource) -> None:
        self._target = target
        self._source = source

    def open_rendition(self, rendition: Rendition) -> StreamConsumer:
        packaged = self._target.open_rendition(rendition)
        webrtc = self._source.rendition_input(rendition.name, rendition.height)
        return _Both(packaged, webrtc)

    def close_rendition(self, name: str) -> None:
        self._target.close_rendition(name)
        self._source.rendition_closed(name)


class _Both:
    """Tracks and frames to the packager first (its failures are the transcoder's to log),
    then to the WebRTC source."""

    def __init__(self, first: StreamConsumer, second: StreamConsumer) -> None:
        self._first = first
        self._second = second

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self._first.on_tracks(tracks)
        self._guarded(self._second.on_tracks, tracks)

    def on_frame(self, frame: Frame) -> None:
        self._first.on_frame(frame)
        self._guarded(self._second.on_frame, frame)

    def on_discontinuity(self) -> None:
        self._first.on_discontinuity()
        self._second.on_discontinuity()

    def on_end(self) -> None:
        self._first.on_end()
        self._second.on_end()

    @staticmethod
    def _guarded(method: Callable[[_T], None], arg: _T) -> None:
        # WebRTC viewers must never cost the HLS rendition a frame.
        try:
            method(arg)
        except Exception:
            log.exception("WebRTC rendition input failed")
