"""Puts the Frames of an MPEG-TS publisher in decode-time order across its tracks.

A TS muxer writes each elementary stream's PES when it has one ready, so an audio PES (many
AAC frames) commonly arrives after video frames that start later: ffmpeg's mpegts muxer is
0.02-0.5 s "late" on audio. The live layer takes a publisher's first frame as the start of
its timeline and expects frames in time order across tracks, as FLV gives them, so frames
are held here until every track has reached their time, and released in order.

The tracks are learnt from the stream: its first frames are held until a video and an audio
track are both known (an audio track's first PES may come after several video frames), or
for ``max_hold`` seconds of media when the stream has one track only. A track that goes
quiet must not stall the others: a frame is also released once the held frames span more
than ``max_hold`` seconds. A changed Track (new parameter sets) releases everything held
first. Sans-I/O: Tracks and Frames in, out.
"""

from __future__ import annotations

import heapq
import itertools

from golive.media.frame import Frame, Track

__all__ = ["FrameInterleaver"]


class FrameInterleaver:
    def __init__(self, max_hold: float = 1.0) -> None:
        self._max_hold = max_hold
        self._timescales: dict[int, int] = {}
        self._latest: dict[int, float] = {}  # per track: the time of its newest frame
        self._held: list[tuple[float, int, Frame]] = []  # heap by time, then arrival
        self._order = itertools.count()
        self._started = False

    def track(self, track: Track) -> list[Track | Frame]:
        """A new track, or a changed one (then everything held goes first)."""
        out: list[Track | Frame] = list(self.flush()) if track.id in self._timescales else []
        self._timescales[track.id] = track.timescale
        out.append(track)
        return out

    def frame(self, frame: Frame) -> list[Frame]:
        """The frames that can go now, in decode-time order."""
        scale = self._timescales.get(frame.track_id)
        if scale is None:  # no Track: nothing downstream could take it anyway
            return [frame]
        t = frame.dts / scale
        self._latest[frame.track_id] = max(t, self._latest.get(frame.track_id, t))
        heapq.heappush(self._held, (t, next(self._order), frame))
        # Every track with frames has reached this time: earlier frames are complete.
        all_tracks = len(self._latest) == len(self._timescales)
        # Until both kinds are known, another track may still announce itself.
        self._started = self._started or len(self._timescales) >= 2
        ready_until = min(self._latest.values()) if all_tracks and self._started else None
        newest = max(self._latest.values())
        out: list[Frame] = []
        while self._held:
            t0 = self._held[0][0]
            if (ready_until is not None and t0 <= ready_until) or newest - t0 > self._max_hold:
                out.append(heapq.heappop(self._held)[2])
            else:
                break
        return out

    def flush(self) -> list[Frame]:
        """Everything held, in order (the stream ends, or its tracks change)."""
        out = [heapq.heappop(self._held)[2] for _ in range(len(self._held))]
        return out
