/**
 * The golive watch page: plays /live/<channel>/index.m3u8 with hls.js in low-latency mode
 * (or natively where only the browser can play HLS), shows the channel's offline state
 * until the stream is live, and exposes playback statistics on `window.golive` for browser
 * tests and benchmarks.
 *
 * Every piece of text that reaches the page is set with textContent: nothing here builds
 * HTML from data.
 */
import Hls, { type ErrorData, ErrorDetails, ErrorTypes, Events } from "hls.js";
import { ChatPanel } from "./chat-panel";
import { QualityMenu } from "./quality-menu";

/** When to check, after playback starts, that start-up left us near the target latency. */
const SETTLE_AFTER_MS = 3000;
/** How far behind the target latency is tolerated before the one-time seek to the edge. */
const SETTLE_TOLERANCE_S = 0.25;
/** Media left buffered ahead of the playhead after that seek. */
const SETTLE_KEEP_AHEAD_S = 0.5;

/** Same rule as the server's channel names (src/golive/http/app.py). */
const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
/** How often to look for the stream again while it is not live. */
const RETRY_MS = 2000;
/** How often the latency readout and the statistics are refreshed. */
const TICK_MS = 250;
/** How many fatal media errors hls.js may try to recover from before the player restarts. */
const MEDIA_RECOVERIES = 2;
/** Seconds behind the target latency before "jump to live" is highlighted. */
const BEHIND_SLACK_S = 1.5;

/** Playback statistics, live-updated; read them as `window.golive.stats`. */
export interface PlayerStats {
  /** "hls.js", "native" (the browser's own HLS) or "unsupported". */
  mode: "hls.js" | "native" | "unsupported" | null;
  /** True while the multivariant playlist is not available (the stream is not live). */
  offline: boolean;
  /** True once the video has started playing in the current session. */
  playing: boolean;
  /** Milliseconds from page load to the first frame played, for the first session. */
  startupMs: number | null;
  /**
   * Stall episodes after playback started. An episode starts on a `waiting` event (not
   * caused by a seek) or on an hls.js BUFFER_STALLED_ERROR, whichever comes first, and
   * ends when playback resumes.
   */
  stalls: number;
  /** `waiting` events of the video after playback started, seeks excluded. */
  waitingEvents: number;
  /** hls.js BUFFER_STALLED_ERROR reports. */
  bufferStalledErrors: number;
  /** True while a stall episode is in progress. */
  stalled: boolean;
  /** Total time spent in stall episodes, in milliseconds (the one in progress included). */
  stallMs: number;
  /** The latest `hls.latency`: seconds behind the live edge of the playlist. */
  latency: number | null;
  /**
   * The latest `(Date.now() - hls.playingDate) / 1000`: seconds from the program date time
   * (the server's ingest clock) of the frame on screen to now.
   */
  pdtLatency: number | null;
  /** The latest `hls.targetLatency`, in seconds. */
  targetLatency: number | null;
  /** When the latency figures were last sampled (`Date.now()`). */
  sampledAt: number | null;
  /** Fatal errors seen (each one restarts or recovers playback). */
  fatalErrors: number;
  /** Times the player went back to waiting for the stream (errors, end of stream). */
  restarts: number;
  /** The last error, as "type: details". */
  lastError: string | null;
}

/** What the page exposes as `window.golive`. */
export interface GolivePage {
  /** The hls.js instance of the current session; null before it starts or in native mode. */
  hls: Hls | null;
  video: HTMLVideoElement;
  stats: PlayerStats;
  channel: string | null;
  jumpToLive: () => void;
  chat?: ChatPanel;
}

declare global {
  interface Window {
    golive?: GolivePage;
  }
}

function element<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) {
    throw new Error(`watch page: #${id} is missing`);
  }
  return found;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The channel named by the first path segment, or null if it is not a channel name. */
export function channelFromPath(pathname: string): string | null {
  const first = pathname.split("/").find((segment) => segment !== "");
  if (first === undefined) {
    return null;
  }
  let name: string;
  try {
    name = decodeURIComponent(first);
  } catch {
    return null;
  }
  return CHANNEL_PATTERN.test(name) ? name : null;
}

