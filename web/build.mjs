// Bundles the web player with esbuild into the package's static folder, where golive serves
// it as /static/dist/player.js. `node build.mjs --watch` rebuilds on every change.
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: [here("./src/player.ts")],
  outfile: here("../src/golive/web/static/dist/player.js"),
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
