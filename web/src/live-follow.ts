/**
 * Whether the viewer follows the live edge or watches behind it on purpose (DVR), which
 * decides both the "LIVE" / "-12:34" indicator and the pacing (live-pace.ts: only a viewer
 * who follows is caught up to the target latency).
 *
 * The viewer goes behind by seeking back, or by pausing and resuming later than the slack
 * allows: playback then goes on from where it was, at rate 1 (as on Twitch), rather than
 * jumping. They follow again by jumping to live, by seeking to (within EDGE_SLACK_S of) the
 * live position, or when the playhead reaches it by itself.
 *
 * Seeks are told apart by where they land and which way they went, since the page cannot
 * tell the viewer's seeks (its seek bar, the browser's own controls) from hls.js's (start-up,
 * gap jumps and stall nudges, forward; a level switch's nudge, a millisecond back): a seek
 * back that lands behind the slack puts the viewer behind; a seek that lands within it puts
 * them at the edge; a seek forward that still lands behind changes nothing. So a viewer who
 * follows keeps following through every seek hls.js makes, and pacing at the edge is
 * exactly what it was before the seek bar existed.
 *
 * Times are "seconds behind the live position": the distance from the playhead to where a
 * viewer at the edge plays (the edge minus the target latency), as live-range.ts measures it.
 */

/** Seconds behind the live position still counted as live (a short pause, a stall). */
export const EDGE_SLACK_S = 1.0;
/** A seek that moves the playhead back by less than this is not a move back (hls.js nudges). */
export const BACK_SEEK_MIN_S = 0.5;

export class LiveFollow {
  private followingEdge = true;
  private wasPaused = false;

  /** True while pacing chases the live edge and the indicator says "LIVE". */
  get following(): boolean {
    return this.followingEdge;
  }

  /** A new playback session, or "jump to live": follow the edge. */
  follow(): void {
    this.followingEdge = true;
    this.wasPaused = false;
  }

  /** A seek from `from` to `to` (media times) ended `behind` seconds behind the live position. */
  seeked(from: number, to: number, behind: number): void {
    if (!Number.isFinite(behind)) {
      return;
    }
    if (behind <= EDGE_SLACK_S) {
      this.followingEdge = true;
    } else if (to < from - BACK_SEEK_MIN_S) {
      this.followingEdge = false;
    }
  }

  /** The viewer paused playback (the page never pauses by itself). */
  paused(): void {
    this.wasPaused = true;
  }

  /** Playback resumed, `behind` seconds behind the live position. */
  resumed(behind: number): void {
    if (!this.wasPaused) {
      return;
    }
    this.wasPaused = false;
    if (Number.isFinite(behind)) {
      this.followingEdge = behind <= EDGE_SLACK_S;
    }
  }

  /** A periodic sample while playing: a viewer behind who reached the live position follows. */
  sample(behind: number): void {
    if (!this.followingEdge && !this.wasPaused && behind <= EDGE_SLACK_S) {
      this.followingEdge = true;
    }
  }
}
