/**
 * The watch page's "Low latency (WebRTC)" switch: plays the channel over WHEP
 * (whep-client.ts) instead of LL-HLS, and falls back to LL-HLS, saying why, when the server
 * refuses, ICE fails or no frame comes within 5 s (plus the stream's keyframe interval: a
 * viewer starts at the stream's next keyframe, so the picture may take that long to appear).
 */
import { WhepClient, WhepError } from "./whep-client";

/** The HLS player, as this switch drives it (player.ts's WatchPage). */
export interface HlsPlayback {
  /** Stops HLS playback: WebRTC takes the video element. */
  suspend(): void;
  /** Starts HLS playback again. */
  resume(): void;
  /** "webrtc" while WebRTC plays (the page's stats.mode). */
  setMode(mode: "webrtc" | null): void;
}

export class WebrtcMode {
  private client: WhepClient | null = null;
  /** Bumped on every switch, so a start that finishes late knows it is stale. */
  private attempt = 0;

  constructor(
    private readonly toggle: HTMLInputElement,
    private readonly status: HTMLElement,
    private readonly endpoint: string,
    private readonly video: HTMLVideoElement,
    private readonly hls: HlsPlayback,
  ) {
    // Leaving the page ends the session (a DELETE sent with keepalive).
    window.addEventListener("pagehide", () => this.client?.stop());
    toggle.addEventListener("change", () => {
      if (toggle.checked) {
        void this.enable();
      } else {
        this.disable("");
      }
    });
  }

  get active(): boolean {
    return this.client !== null;
  }

  async enable(): Promise<void> {
    const attempt = ++this.attempt;
    this.toggle.checked = true;
    this.hls.suspend();
    this.say("Connecting over WebRTC…");
    const client = new WhepClient(this.endpoint, this.video, (reason) => {
      if (attempt === this.attempt) {
        this.fallBack(reason);
      }
    });
    this.client = client;
    try {
      const started = await client.start();
      if (attempt !== this.attempt) {
        return;
      }
      this.hls.setMode("webrtc");
      const from = started.source === "source" ? "" : ` · ${started.source}`;
      this.say(`Low latency: playing over WebRTC${from}`);
    } catch (error) {
      if (attempt === this.attempt) {
        this.fallBack(error instanceof WhepError ? error.message : String(error));
      }
    }
  }

  private fallBack(reason: string): void {
    this.disable(`WebRTC is not available (${reason}): playing LL-HLS`);
  }

  disable(message: string): void {
    this.attempt += 1;
    this.toggle.checked = false;
    this.client?.stop();
    this.client = null;
    this.hls.setMode(null);
    this.hls.resume();
    this.say(message);
  }

  private say(text: string): void {
    this.status.textContent = text;
    this.status.hidden = text === "";
  }
}
