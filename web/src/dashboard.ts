/**
 * The dashboard: live stream health of each of the streamer's channels (polled every 2 s) and
 * a copy button for a newly shown stream key. Text goes in with textContent only.
 */
const POLL_MS = 2000;

const LABELS: Record<string, string> = {
  bitrate_bps: "Ingest bitrate (bit/s)",
  fps: "Frame rate",
  keyframe_interval: "Keyframe interval (s)",
  width: "Width",
  height: "Height",
  video_codec: "Video codec",
  audio_codec: "Audio codec",
  uptime: "Uptime (s)",
  transcoder: "Transcoder",
};

async function poll(section: HTMLElement): Promise<void> {
  const name = section.dataset.channel ?? "";
  const health = section.querySelector("dl.health");
  const state = section.querySelector(".state");
  try {
    const response = await fetch(`/web/channels/${encodeURIComponent(name)}`, { cache: "no-store" });
    const info = (await response.json()) as { live: boolean; viewers: number; health?: Record<string, unknown> };
    if (state !== null) state.textContent = info.live ? `live · ${info.viewers} watching` : "offline";
    if (health === null) return;
    const rows: Node[] = [];
    for (const [key, label] of Object.entries(LABELS)) {
      const value = info.health?.[key];
      if (value === undefined || value === null) continue;
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = typeof value === "number" ? String(Math.round(value * 100) / 100) : String(value);
      rows.push(dt, dd);
    }
    health.replaceChildren(...rows);
  } catch {
    // next poll
  }
}

function main(): void {
  const sections = Array.from(document.querySelectorAll<HTMLElement>("section.channel"));
  const tick = (): void => sections.forEach((s) => void poll(s));
  tick();
  setInterval(tick, POLL_MS);
  document.querySelectorAll<HTMLButtonElement>("button.copy-key").forEach((button) => {
    button.addEventListener("click", () => {
      const input = button.parentElement?.querySelector<HTMLInputElement>("input.stream-key");
      if (input) void navigator.clipboard.writeText(input.value).then(() => (button.textContent = "Copied"));
    });
  });
}

main();
