/**
 * The range a live viewer can seek over, in media seconds: from the oldest media the playlist
 * still lists (the live window, or the whole session with the DVR playlist) to the live
 * position, where a viewer at the edge plays.
 *
 * With hls.js the range comes from the playlist itself: `video.seekable` is [0, duration]
 * under MSE, whatever the window. The live position is the estimated edge (the playlist's
 * edge plus the time since it last grew, as hls.js estimates it for `hls.latency`) minus the
 * target latency, so that "seconds behind" is `hls.latency - hls.targetLatency` and a viewer
 * at the edge is about 0 behind. With the browser's own HLS, `video.seekable` is the window.
 */
import type Hls from "hls.js";

export interface LiveRange {
  /** The oldest media time that can be played. */
  start: number;
  /** Where a viewer at the live edge plays now. */
  live: number;
  /** The playhead. */
  current: number;
}

/** Seconds from the playhead to the live position (0 at or past it). */
export function behindLive(range: LiveRange): number {
  return Math.max(0, range.live - range.current);
}

/** The range of a live stream hls.js plays; null before its playlist, or once it ended. */
export function hlsRange(hls: Hls, video: HTMLVideoElement): LiveRange | null {
  const details = hls.latestLevelDetails;
  if (details === null || !details.live || details.fragments.length === 0) {
    return null;
  }
  const target = hls.targetLatency ?? 0;
  const start = details.fragmentStart;
  const live = Math.max(start, details.edge + details.age - target);
  return { start, live, current: video.currentTime };
}

/** The range of a live stream the browser plays itself, from `video.seekable`. */
export function seekableRange(video: HTMLVideoElement): LiveRange | null {
  const seekable = video.seekable;
  if (seekable.length === 0) {
    return null;
  }
  const start = seekable.start(0);
  const live = seekable.end(seekable.length - 1);
  if (!Number.isFinite(start) || !Number.isFinite(live) || live <= start) {
    return null;
  }
  return { start, live, current: video.currentTime };
}
