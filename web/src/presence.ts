/**
 * The watch page's presence beacon: while hls.js plays a live channel, a bodiless POST to
 * `<channel>/presence` every PRESENCE_MS, carrying the same CMCD session id hls.js puts on
 * its playlist requests. Straight to the origin, the playlist requests already count this
 * player and the beacon changes nothing (one session id); behind a caching edge, which
 * collapses every player's playlist requests into its own and is not counted itself, the
 * beacon (a POST, never cached) is how the origin sees each player (docs/viewers.md).
 */

/** Well inside the server's viewer_expiry (30 s by default). */
const PRESENCE_MS = 10_000;

/** A random CMCD session id for one page load (CTA-5004: up to 64 characters). */
export function newSessionId(): string {
  return crypto.randomUUID();
}

export class Presence {
  private timer: number | null = null;

  constructor(private readonly sessionId: string) {}

  /** Beacons for the channel of `playlist` (a live playlist URL) until `stop`. */
  start(playlist: string): void {
    this.stop();
    const url = new URL("presence", new URL(playlist, window.location.href));
    url.search = new URLSearchParams({ CMCD: `sid="${this.sessionId}"` }).toString();
    const send = (): void => {
      // keepalive: the last beacon still leaves when the page is closing; failures are
      // harmless (the next one, or the playlist requests, count the player).
      fetch(url, { method: "POST", keepalive: true, credentials: "same-origin" }).catch(() => {});
    };
    send();
    this.timer = window.setInterval(send, PRESENCE_MS);
  }

  stop(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  }
}