function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(1)} s`;
}

interface SafariVideo extends HTMLVideoElement {
  getStartDate?: () => Date;
}

class WatchPage {
  readonly stats: PlayerStats = {
    mode: null,
    offline: false,
    playing: false,
    startupMs: null,
    stalls: 0,
    waitingEvents: 0,
    bufferStalledErrors: 0,
    stalled: false,
    stallMs: 0,
    latency: null,
    pdtLatency: null,
    targetLatency: null,
    sampledAt: null,
    fatalErrors: 0,
    restarts: 0,
    lastError: null,
  };
  readonly page: GolivePage;

  private readonly video: SafariVideo;
  private readonly overlay = element("offline", HTMLElement);
  private readonly overlayTitle = element("offline-title", HTMLElement);
  private readonly overlayDetail = element("offline-detail", HTMLElement);
  private readonly readout = element("latency", HTMLElement);
  private readonly badge = element("live-badge", HTMLElement);
  private readonly jump = element("jump-live", HTMLButtonElement);

  private hls: Hls | null = null;
  quality: QualityMenu | null = null;
  /** Bumped on every (re)start so callbacks of an older session know to stop. */
  private session = 0;
  private mediaRecoveries = 0;
  private stallStartedAt: number | null = null;
  private stallPosition = 0;
  private completedStallMs = 0;

  constructor(
    private readonly channel: string,
    private readonly source: string,
  ) {
    this.video = element("video", HTMLVideoElement);
    this.video.muted = true;
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.page = {
      hls: null,
      video: this.video,
      stats: this.stats,
      channel,
      jumpToLive: () => this.jumpToLive(),
    };
    this.listen();
  }

  start(): void {
    setInterval(() => this.tick(), TICK_MS);
    void this.connect(0);
  }

  // -- sessions ------------------------------------------------------------------------------

  /** Waits until the multivariant playlist answers, then starts playing it. */
  private async connect(delayMs: number): Promise<void> {
    const session = ++this.session;
    this.teardown();
    if (delayMs > 0) {
      await sleep(delayMs);
    }
    while (session === this.session) {
      const status = await this.probe();
      if (session !== this.session) {
        return;
      }
      if (status >= 200 && status < 300) {
        break;
      }
      this.setOffline(true);
      await sleep(RETRY_MS);
    }
    if (session === this.session) {
      this.attach(session);
    }
  }

  private async probe(): Promise<number> {
    try {
      const response = await fetch(this.source, { cache: "no-store" });
      return response.status;
    } catch {
      return 0; // network error: the server is restarting or unreachable
    }
  }

  private attach(session: number): void {
    this.mediaRecoveries = 0;
    if (Hls.isSupported()) {
      this.stats.mode = "hls.js";
      const hls = new Hls({
        lowLatencyMode: true,
        backBufferLength: 30,
        // Catch up gently after a stall instead of staying further behind live.
        maxLiveSyncPlaybackRate: 1.1,
        // CMCD (CTA-5004) as a query parameter: its session id is how the server counts
        // this player as one viewer (docs/viewers.md). Query, not headers: no CORS preflight.
        cmcd: { useHeaders: false },
      });
      this.hls = hls;
      this.page.hls = hls;
      this.quality?.attach(hls);
      hls.on(Events.MANIFEST_PARSED, () => {
        if (session === this.session) {
          this.setOffline(false);
          this.play();
        }
      });
      hls.on(Events.ERROR, (_event, data) => this.onHlsError(session, data));
      hls.loadSource(this.source);
      hls.attachMedia(this.video);
    } else if (this.video.canPlayType("application/vnd.apple.mpegurl") !== "") {
      this.stats.mode = "native";
      this.video.src = this.source;
      this.setOffline(false);
      this.play();
    } else {
      this.stats.mode = "unsupported";
      this.showOverlay(
        "This browser cannot play the stream",
        "It supports neither Media Source Extensions nor HLS.",
      );
    }
  }

  private teardown(): void {
    this.endStall();
    this.stats.playing = false;
    if (this.hls !== null) {
      this.hls.destroy();
      this.hls = null;
      this.page.hls = null;
    }
    if (this.stats.mode === "native") {
      this.video.removeAttribute("src");
      this.video.load();
    }
    this.jump.disabled = true;
    this.badge.hidden = true;
  }

  /** Goes back to waiting for the stream: it ended, or playback broke. */
  private restart(reason: string): void {
    this.stats.restarts += 1;
    this.stats.lastError = reason;
    this.showOverlay("Reconnecting…", "");
    void this.connect(RETRY_MS);
  }

  private onHlsError(session: number, data: ErrorData): void {
    if (session !== this.session) {
      return;
    }
    if (data.details === ErrorDetails.BUFFER_STALLED_ERROR) {
      this.stats.bufferStalledErrors += 1;
      this.beginStall();
    }
    if (!data.fatal) {
      return;
    }
    this.stats.fatalErrors += 1;
    this.stats.lastError = `${data.type}: ${data.details}`;
    if (data.type === ErrorTypes.MEDIA_ERROR && this.mediaRecoveries < MEDIA_RECOVERIES) {
      this.mediaRecoveries += 1;
      this.hls?.recoverMediaError();
      return;
    }
    this.restart(`${data.type}: ${data.details}`);
  }

  private play(): void {
    this.video.play().catch(() => {
      // Autoplay refused even muted: the controls let the viewer start playback.
    });
  }

  /**
   * hls.js only speeds playback up to catch up while more than a second is buffered, so with
   * a sub-second target it stays wherever start-up left it (measured 0.87-1.20 s instead of
   * 0.62 s). One seek to the live sync position, once playback has settled, puts it on target.
   */
  private settleAtLiveEdge(): void {
    const hls = this.hls;
    const video = this.video;
    if (hls === null || video.paused) {
      return;
    }
    const target = hls.targetLatency;
    const edge = hls.liveSyncPosition;
    if (target === null || edge === null || !Number.isFinite(edge)) {
      return;
    }
    if (hls.latency - target <= SETTLE_TOLERANCE_S) {
      return;
    }
    // Stay inside the buffered range we are playing, with enough of it left ahead: a seek
    // into a hole or onto the very end of the buffer is a stall of its own.
    const now = video.currentTime;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= now && now <= video.buffered.end(i)) {
        const to = Math.min(edge, video.buffered.end(i) - SETTLE_KEEP_AHEAD_S);
        if (to - now > SETTLE_TOLERANCE_S) {
          video.currentTime = to;
        }
        return;
      }
    }
  }

  jumpToLive(): void {
    const video = this.video;
    if (this.hls !== null) {
      const edge = this.hls.liveSyncPosition;
      if (edge !== null && Number.isFinite(edge)) {
        video.currentTime = edge;
      }
    } else if (video.seekable.length > 0) {
      video.currentTime = Math.max(0, video.seekable.end(video.seekable.length - 1) - 1);
    }
    this.play();
  }

  // -- video events and stalls -----------------------------------------------------------------

  private listen(): void {
    const video = this.video;
    video.addEventListener("playing", () => {
      if (!this.stats.playing) {
        this.stats.playing = true;
        if (this.stats.startupMs === null) {
          this.stats.startupMs = Math.round(performance.now());
        }
        const session = this.session;
        window.setTimeout(() => {
          if (session === this.session) {
            this.settleAtLiveEdge();
          }
        }, SETTLE_AFTER_MS);
        this.jump.disabled = false;
        this.badge.hidden = false;
        this.setOffline(false);
      }
      this.endStall();
    });
    video.addEventListener("waiting", () => {
      if (this.stats.playing && !video.seeking) {
        this.stats.waitingEvents += 1;
        this.beginStall();
      }
    });
    video.addEventListener("timeupdate", () => {
      if (this.stallStartedAt !== null && video.currentTime > this.stallPosition + 0.1) {
        this.endStall();
      }
    });
    video.addEventListener("pause", () => this.endStall());
    video.addEventListener("ended", () => {
      // A live stream ends with EXT-X-ENDLIST: wait for the next broadcast.
      this.restart("the stream ended");
    });
    video.addEventListener("error", () => {
      if (this.stats.mode === "native") {
        this.restart(`media error ${video.error?.code ?? "?"}`);
      }
    });
    this.jump.addEventListener("click", () => this.jumpToLive());
  }

  private beginStall(): void {
    if (!this.stats.playing || this.stallStartedAt !== null) {
      return;
    }
    this.stallStartedAt = performance.now();
    this.stallPosition = this.video.currentTime;
    this.stats.stalls += 1;
    this.stats.stalled = true;
  }

  private endStall(): void {
    if (this.stallStartedAt === null) {
      return;
    }
    this.completedStallMs += performance.now() - this.stallStartedAt;
    this.stallStartedAt = null;
    this.stats.stalled = false;
    this.stats.stallMs = Math.round(this.completedStallMs);
  }

  // -- readout ---------------------------------------------------------------------------------

  private tick(): void {
    const stats = this.stats;
    const ongoing = this.stallStartedAt === null ? 0 : performance.now() - this.stallStartedAt;
    stats.stallMs = Math.round(this.completedStallMs + ongoing);
    if (stats.playing) {
      this.sample();
    }
    this.render();
  }

  private sample(): void {
    const stats = this.stats;
    const hls = this.hls;
    const video = this.video;
    let latency: number | null = null;
    let playingDate: number | null = null;
    if (hls !== null) {
      latency = hls.latency;
      playingDate = hls.playingDate?.getTime() ?? null;
      stats.targetLatency = hls.targetLatency;
    } else if (stats.mode === "native" && video.seekable.length > 0) {
      latency = video.seekable.end(video.seekable.length - 1) - video.currentTime;
      const start = video.getStartDate?.().getTime();
      if (start !== undefined && Number.isFinite(start)) {
        playingDate = start + video.currentTime * 1000;
      }
    }
    if (latency !== null && Number.isFinite(latency)) {
      stats.latency = latency;
    }
    if (playingDate !== null && Number.isFinite(playingDate)) {
      stats.pdtLatency = (Date.now() - playingDate) / 1000;
    }
    stats.sampledAt = Date.now();
  }

  private render(): void {
    const stats = this.stats;
    if (!stats.playing || stats.latency === null) {
      this.readout.textContent = stats.offline ? "Offline" : "–";
      this.jump.classList.remove("behind");
      return;
    }
    let text = `${formatSeconds(stats.latency)} behind live`;
    if (stats.pdtLatency !== null) {
      text += ` · ${formatSeconds(stats.pdtLatency)} end to end`;
    }
    if (stats.stalled) {
      text += " · buffering";
    }
    this.readout.textContent = text;
    const target = stats.targetLatency ?? 3;
    this.jump.classList.toggle("behind", stats.latency > target + BEHIND_SLACK_S);
  }

  private setOffline(offline: boolean): void {
    this.stats.offline = offline;
    if (offline) {
      this.showOverlay(
        `${this.channel} is offline`,
        "Playback starts by itself when the stream goes live.",
      );
    } else {
      this.overlay.hidden = true;
    }
  }

  private showOverlay(title: string, detail: string): void {
    this.overlayTitle.textContent = title;
    this.overlayDetail.textContent = detail;
    this.overlay.hidden = false;
  }
}

function main(): void {
  const channel = channelFromPath(window.location.pathname);
  const name = element("channel-name", HTMLElement);
  if (channel === null) {
    name.textContent = "No such channel";
    element("offline-title", HTMLElement).textContent = "There is no channel at this address.";
    element("offline-detail", HTMLElement).textContent = "";
    return;
  }
  name.textContent = channel;
  document.title = `${channel} · golive`;
  const page = new WatchPage(channel, `/live/${encodeURIComponent(channel)}/index.m3u8`);
  const select = document.getElementById("quality");
  if (select instanceof HTMLSelectElement) {
    page.quality = new QualityMenu(select);
  }
  window.golive = page.page;
  page.start();
  const list = document.getElementById("chat-messages");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const status = document.getElementById("chat-status");
  if (list !== null && form instanceof HTMLFormElement && input instanceof HTMLInputElement && status !== null) {
    const chat = new ChatPanel(channel, list, form, input, status);
    page.page.chat = chat;
    chat.connect();
  }
  void showChannelInfo(channel);
  setInterval(() => void showChannelInfo(channel), CHANNEL_INFO_MS);
}

const CHANNEL_INFO_MS = 10_000;

/** Title, category and viewer count of the channel, as text. */
async function showChannelInfo(channel: string): Promise<void> {
  try {
    const response = await fetch(`/web/channels/${encodeURIComponent(channel)}`, { cache: "no-store" });
    if (!response.ok) {
      return;
    }
    const info = (await response.json()) as { title: string; category: string; viewers: number; live: boolean };
    const title = document.getElementById("channel-title");
    const category = document.getElementById("channel-category");
    const viewers = document.getElementById("viewer-count");
    if (title !== null) title.textContent = info.title;
    if (category !== null) category.textContent = info.category;
    if (viewers !== null) viewers.textContent = info.live ? `${info.viewers} watching` : "";
  } catch {
    // The next poll tries again.
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main, { once: true });
} else {
  main();
}
