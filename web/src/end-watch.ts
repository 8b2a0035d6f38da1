/**
 * Ends playback that stalls at the very end of a recording. A clip or VOD cut across a
 * publisher's reconnect has a hole of a frame or two at the discontinuity, so its media ends
 * a little short of the duration the playlist declares; hls.js then never signals the end of
 * the stream and Chrome waits at the last frame, playing, forever. Within END_SLACK_S of the
 * end with no progress for STUCK_MS, the video is paused and `ended` called (the pages
 * dispatch the element's own "ended" event, so every listener sees one end).
 */
const END_SLACK_S = 0.3;
const STUCK_MS = 1000;
const CHECK_MS = 250;

export function watchForStuckEnd(video: HTMLVideoElement, ended: () => void): void {
  let last = -1;
  let movedAt = performance.now();
  let done = false;
  setInterval(() => {
    const now = performance.now();
    if (video.currentTime !== last) {
      if (video.currentTime < last) {
        done = false; // played again, or sought back
      }
      last = video.currentTime;
      movedAt = now;
      return;
    }
    const left = video.duration - video.currentTime;
    if (!done && !video.paused && !video.ended && Number.isFinite(left) && left < END_SLACK_S && now - movedAt > STUCK_MS) {
      done = true;
      video.pause();
      ended();
    }
  }, CHECK_MS);
}
