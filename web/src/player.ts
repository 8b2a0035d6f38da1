/**
 * The golive watch page: plays /live/<channel>/index.m3u8 with hls.js in low-latency mode (or
 * natively where only the browser can play HLS), shows the channel's offline and
 * stream-ended states until a broadcast is live, offers a seek bar over the session so far
 * with a "LIVE" / "-12:34" indicator (seek-bar.ts, live-follow.ts), a
 * quality menu, a latency readout, "jump to live" and, for signed-in viewers, a clip dialog
 * (clip-dialog.ts); runs the chat panel beside the player, and exposes playback statistics on
 * `window.golive` for browser tests and benchmarks.
 *
 * DVR: when the channel's JSON says `"dvr": true`, the seek bar reaches back to `dvr_from`
 * (the oldest media of the DVR playlist). The live edge is played from index.m3u8, every
 * rendition of the ladder; a seek to before the live window switches to dvr.m3u8 (the
 * recorded renditions: by default the source and its audio) at the program date time sought,
 * and "jump to live" switches back.
 *
 * Every piece of text that reaches the page is set with textContent: nothing here builds
 * HTML from data.
 */
import Hls, { type ErrorData, ErrorDetails, ErrorTypes, Events, type Fragment } from "hls.js";
import { formatBehind } from "./behind-text";
import { type ChannelInfo, fetchChannelInfo, renderChannelInfo } from "./channel-info";
import { ChatPanel } from "./chat-panel";
import { ClipDialog, type ClipPoint, clipElements } from "./clip-dialog";
import { LiveFollow } from "./live-follow";
import { paceRate } from "./live-pace";
import { newSessionId, Presence } from "./presence";
import { behindLive, hlsRange, type LiveRange, seekableRange } from "./live-range";
import { QualityMenu } from "./quality-menu";
import { SeekBar } from "./seek-bar";
import { fetchSession, renderAccountNav } from "./site-header";
import { WebrtcMode } from "./webrtc-mode";

/**
 * Media buffered ahead of the playhead before playback starts. hls.js starts PART-HOLD-BACK
 * (about 0.62 s) behind the edge; a viewer who arrives as the channel goes live then meets a
 * source that is still slower than real time for a moment (publisher, transcoder and browser
 * all starting), and stalled with that margin. Starting with more and catching up to the
 * target (live-pace.ts) over the first seconds costs about 0.4 s of start-up.
 */
const START_AHEAD_S = 1.0;
/** Start anyway after this long with media buffered (a stream that ends, or never grows). */
const START_WAIT_MAX_MS = 3000;
/** How often the playback rate is adjusted (live-pace.ts): about half a part. */
const PACE_MS = 100;

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
/** How often title, category and viewers are refreshed. */
const CHANNEL_INFO_MS = 10_000;

/** Playback statistics, live-updated; read them as `window.golive.stats`. */
export interface PlayerStats {
  /** "hls.js", "native" (the browser's own HLS), "webrtc" (webrtc-mode.ts) or "unsupported". */
  mode: "hls.js" | "native" | "webrtc" | "unsupported" | null;
  /** True while the multivariant playlist is not available (the stream is not live). */
  offline: boolean;
  /** True from the end of a broadcast until the next one plays. */
  ended: boolean;
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
  /** The playlist played: ".../index.m3u8", or ".../dvr.m3u8" after a seek behind its window. */
  source: string | null;
  /**
   * True while the viewer follows the live edge (the indicator says "LIVE" and pacing
   * catches up); false while they watch behind it on purpose (live-follow.ts).
   */
  following: boolean;
  /** Seconds from the playhead to the live position (live-range.ts); null when not playing. */
  behind: number | null;
}

