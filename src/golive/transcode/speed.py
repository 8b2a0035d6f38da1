"""How fast a transcoder keeps up: media time in and out against the wall clock."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["TranscodeSpeed"]


class TranscodeSpeed:
    """Measures one encoder process continuously.

    The caller reports the media time (seconds) of each frame written to the encoder and of
    each frame that comes back, per rendition. ``lag`` is the newest input time minus the
    newest output time of the slowest rendition; ``speed`` is how many media seconds the
    slowest rendition advanced per wall-clock second over the last ``window`` seconds (1.0 is
    real time). Both are None until the first output, and reset with :meth:`reset`.
    """

    def __init__(self, *, window: float = 4.0, clock: Callable[[], float] = time.monotonic):
        self._window = window
        self._clock = clock
        self._input: float | None = None
        self._outputs: dict[str, float] = {}
        self._samples: deque[tuple[float, float]] = deque()

    def reset(self) -> None:
        self._input = None
        self._outputs.clear()
        self._samples.clear()

    def forget(self, rendition: str) -> None:
        self._outputs.pop(rendition, None)

    def input(self, media_time: float) -> None:
        if self._input is None or media_time > self._input:
            self._input = media_time

    def output(self, rendition: str, media_time: float) -> None:
        last = self._outputs.get(rendition)
        if last is None or media_time > last:
            self._outputs[rendition] = media_time

    @property
    def output_time(self) -> float | None:
        return min(self._outputs.values()) if self._outputs else None

    @property
    def lag(self) -> float | None:
        out = self.output_time
        if out is None or self._input is None:
            return None
        return max(0.0, self._input - out)

    def sample(self) -> float | None:
        """Record the current output time; return the speed over the window (None if short)."""
        out = self.output_time
        if out is None:
            return None
        now = self._clock()
        samples = self._samples
        samples.append((now, out))
        while len(samples) > 2 and now - samples[1][0] >= self._window:
            samples.popleft()
        then, out_then = samples[0]
        if now - then < self._window / 2:
            return None
        return (out - out_then) / (now - then)
