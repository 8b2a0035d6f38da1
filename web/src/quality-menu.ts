/**
 * The quality menu: "Auto" (hls.js ABR) or one rendition, by height and bitrate. Filled from
 * hls.js's levels whenever a manifest is parsed.
 */
import Hls, { Events } from "hls.js";

export class QualityMenu {
  constructor(private readonly select: HTMLSelectElement) {}

  attach(hls: Hls): void {
    const fill = (): void => {
      const options = [new Option("Auto", "-1")];
      hls.levels.forEach((level, index) => {
        const label = level.height
          ? `${level.height}p · ${Math.round(level.bitrate / 1000)} kbit/s`
          : `Audio only · ${Math.round(level.bitrate / 1000)} kbit/s`;
        options.push(new Option(label, String(index)));
      });
      this.select.replaceChildren(...options);
      this.select.value = String(hls.autoLevelEnabled ? -1 : hls.currentLevel);
      this.select.disabled = hls.levels.length < 2;
    };
    hls.on(Events.MANIFEST_PARSED, fill);
    this.select.onchange = () => {
      // currentLevel switches now (flushing the buffer ahead); -1 hands back to ABR.
      hls.currentLevel = Number(this.select.value);
    };
  }
}
