"""The rendition ladder of a channel, and what it becomes for one source.

A ladder is a list of rungs: the source passed through, encoded video rungs (a size, a frame
rate and a bitrate), and the audio-only rendition. :func:`plan_ladder` turns it into the
renditions worth encoding for a given source: rungs at or above the source's size are skipped,
sizes keep the source's aspect ratio with even dimensions, and the orientation follows the
source (a rung's ``height`` is the short side, so 720 means 1280x720 or 720x1280).

Every browser decodes H.264, not every one HEVC or AV1. So a source that is not H.264 always
gets at least one H.264 rendition: when no video rung of the ladder applies (a passthrough
ladder, a stream over max_transcoders, or a source smaller than every rung), the ladder's
fallback rung (:data:`H264_FALLBACK` unless the ladder sets its own) is encoded, at the
source's size when that is smaller than the rung's.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from golive.media.frame import Track

__all__ = [
    "DEFAULT_LADDER",
    "H264_FALLBACK",
    "PASSTHROUGH_LADDER",
    "EncodedRendition",
    "LadderPlan",
    "Rung",
    "RungKind",
    "plan_ladder",
    "with_h264_fallback",
]

# Same rule as the origin's rendition path segment (http/live_media.py).
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
SOURCE_NAME = "source"
AUDIO_NAME = "audio"
# When a rung sets no frame rate, its cost is estimated at this rate.
_DEFAULT_FPS = 30.0


class RungKind(StrEnum):
    SOURCE = "source"  # the publisher's video, remuxed, never re-encoded
    VIDEO = "video"  # an encoded video rendition
    AUDIO = "audio"  # the audio-only variant (the publisher's audio on its own)
    # An H.264 rendition encoded only for a source that is not H.264 and gets no other one.
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Rung:
    """One step of a ladder, as configured.

    ``height`` is the short side in lines, ``fps`` the highest frame rate (a faster source is
    decimated; 0 keeps the source's rate) and ``bitrate`` the target in bits per second,
    which is also the encoder's maxrate, with a one-second VBV buffer.
    """

    name: str
    kind: RungKind = RungKind.VIDEO
    height: int = 0
    fps: float = 0.0
    bitrate: int = 0

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"rung name {self.name!r} must be 1-32 of a-z, 0-9, '_' and '-', "
                "starting with a letter or digit"
            )
        if self.kind in (RungKind.VIDEO, RungKind.FALLBACK):
            if not 16 <= self.height <= 4320 or self.height % 2:
                raise ValueError(f"rung {self.name}: height must be even, 16 to 4320")
            if not 100_000 <= self.bitrate <= 100_000_000:
                raise ValueError(f"rung {self.name}: bitrate must be 100 kbit/s to 100 Mbit/s")
            if not 0 <= self.fps <= 240:
                raise ValueError(f"rung {self.name}: fps must be 0 (source rate) to 240")
            if self.name in (SOURCE_NAME, AUDIO_NAME):
                raise ValueError(f"rung name {self.name!r} is reserved for the {self.name} rung")
        elif self.name != self.kind.value:
            raise ValueError(f"the {self.kind.value} rung must be named {self.kind.value!r}")


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung(SOURCE_NAME, RungKind.SOURCE),
    Rung("720p", RungKind.VIDEO, height=720, fps=30, bitrate=3_000_000),
    Rung("480p", RungKind.VIDEO, height=480, fps=30, bitrate=1_200_000),
    Rung("360p", RungKind.VIDEO, height=360, fps=30, bitrate=700_000),
    Rung(AUDIO_NAME, RungKind.AUDIO),
)
H264_FALLBACK = Rung("h264", RungKind.FALLBACK, height=720, fps=30, bitrate=2_500_000)
PASSTHROUGH_LADDER: tuple[Rung, ...] = (
    Rung(SOURCE_NAME, RungKind.SOURCE),
    Rung(AUDIO_NAME, RungKind.AUDIO),
)


def check_ladder(rungs: Sequence[Rung]) -> None:
    """Raise ValueError unless names are unique and exactly one rung is the source."""
    names = [r.name for r in rungs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"ladder rung names must be unique: {', '.join(duplicates)}")
    if sum(r.kind is RungKind.SOURCE for r in rungs) != 1:
        raise ValueError("a ladder needs exactly one source rung (the source is never dropped)")
    if sum(r.kind is RungKind.FALLBACK for r in rungs) > 1:
        raise ValueError("a ladder has at most one fallback rung")


def with_h264_fallback(rungs: Sequence[Rung]) -> tuple[Rung, ...]:
    """``rungs`` with :data:`H264_FALLBACK` added, unless they have a fallback rung already."""
    if any(r.kind is RungKind.FALLBACK for r in rungs):
        return tuple(rungs)
    fallback = H264_FALLBACK
    names = {r.name for r in rungs}
    if fallback.name in names:  # a video rung named "h264": keep the rendition names unique
        fallback = Rung(
            "h264-fallback", RungKind.FALLBACK, fallback.height, fallback.fps, fallback.bitrate
        )
    return (*rungs, fallback)


@dataclass(frozen=True, slots=True)
class EncodedRendition:
    """A video rung sized for one source: what the encoder is asked to produce."""

    name: str
    width: int
    height: int
    fps: float  # highest frame rate; 0 keeps the source's rate
    bitrate: int

    @property
    def cost(self) -> float:
        """Relative encoding cost: pixels per second at the rung's frame rate."""
        return self.width * self.height * (self.fps or _DEFAULT_FPS)


@dataclass(frozen=True, slots=True)
class LadderPlan:
    """The renditions of one stream: the source, encoded ones, and the audio-only variant."""

    encoded: tuple[EncodedRendition, ...]
    audio_only: bool
    # Why the fallback rung is encoded (the source is not H.264), or None when it is not.
    fallback_reason: str | None = None

    @property
    def most_expensive(self) -> EncodedRendition | None:
        return max(self.encoded, key=lambda r: r.cost, default=None)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _sized(rung: Rung, width: int, height: int, short: int) -> EncodedRendition:
    lines = min(rung.height, short - short % 2)
    if width >= height:
        size = (_even(width * lines / height), lines)
    else:
        size = (lines, _even(height * lines / width))
    return EncodedRendition(rung.name, *size, rung.fps, rung.bitrate)


def plan_ladder(
    rungs: Sequence[Rung], video: Track | None, *, exclude: Collection[str] = ()
) -> LadderPlan:
    """The renditions to produce for a source with ``video`` (None for audio-only streams).

    Rungs named in ``exclude`` (shed for lack of CPU) and rungs whose short side is at or
    above the source's are left out. A fallback rung is planned only for a source that is not
    H.264 and gets no other encoded rendition (see the module docstring).
    """
    audio_only = any(r.kind is RungKind.AUDIO for r in rungs)
    if video is None or video.width <= 0 or video.height <= 0:
        return LadderPlan((), audio_only)
    width, height = video.width, video.height
    short = min(width, height)
    encoded: list[EncodedRendition] = []
    for rung in rungs:
        if rung.kind is not RungKind.VIDEO or rung.name in exclude or rung.height >= short:
            continue
        encoded.append(_sized(rung, width, height, short))
    reason = None
    if not encoded and video.sample_entry != "avc1":
        fallback = next((r for r in rungs if r.kind is RungKind.FALLBACK), None)
        if fallback is not None and fallback.name not in exclude and short >= 16:
            encoded.append(_sized(fallback, width, height, short))
            reason = (
                f"the source is {video.codec}, which not every browser plays, and no other "
                f"rung encodes it to H.264"
            )
    encoded.sort(key=lambda r: -r.cost)
    return LadderPlan(tuple(encoded), audio_only, reason)