/** What the page exposes as `window.golive`. */
export interface GolivePage {
  /** The hls.js instance of the current session; null before it starts or in native mode. */
  hls: Hls | null;
  video: HTMLVideoElement;
  stats: PlayerStats;
  channel: string | null;
  jumpToLive: () => void;
  /** The seekable range now (media seconds), or null. */
  range: () => LiveRange | null;
  chat?: ChatPanel;
  /** The "Low latency (WebRTC)" switch (webrtc-mode.ts). */
  webrtc?: WebrtcMode;
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

function ok(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * The media time of program date time `date` (epoch ms) in a playlist's fragments, or null
 * when none has a date.
 */
function positionOf(fragments: readonly Fragment[], date: number): number | null {
  let found: Fragment | null = null;
  for (const frag of fragments) {
    if (frag.programDateTime === null) {
      continue;
    }
    if (found === null || frag.programDateTime <= date) {
      found = frag;
    }
    if (frag.programDateTime > date) {
      break;
    }
  }
  if (found === null || found.programDateTime === null) {
    return null;
  }
  return Math.max(found.start, found.start + (date - found.programDateTime) / 1000);
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
    ended: false,
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
    source: null,
    following: true,
    behind: null,
  };
  readonly page: GolivePage;

  private readonly video: SafariVideo;
  private readonly overlay = element("offline", HTMLElement);
  private readonly overlayTitle = element("offline-title", HTMLElement);
  private readonly overlayDetail = element("offline-detail", HTMLElement);
  private readonly readout = element("latency", HTMLElement);
  private readonly badge = element("live-badge", HTMLElement);
  private readonly jump = element("jump-live", HTMLButtonElement);
  private readonly follow = new LiveFollow();
  private readonly seekBar: SeekBar;
  /** The playlist of the current session (index.m3u8, or dvr.m3u8 behind the live window). */
  private source: string;
  /** The oldest media of the DVR playlist (epoch seconds), when the stream has one. */
  private dvrFrom: number | null = null;
  /** The playhead before the seek in progress, and the last one seen outside seeks. */
  private seekFrom: number | null = null;
  private playhead = 0;

  private hls: Hls | null = null;
  /** This page's CMCD session id: on hls.js's requests and on the presence beacon. */
  private readonly sessionId = newSessionId();
  private readonly presence = new Presence(this.sessionId);
  quality: QualityMenu | null = null;
  /** The clip button, once the viewer is known to be signed in (main). */
  clipButton: HTMLButtonElement | null = null;
  /** `started_at` of the broadcast being played, and of the one that ended (to skip it). */
  private currentStream: number | null = null;
  private endedStream: number | null = null;
  private nextStream: number | null = null;
  /** Bumped on every (re)start so callbacks of an older session know to stop. */
  private session = 0;
  private mediaRecoveries = 0;
  private stallStartedAt: number | null = null;
  private stallPosition = 0;
  private completedStallMs = 0;

  constructor(
    private readonly channel: string,
    /** The live playlist, and the DVR one played behind the live window. */
    private readonly sources: { live: string; dvr: string },
    /** The channel's info, or null when the site's JSON is not available. */
    private readonly info: () => Promise<ChannelInfo | null> = async () => null,
  ) {
    this.source = sources.live;
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
      range: () => this.range(),
    };
    this.seekBar = new SeekBar(
      {
        bar: element("seek-bar", HTMLElement),
        played: element("seek-played", HTMLElement),
        thumb: element("seek-thumb", HTMLElement),
        hover: element("seek-hover", HTMLElement),
      },
      {
        range: () => this.range(),
        following: () => this.follow.following,
        seekTo: (time) => this.seekTo(time),
        toLive: () => this.jumpToLive(),
      },
    );
    this.listen();
  }

  start(): void {
    setInterval(() => this.tick(), TICK_MS);
    setInterval(() => this.pace(), PACE_MS);
    void this.connect(0);
  }

  // -- sessions ------------------------------------------------------------------------------

  /** Stops HLS playback: WebRTC takes the video element (webrtc-mode.ts). */
  suspend(): void {
    ++this.session;
    this.teardown();
    this.overlay.hidden = true;
  }

  /** HLS playback again, after WebRTC. */
  resume(): void {
    void this.connect(0);
  }

  setMode(mode: "webrtc" | null): void {
    this.stats.mode = mode;
  }

