/**
 * The quality menu: "Auto" (hls.js's bandwidth-driven choice, with the rendition it is on now)
 * or one rendition, highest first. Choosing one sets `hls.currentLevel`, which switches at
 * once (the buffer ahead is replaced); "Auto" hands the choice back to hls.js.
 */
import Hls, { Events, type Level } from "hls.js";

export const AUTO = -1;

function label(level: Level): string {
  if (!level.height) {
    return "Audio only";
  }
  const rate = level.frameRate > 31 ? String(Math.round(level.frameRate)) : "";
  const source = /source/i.test(level.name ?? "") ? " (Source)" : "";
  return `${level.height}p${rate}${source}`;
}

export class QualityMenu {
  private hls: Hls | null = null;
  private autoOption: HTMLOptionElement = new Option("Auto", String(AUTO));

  constructor(private readonly select: HTMLSelectElement) {
    select.addEventListener("change", () => {
      const hls = this.hls;
      if (hls === null) {
        return;
      }
      hls.currentLevel = Number(select.value);
    });
    this.reset();
  }

  attach(hls: Hls): void {
    this.hls = hls;
    hls.on(Events.MANIFEST_PARSED, () => this.fill());
    hls.on(Events.LEVELS_UPDATED, () => this.fill());
    hls.on(Events.LEVEL_SWITCHED, () => this.showCurrent());
  }

  /** Back to a disabled "Auto" (no stream, or the browser plays HLS itself). */
  reset(): void {
    this.hls = null;
    this.autoOption = new Option("Auto", String(AUTO));
    this.select.replaceChildren(this.autoOption);
    this.select.value = String(AUTO);
    this.select.disabled = true;
  }

  private fill(): void {
    const hls = this.hls;
    if (hls === null) {
      return;
    }
    this.autoOption = new Option("Auto", String(AUTO));
    const options = hls.levels
      .map((level, index) => ({ level, index }))
      .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate)
      .map(({ level, index }) => {
        const option = new Option(label(level), String(index));
        option.title = `${Math.round(level.bitrate / 1000)} kbit/s`;
        return option;
      });
    this.select.replaceChildren(this.autoOption, ...options);
    this.select.disabled = hls.levels.length < 2;
    this.showCurrent();
  }

  private showCurrent(): void {
    const hls = this.hls;
    if (hls === null) {
      return;
    }
    const playing = hls.levels[hls.currentLevel];
    this.autoOption.textContent = hls.autoLevelEnabled && playing !== undefined ? `Auto (${label(playing)})` : "Auto";
    this.select.value = String(hls.autoLevelEnabled ? AUTO : hls.currentLevel);
  }
}
