// The clip page (/clips/<id>, rendered by the server): plays the clip's HLS playlist, named in
// the video element's data-src, with hls.js (or natively where the browser plays HLS itself,
// as Safari does). The page shows its state in data-state for tests and styles:
// "loading", "playing", "ended" or "error".
import Hls, { Events } from "hls.js";
import { watchForStuckEnd } from "./end-watch";

function start(): void {
  const video = document.getElementById("video");
  if (!(video instanceof HTMLVideoElement)) return;
  const src = video.dataset.src;
  if (!src) return;
  const article = video.closest("article");
  const setState = (state: string): void => {
    if (article) article.dataset.state = state;
  };
  setState("loading");
  video.addEventListener("playing", () => setState("playing"));
  video.addEventListener("ended", () => setState("ended"));
  watchForStuckEnd(video, () => video.dispatchEvent(new Event("ended")));
  const play = (): void => {
    video.play().catch(() => {
      // Autoplay refused: the controls are there for the viewer.
    });
  };
  if (Hls.isSupported()) {
    const hls = new Hls({ enableWorker: true });
    hls.on(Events.ERROR, (_event, data) => {
      if (data.fatal) setState("error");
    });
    hls.on(Events.MANIFEST_PARSED, play);
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
    video.addEventListener("loadedmetadata", play, { once: true });
  } else {
    setState("error");
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
