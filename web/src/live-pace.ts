/**
 * The watch page's playback-rate rule for low-latency live: slow down a little when the media
 * ahead of the playhead runs low (a part is late: the source, the server or the network was
 * slower than real time for a moment), speed up a little when playback is behind its target
 * latency with media to spare. A late part then costs some latency instead of a stall.
 *
 * hls.js's own catch-up (maxLiveSyncPlaybackRate) only runs with more than 1 s buffered, never
 * with a sub-second PART-HOLD-BACK, and never slows down; the page turns it off and uses this.
 *
 * Only for a viewer who follows the live edge: one who went back on purpose (a seek back, a
 * pause; live-follow.ts decides) plays at 1 until they jump to live or reach the edge again.
 */

/**
 * Below this much media ahead of the playhead, play slower. Chromium stops (`waiting`) about
 * 0.2 s before the end of what is buffered (its audio renderer holds that much), so this is
 * that plus one 0.2 s part of slack.
 */
export const LOW_AHEAD_S = 0.4;
/** The rate while the media ahead is low: a 0.3 s late part costs 0.03 s of its margin. */
export const SLOW_RATE = 0.9;
/** The rates while behind the target latency: faster the further behind (hls.js's rule too). */
export const MIN_FAST_RATE = 1.05;
export const MAX_FAST_RATE = 1.5;
/** Rate added per second behind the target: 0.5 s behind plays at 1.125, 2 s at 1.5. */
export const FAST_RATE_PER_S = 0.25;
/**
 * Seconds behind the target latency tolerated before catching up. hls.latency runs about
 * 0.15 s above PART-HOLD-BACK on target (the part in flight), and catching up there would
 * only eat the margin.
 */
export const BEHIND_TOLERANCE_S = 0.2;
/** Media ahead needed to catch up: so that catching up never brings the playhead low. */
export const CATCH_UP_AHEAD_S = LOW_AHEAD_S + 0.15;

/**
 * The playback rate for `ahead` seconds of media buffered ahead of the playhead, at `latency`
 * seconds behind the live edge, for a `target` latency (all in seconds). `following` is false
 * while the viewer watches behind the edge on purpose: then 1, neither chasing the edge nor
 * slowing down (their delay is what they chose, and stays what the indicator says).
 */
export function paceRate(ahead: number, latency: number, target: number, following = true): number {
  if (!following) {
    return 1;
  }
  if (ahead < LOW_AHEAD_S) {
    return SLOW_RATE;
  }
  if (latency > target + BEHIND_TOLERANCE_S && ahead > CATCH_UP_AHEAD_S) {
    const behind = latency - target;
    return Math.min(MAX_FAST_RATE, Math.max(MIN_FAST_RATE, 1 + FAST_RATE_PER_S * behind));
  }
  return 1;
}