  /** Waits until the multivariant playlist answers, then starts playing it. */
  private async connect(delayMs: number): Promise<void> {
    const session = ++this.session;
    this.teardown();
    if (delayMs > 0) {
      await sleep(delayMs);
    }
    while (session === this.session) {
      const live = await this.isLive();
      if (session !== this.session) {
        return;
      }
      if (live) {
        break;
      }
      this.setOffline(true);
      await sleep(RETRY_MS);
    }
    if (session === this.session) {
      this.attach(session);
    }
  }

  /**
   * Whether a broadcast is on: the channel's info says so (and it is not the one that just
   * ended, whose playlists stay up with EXT-X-ENDLIST), and its playlist answers. Without the
   * info (the site's JSON is missing) the playlist alone decides.
   */
  private async isLive(): Promise<boolean> {
    const info = await this.info();
    this.nextStream = null;
    if (info !== null) {
      if (!info.live || (this.endedStream !== null && info.started_at === this.endedStream)) {
        return false;
      }
      this.nextStream = info.started_at ?? null;
    }
    this.noteInfo(info);
    this.source = this.sources.live;
    return ok(await this.probe(this.source));
  }

  /** Keeps the channel info's DVR range (fetched at start and every CHANNEL_INFO_MS). */
  noteInfo(info: ChannelInfo | null): void {
    const from = info?.dvr === true ? info.dvr_from : null;
    this.dvrFrom = typeof from === "number" && Number.isFinite(from) ? from : null;
  }

  /** A new session on `source`, at the live edge or (`startDate`, epoch ms) at that date. */
  private switchTo(source: string, startDate: number | null): void {
    const session = ++this.session;
    this.teardown();
    this.source = source;
    this.attach(session, startDate);
  }

  private async probe(source: string): Promise<number> {
    try {
      const response = await fetch(source, { cache: "no-store" });
      return response.status;
    } catch {
      return 0; // network error: the server is restarting or unreachable
    }
  }

