/**
 * The VOD page, /videos/<id>: hls.js plays /vod/<id>/index.m3u8 (the browser's own HLS where
 * hls.js cannot run), with the quality menu, chat replay beside the player, for signed-in
 * viewers a clip dialog (the <length> seconds that end at the playhead) and, for the
 * channel's owner, "Download MP4". The page is rendered by the server; this script reads the
 * VOD's id and duration from data- attributes (no inline script: the CSP forbids it).
 */
import Hls, { Events } from "hls.js";
import { ChatReplay } from "./chat-replay";
import { ClipDialog, clipElements } from "./clip-dialog";
import { QualityMenu } from "./quality-menu";
import { Mp4Download } from "./vod-download";
import { watchForStuckEnd } from "./end-watch";

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
  watchForStuckEnd(video, () => video.dispatchEvent(new Event("ended")));
  const list = document.getElementById("replay-messages");
  if (list !== null) {
    state.replay = new ChatReplay(vodId, duration, video, list, document.getElementById("replay-status"));
  }
  const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
  const box = document.getElementById("vod-download");
  if (box !== null) {
    new Mp4Download(vodId, box, csrf);
  }
  // The server renders the clip button and dialog for signed-in viewers only.
  const clipButton = document.getElementById("clip-button");
  const clipParts = clipElements();
  if (clipButton !== null && clipParts !== null && csrf !== "") {
    const dialog = new ClipDialog(clipParts, `/web/vods/${encodeURIComponent(vodId)}/clips`, csrf);
    clipButton.addEventListener("click", () => {
      const end = video.currentTime;
      dialog.open({
        behind: 0,
        fields: (length) => ({ start: Math.max(0, Math.round((end - length) * 1000) / 1000) }),
        describe: (length) =>
          end >= length
            ? `The ${length} seconds before the playhead.`
            : `The first ${length} seconds of the video.`,
      });
    });
  }
}

main();
