/**
 * The DASH test page: plays /live/<channel>/manifest.mpd with dash.js in low-latency mode
 * and exposes playback statistics on `window.goliveDash` for browser tests. The channel
 * comes from the `channel` query parameter (`/static/dash.html?channel=demo`).
 *
 * Text reaches the page through textContent only.
 */
import { MediaPlayer, type MediaPlayerClass } from "dashjs";

const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const TICK_MS = 250;

/** Playback statistics, live-updated; read them as `window.goliveDash.stats`. */
export interface DashStats {
  playing: boolean;
  /** Stall episodes after playback started: `waiting` events not caused by a seek. */
  stalls: number;
  /** Seconds behind the live edge, as dash.js measures it. */
  latency: number | null;
  /** Errors dash.js reported, as "code: message". */
  errors: string[];
  /** Representation ids of the video played so far, in order of switching. */
  videoRepresentations: string[];
}

export interface DashPage {
  player: MediaPlayerClass;
  video: HTMLVideoElement;
  stats: DashStats;
}

declare global {
  interface Window {
    goliveDash?: DashPage;
  }
}

function main(): void {
  const status = document.getElementById("status");
  const video = document.getElementById("video");
  if (!(video instanceof HTMLVideoElement) || status === null) {
    throw new Error("dash page: #video or #status is missing");
  }
  const channel = new URLSearchParams(window.location.search).get("channel") ?? "";
  if (!CHANNEL_PATTERN.test(channel)) {
    status.textContent = "Name a channel: ?channel=<name>";
    return;
  }
  const stats: DashStats = {
    playing: false,
    stalls: 0,
    latency: null,
    errors: [],
    videoRepresentations: [],
  };
  const player = MediaPlayer().create();
  player.updateSettings({
    streaming: {
      // The MPD's ServiceDescription sets the target latency and catch-up rates. LoL+
      // catch-up watches the buffer as well as the latency: below playbackBufferMin it slows
      // playback down instead of speeding towards the target, where the default mode keeps
      // the fastest rate while the buffer runs dry (stalls on a busy machine).
      liveCatchup: { enabled: true, mode: "liveCatchupModeLoLP", playbackBufferMin: 0.5 },
      // golive's Representations carry video and audio muxed (as its HLS variants do).
      // The Media Capabilities API judges one codec per query and rejects the pair, where
      // MediaSource.isTypeSupported, which the SourceBuffer itself goes by, accepts it.
      capabilities: { useMediaCapabilitiesApi: false },
      abr: { autoSwitchBitrate: { video: true, audio: true } },
    },
  });
  player.on(MediaPlayer.events.ERROR, (event) => {
    const error = (event as { error?: { code?: number; message?: string } }).error;
    stats.errors.push(`${error?.code ?? "?"}: ${error?.message ?? "unknown error"}`);
  });
  player.on(MediaPlayer.events.QUALITY_CHANGE_RENDERED, (event) => {
    const change = event as { mediaType?: string; newRepresentation?: { id?: string } };
    if (change.mediaType === "video" && change.newRepresentation?.id !== undefined) {
      stats.videoRepresentations.push(change.newRepresentation.id);
    }
  });
  video.muted = true;
  video.addEventListener("playing", () => {
    stats.playing = true;
  });
  video.addEventListener("waiting", () => {
    if (stats.playing && !video.seeking) {
      stats.stalls += 1;
    }
  });
  player.initialize(video, `/live/${encodeURIComponent(channel)}/manifest.mpd`, true);
  setInterval(() => {
    if (stats.playing) {
      const latency = player.getCurrentLiveLatency();
      stats.latency = Number.isFinite(latency) ? latency : null;
    }
    status.textContent = stats.playing
      ? `${channel}: ${stats.latency?.toFixed(1) ?? "–"} s behind live`
      : `${channel}: connecting…`;
  }, TICK_MS);
  window.goliveDash = { player, video, stats };
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main, { once: true });
} else {
  main();
}