  /**
   * Starts playing `this.source`: at the live edge, or (`startDate`, epoch ms) at that
   * program date time, behind it.
   */
  private attach(session: number, startDate: number | null = null): void {
    this.mediaRecoveries = 0;
    this.currentStream = this.nextStream;
    this.stats.source = this.source;
    if (startDate === null) {
      this.follow.follow();
    }
    this.seekFrom = null;
    if (Hls.isSupported()) {
      this.stats.mode = "hls.js";
      const hls = new Hls({
        lowLatencyMode: true,
        backBufferLength: 30,
        // The page sets the playback rate itself (live-pace.ts); hls.js would reset it to 1.
        maxLiveSyncPlaybackRate: 1,
        // CMCD (CTA-5004) as a query parameter: its session id is how the server counts
        // this player as one viewer (docs/viewers.md). Query, not headers: no CORS preflight.
        cmcd: { useHeaders: false, sessionId: this.sessionId },
        // Behind the edge: where the DVR playlist's media time (0 at its first segment, at
        // dvr_from) reaches the date sought; corrected once the playlist is read.
        startPosition:
          startDate === null || this.dvrFrom === null ? -1 : Math.max(0, startDate / 1000 - this.dvrFrom),
      });
      this.hls = hls;
      this.page.hls = hls;
      this.presence.start(this.source);
      this.quality?.attach(hls);
      // Playback starts once START_AHEAD_S is buffered (startWhenBuffered), not on autoplay.
      this.video.autoplay = false;
      let firstBufferedAt: number | null = null;
      hls.on(Events.MANIFEST_PARSED, () => {
        if (session === this.session) {
          this.setOffline(false);
        }
      });
      hls.on(Events.FRAG_BUFFERED, () => {
        if (session !== this.session || this.stats.playing || !this.video.paused) {
          return;
        }
        firstBufferedAt ??= performance.now();
        this.startWhenBuffered(performance.now() - firstBufferedAt >= START_WAIT_MAX_MS);
      });
      let positioned = startDate === null;
      hls.on(Events.LEVEL_LOADED, (_event, data) => {
        if (!positioned && session === this.session) {
          positioned = true;
          const exact = positionOf(data.details.fragments, startDate ?? 0);
          if (exact !== null && Math.abs(exact - hls.startPosition) > 1) {
            hls.stopLoad();
            hls.startLoad(exact);
          }
        }
        // A playlist with EXT-X-ENDLIST before anything played: the broadcast is over (its
        // playlists stay up until the next one). While playing, play to its end instead.
        if (session === this.session && !data.details.live && !this.stats.playing) {
          this.streamEnded();
        }
      });
      hls.on(Events.ERROR, (_event, data) => this.onHlsError(session, data));
      hls.loadSource(this.source);
      hls.attachMedia(this.video);
    } else if (this.video.canPlayType("application/vnd.apple.mpegurl") !== "") {
      this.stats.mode = "native";
      this.video.autoplay = true;
      this.quality?.reset();
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
    this.video.playbackRate = 1;
    this.presence.stop();
    if (this.hls !== null) {
      this.hls.destroy();
      this.hls = null;
      this.page.hls = null;
    }
    this.quality?.reset();
    if (this.stats.mode === "native") {
      this.video.removeAttribute("src");
      this.video.load();
    }
    this.jump.disabled = true;
    this.badge.hidden = true;
    this.stats.behind = null;
    this.seekBar.render();
  }

  /** The broadcast is over: say so, and wait for the next one. */
  private streamEnded(): void {
    this.stats.ended = true;
    this.endedStream = this.currentStream;
    this.setOffline(true);
    void this.connect(RETRY_MS);
  }

  /** Goes back to waiting for the stream: playback broke. */
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

  /** Plays once START_AHEAD_S is buffered ahead of the playhead, or at once with `now`. */
  private startWhenBuffered(now: boolean): void {
    if (now || this.bufferedAhead() >= START_AHEAD_S) {
      this.play();
    }
  }

  /** Seconds of media buffered ahead of the playhead (0 in a hole). */
  private bufferedAhead(): number {
    const video = this.video;
    const now = video.currentTime;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= now + 0.05 && now <= video.buffered.end(i)) {
        return video.buffered.end(i) - now;
      }
    }
    return 0;
  }

  /** Sets the playback rate for the media ahead and the latency (live-pace.ts). */
  private pace(): void {
    const hls = this.hls;
    const video = this.video;
    if (hls === null || video.paused || video.seeking || !this.stats.playing) {
      return;
    }
    const target = hls.targetLatency;
    if (target === null || !Number.isFinite(hls.latency) || hls.latency <= 0) {
      return;
    }
    const rate = paceRate(this.bufferedAhead(), hls.latency, target, this.follow.following);
    if (video.playbackRate !== rate) {
      video.playbackRate = rate;
    }
  }

  jumpToLive(): void {
    const video = this.video;
    if (this.source !== this.sources.live && this.hls !== null) {
      this.switchTo(this.sources.live, null); // back from the DVR playlist (every rendition)
      return;
    }
    this.follow.follow();
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

  /** The range the viewer can seek over while playing (live-range.ts); null otherwise. */
  range(): LiveRange | null {
    if (!this.stats.playing) {
      return null;
    }
    if (this.hls !== null) {
      const range = hlsRange(this.hls, this.video);
      const playing = this.playingDate();
      if (range === null || playing === null || this.source !== this.sources.live || this.dvrFrom === null) {
        return range;
      }
      // The DVR playlist reaches further back: the same media timeline, by date.
      const dvrStart = range.current - (playing / 1000 - this.dvrFrom);
      return { ...range, start: Math.min(range.start, dvrStart) };
    }
    return this.stats.mode === "native" ? seekableRange(this.video) : null;
  }

  /** The seek bar's seek: to a media time within the range, the viewer's own choice. */
  private seekTo(time: number): void {
    const range = this.range();
    if (range === null) {
      return;
    }
    this.follow.seeked(range.current, time, range.live - time);
    const liveWindow = this.hls === null ? null : hlsRange(this.hls, this.video);
    const playing = this.playingDate();
    if (liveWindow !== null && playing !== null && this.source === this.sources.live && time < liveWindow.start) {
      // Before the live window: the DVR playlist, at the date sought.
      this.switchTo(this.sources.dvr, playing + (time - range.current) * 1000);
      return;
    }
    this.seekFrom ??= range.current;
    this.video.currentTime = time;
    this.render();
  }

  /**
   * Where a clip made now ends: the playhead. At the live edge the clip is "the last
   * <duration> seconds" (no start sent: the server's newest media decides); behind it, it
   * starts <duration> seconds before the program date time on screen.
   */
  clipPoint(): ClipPoint {
    const range = this.range();
    const playing = this.playingDate();
    if (this.follow.following || range === null || playing === null) {
      return { behind: 0, fields: () => ({}) };
    }
    return {
      behind: behindLive(range),
      fields: (duration) => ({ start_pdt: Math.round(playing - duration * 1000) / 1000 }),
    };
  }

  /** The program date time (epoch ms) of the frame on screen, or null. */
  private playingDate(): number | null {
    let date: number | null | undefined = null;
    if (this.hls !== null) {
      date = this.hls.playingDate?.getTime();
    } else if (this.stats.mode === "native") {
      const start = this.video.getStartDate?.().getTime();
      date = start === undefined ? null : start + this.video.currentTime * 1000;
    }
    return date !== null && date !== undefined && Number.isFinite(date) ? date : null;
  }

  // -- video events and stalls -----------------------------------------------------------------

  private listen(): void {
    const video = this.video;
    video.addEventListener("playing", () => {
      if (!this.stats.playing) {
        this.stats.playing = true;
        this.stats.ended = false;
        this.endedStream = null;
        if (this.stats.startupMs === null) {
          this.stats.startupMs = Math.round(performance.now());
        }
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
      if (!video.seeking && this.seekFrom === null) {
        this.playhead = video.currentTime;
      }
      if (this.stallStartedAt !== null && video.currentTime > this.stallPosition + 0.1) {
        this.endStall();
      }
    });
    // Seeks and pauses decide whether the viewer follows the live edge (live-follow.ts).
    video.addEventListener("seeking", () => {
      this.seekFrom ??= this.playhead;
    });
    video.addEventListener("seeked", () => {
      const from = this.seekFrom ?? video.currentTime;
      this.seekFrom = null;
      this.playhead = video.currentTime;
      const range = this.range();
      if (range !== null) {
        this.follow.seeked(from, video.currentTime, behindLive(range));
      }
      this.render();
    });
    video.addEventListener("pause", () => {
      if (this.stats.playing && !video.ended) {
        this.follow.paused();
      }
      this.endStall();
    });
    video.addEventListener("play", () => {
      const range = this.range();
      if (range !== null) {
        this.follow.resumed(behindLive(range));
      }
    });
    video.addEventListener("ended", () => {
      // A live stream ends with EXT-X-ENDLIST: wait for the next broadcast.
      this.streamEnded();
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
    const range = this.range();
    stats.behind = range === null ? null : behindLive(range);
    if (stats.behind !== null && !this.video.paused && !this.video.seeking) {
      this.follow.sample(stats.behind);
    }
    stats.following = this.follow.following;
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
    this.seekBar.render();
    if (this.clipButton !== null) {
      this.clipButton.hidden = !stats.playing;
    }
    const following = this.follow.following;
    const range = this.range();
    // (Behind with no range: the broadcast just ended; the badge keeps its last text.)
    if (following || range !== null) {
      const behind = range === null ? 0 : behindLive(range);
      this.badge.textContent = following ? "Live" : formatBehind(behind);
      this.badge.classList.toggle("behind", !following);
      this.badge.title = following ? "Watching live" : `Watching ${formatBehind(behind)} behind live`;
    }
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
    this.jump.classList.toggle("behind", !following || stats.latency > target + BEHIND_SLACK_S);
  }

  private setOffline(offline: boolean): void {
    this.stats.offline = offline;
    if (offline && this.stats.ended) {
      this.showOverlay(
        "The broadcast has ended",
        `Playback resumes by itself when ${this.channel} goes live again.`,
      );
    } else if (offline) {
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
  const nav = document.getElementById("account-nav");
  const session = fetchSession();
  if (nav !== null) {
    void session.then((got) => renderAccountNav(nav, got, window.location.pathname));
  }
  if (channel === null) {
    name.textContent = "No such channel";
    element("offline-title", HTMLElement).textContent = "There is no channel at this address.";
    element("offline-detail", HTMLElement).textContent = "";
    return;
  }
  name.textContent = channel;
  document.title = `${channel} · golive`;

  // The info is fetched for the player's live check and shown at the same time.
  let lastInfo: ChannelInfo | null = null;
  const info = async (): Promise<ChannelInfo | null> => {
    const got = await fetchChannelInfo(channel);
    if (got !== null) {
      lastInfo = got;
      renderChannelInfo(got);
      page.noteInfo(got);
    }
    return got;
  };
  const base = `/live/${encodeURIComponent(channel)}`;
  const page = new WatchPage(channel, { live: `${base}/index.m3u8`, dvr: `${base}/dvr.m3u8` }, info);
  const select = document.getElementById("quality");
  if (select instanceof HTMLSelectElement) {
    page.quality = new QualityMenu(select);
  }
  window.golive = page.page;
  page.start();
  const toggle = document.getElementById("webrtc-toggle");
  const webrtcStatus = document.getElementById("webrtc-status");
  if (toggle instanceof HTMLInputElement && webrtcStatus !== null && "RTCPeerConnection" in window) {
    const webrtc = new WebrtcMode(toggle, webrtcStatus, `${base}/whep`, page.page.video, page);
    toggle.parentElement?.removeAttribute("hidden");
    page.page.webrtc = webrtc;
    if (new URLSearchParams(window.location.search).get("webrtc") === "1") {
      void webrtc.enable();
    }
  }
  setInterval(() => {
    // The player polls while offline; while playing, refresh here (viewers, title changes).
    if (page.stats.playing || lastInfo === null) {
      void info();
    }
  }, CHANNEL_INFO_MS);

  const chat = chatElements();
  if (chat !== null) {
    const panel = new ChatPanel(channel, chat);
    page.page.chat = panel;
    panel.connect();
  }
  void session.then((got) => {
    // Clips are for signed-in viewers: the button stays hidden for everyone else.
    const button = document.getElementById("clip-button");
    const elements = clipElements();
    if (got?.user && got.csrf && button instanceof HTMLButtonElement && elements !== null) {
      const dialog = new ClipDialog(elements, `/web/channels/${encodeURIComponent(channel)}/clips`, got.csrf);
      button.addEventListener("click", () => dialog.open(page.clipPoint()));
      page.clipButton = button;
    }
  });
}

function chatElements(): ConstructorParameters<typeof ChatPanel>[1] | null {
  const get = (id: string): HTMLElement | null => document.getElementById(id);
  const list = get("chat-messages");
  const form = get("chat-form");
  const input = get("chat-input");
  const sendButton = get("chat-send");
  const status = get("chat-status");
  const error = get("chat-error");
  const signIn = get("chat-signin");
  const more = get("chat-more");
  const ownerTools = get("chat-owner-tools");
  if (
    list === null ||
    !(form instanceof HTMLFormElement) ||
    !(input instanceof HTMLInputElement) ||
    !(sendButton instanceof HTMLButtonElement) ||
    status === null ||
    error === null ||
    !(signIn instanceof HTMLAnchorElement) ||
    !(more instanceof HTMLButtonElement) ||
    ownerTools === null
  ) {
    return null;
  }
  return { list, form, input, sendButton, status, error, signIn, more, ownerTools };
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main, { once: true });
} else {
  main();
}
