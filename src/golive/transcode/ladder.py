"""The rendition ladder of a channel, and what it becomes for one source.

A ladder is a list of rungs: the source passed through, encoded video rungs (a size, a frame
rate and a bitrate), and the audio-only rendition. :func:`plan_ladder` turns it into the
renditions worth encoding for a given source: rungs at or above the source's size are skipped,
sizes keep the source's aspect ratio with even dimensions, and the orientation follows the
source (a rung's ``height`` is the short side, so 720 means 1280x720 or 720x1280).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from golive.media.frame import Track

__all__ = [
    "DEFAULT_LADDER",
    "PASSTHROUGH_LADDER",
    "EncodedRendition",
    "LadderPlan",
    "Rung",
    "RungKind",
    "plan_ladder",
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
        if self.kind is RungKind.VIDEO:
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

    @property
    def most_expensive(self) -> EncodedRendition | None:
        return max(self.encoded, key=lambda r: r.cost, default=None)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def plan_ladder(
    rungs: Sequence[Rung], video: Track | None, *, exclude: Collection[str] = ()
) -> LadderPlan:
    """The renditions to produce for a source with ``video`` (None for audio-only streams).

    Rungs named in ``exclude`` (shed for lack of CPU) and rungs whose short side is at or
    above the source's are left out.
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
        if width >= height:
            size = (_even(width * rung.height / height), rung.height)
        else:
            size = (rung.height, _even(height * rung.height / width))
        encoded.append(EncodedRendition(rung.name, *size, rung.fps, rung.bitrate))
    encoded.sort(key=lambda r: -r.cost)
    return LadderPlan(tuple(encoded), audio_only)
