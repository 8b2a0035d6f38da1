// Bundles the site's scripts with esbuild into the package's static folder, where golive serves
// them under /static/dist/: player.js (the watch page: hls.js player and chat), dashboard.js
// (the creator dashboard), home.js (the channel list), dash-player.js (the DASH test page,
// dash.js), vod-page.js (the VOD player page with chat replay), videos.js (a channel's past
// broadcasts) and clip-page.js (a clip's page). `node build.mjs --watch` rebuilds on every change.
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: [
    here("./src/player.ts"),
    here("./src/dash-player.ts"),
    here("./src/dashboard.ts"),
    here("./src/home.ts"),
    here("./src/vod-page.ts"),
    here("./src/videos.ts"),
    here("./src/clip-page.ts"),
  ],
  outdir: here("../src/golive/web/static/dist"),
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  minify: true,
  sourcemap: true,
  legalComments: "linked",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
