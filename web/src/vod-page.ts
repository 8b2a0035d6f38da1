/**
 * The VOD page, /videos/<id>: hls.js plays /vod/<id>/index.m3u8 (the browser's own HLS where
 * hls.js cannot run), with the quality menu, chat replay beside the player and, for the
 * channel's owner, "Download MP4". The page is rendered by the server; this script reads the
 * VOD's id and duration from data- attributes (no inline script: the CSP forbids it).
 */
import Hls, { Events } from "hls.js";
import { ChatReplay } from "./chat-replay";
import { QualityMenu } from "./quality-menu";
import { Mp4Download } from "./vod-download";

declare global {
  interface Window {
    /** For tests and debugging. */
    __vodPage?: { hls: Hls | null; replay: ChatReplay | null; fatal: string | null };
  }
}

function main(): void {
  const root = document.getElementById("vod");
  const video = document.getElementById("video");
  if (root === null || !(video instanceof HTMLVideoElement)) return;
  const vodId = root.dataset.vod ?? "";
  const duration = Number(root.dataset.duration ?? "0");
  const state: NonNullable<Window["__vodPage"]> = { hls: null, replay: null, fatal: null };
  window.__vodPage = state;
  const source = `/vod/${encodeURIComponent(vodId)}/index.m3u8`;
  const select = document.getElementById("quality");
  if (Hls.isSupported()) {
    const hls = new Hls({ enableWorker: true });
    state.hls = hls;
    if (select instanceof HTMLSelectElement) new QualityMenu(select).attach(hls);
    hls.on(Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      state.fatal = data.details;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    });
    hls.loadSource(source);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = source;
  }
  const list = document.getElementById("replay-messages");
  if (list !== null) {
    state.replay = new ChatReplay(vodId, duration, video, list, document.getElementById("replay-status"));
  }
  const box = document.getElementById("vod-download");
  if (box !== null) {
    const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
    new Mp4Download(vodId, box, csrf);
  }
}

main();
