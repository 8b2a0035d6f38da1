/**
 * The creator dashboard: every 2 s each channel's live status and ingest health come from
 * /web/channels/<name>/health; the preview thumbnail refreshes while live; the stream key can
 * be revealed and copied, and rotated without leaving the page; title and category save in
 * place. The page's forms work without this script; with it, changes go as JSON with the
 * session's CSRF token (from <meta name="csrf-token">). Text goes in with textContent only.
 */
const POLL_MS = 2000;
const PREVIEW_MS = 10_000;

type Health = Record<string, number | string | null | undefined>;

interface HealthJson {
  live: boolean;
  state: string | null;
  viewers: number | null;
  peak_viewers: number | null;
  health: Health | null;
}

interface ErrorJson {
  error?: { message?: string };
}

const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** [label, value] rows for the health grid; values the stream does not have are left out. */
function healthRows(info: HealthJson): Array<[string, string]> {
  const h = info.health ?? {};
  const rows: Array<[string, string]> = [];
  const bitrate = num(h.bitrate_bps);
  if (bitrate !== null) rows.push(["Ingest bitrate", `${(bitrate / 1e6).toFixed(2)} Mbit/s`]);
  const fps = num(h.fps);
  if (fps !== null) rows.push(["Frame rate", `${fps.toFixed(1)} fps`]);
  const gop = num(h.keyframe_interval);
  rows.push(["Keyframe interval", gop === null ? "–" : `${gop.toFixed(2)} s`]);
  const width = num(h.width);
  const height = num(h.height);
  if (width && height) rows.push(["Resolution", `${width}×${height}`]);
  if (typeof h.video_codec === "string") rows.push(["Video codec", h.video_codec]);
  if (typeof h.audio_codec === "string") {
    const rate = num(h.audio_sample_rate);
    rows.push(["Audio codec", rate ? `${h.audio_codec} · ${(rate / 1000).toFixed(1)} kHz` : h.audio_codec]);
  }
  if (typeof h.transcoder === "string") rows.push(["Transcoder", h.transcoder]);
  const uptime = num(h.uptime);
  if (uptime !== null) rows.push(["Uptime", duration(uptime)]);
  if (info.viewers !== null) {
    const peak = info.peak_viewers !== null ? ` (peak ${info.peak_viewers})` : "";
    rows.push(["Viewers", `${info.viewers}${peak}`]);
  }
  return rows;
}

/** Advice a streamer can act on. */
function warnings(info: HealthJson): string[] {
  const h = info.health ?? {};
  const out: string[] = [];
  const bitrate = num(h.bitrate_bps);
  const fps = num(h.fps);
  const gop = num(h.keyframe_interval);
  const uptime = num(h.uptime) ?? 0;
  if (info.state === "reconnecting") out.push("The encoder disconnected: waiting for it to come back.");
  else if (uptime > 5 && bitrate !== null && bitrate < 50_000) out.push("Almost no data is arriving from the encoder.");
  if (gop !== null && gop > 4) out.push(`Keyframes every ${gop.toFixed(1)} s: set the encoder's keyframe interval to 1–2 s for low latency.`);
  if (uptime > 5 && fps !== null && fps > 0 && fps < 20) out.push(`Only ${fps.toFixed(1)} fps arrive: the encoder or the upload may be overloaded.`);
  if (typeof h.transcoder === "string" && h.transcoder.startsWith("failed")) out.push("Transcoding stopped: viewers get the source quality only.");
  return out;
}

function statusText(info: HealthJson): string {
  if (!info.live) return "Offline";
  const state = info.state === "reconnecting" ? "Reconnecting" : "Live";
  return info.viewers === null ? state : `${state} · ${info.viewers} watching`;
}

class ChannelPanel {
  private readonly name: string;
  private readonly status: HTMLElement | null;
  private readonly grid: HTMLElement | null;
  private readonly idle: HTMLElement | null;
  private readonly warningList: HTMLElement | null;
  private readonly preview: HTMLImageElement | null;
  private lastPreview = 0;

  constructor(private readonly panel: HTMLElement) {
    this.name = panel.dataset.channel ?? "";
    this.status = panel.querySelector('[data-role="status"]');
    this.grid = panel.querySelector('[data-role="health"]');
    this.idle = panel.querySelector('[data-role="idle"]');
    this.warningList = panel.querySelector('[data-role="warnings"]');
    this.preview = panel.querySelector<HTMLImageElement>(".preview img.thumb");
    if (this.preview !== null) {
      const box = this.preview.parentElement;
      this.preview.addEventListener("load", () => box?.classList.add("loaded"));
      this.preview.addEventListener("error", () => box?.classList.remove("loaded"));
      if (this.preview.complete && this.preview.naturalWidth > 0) box?.classList.add("loaded");
    }
    this.wireKeyTools(panel);
    this.wireRotate();
    this.wireStop();
    this.wireInfoForm();
  }

  get url(): string {
    return `/web/channels/${encodeURIComponent(this.name)}`;
  }

  async poll(): Promise<void> {
    let info: HealthJson;
    try {
      const response = await fetch(`${this.url}/health`, { cache: "no-store" });
      if (!response.ok) return;
      info = (await response.json()) as HealthJson;
    } catch {
      return;
    }
    this.panel.dataset.live = info.live ? "1" : "0";
    const stopForm = this.panel.querySelector<HTMLFormElement>("form.stop-form");
    if (stopForm !== null) stopForm.hidden = !info.live;
    if (this.status !== null) {
      this.status.textContent = statusText(info);
      this.status.classList.toggle("live", info.live);
    }
    const rows = info.live ? healthRows(info) : [];
    if (this.grid !== null) {
      const nodes: Node[] = [];
      for (const [label, value] of rows) {
        const tile = document.createElement("div");
        tile.className = "health-tile";
        const dt = document.createElement("dt");
        dt.textContent = label;
        const dd = document.createElement("dd");
        dd.textContent = value;
        tile.append(dt, dd);
        nodes.push(tile);
      }
      this.grid.replaceChildren(...nodes);
    }
    if (this.idle !== null) {
      this.idle.hidden = rows.length > 0;
      this.idle.textContent = info.live ? "Waiting for stream data…" : "Not live. Start streaming to see health.";
    }
    if (this.warningList !== null) {
      this.warningList.replaceChildren(
        ...(info.live ? warnings(info) : []).map((text) => {
          const li = document.createElement("li");
          li.textContent = text;
          return li;
        }),
      );
    }
    if (info.live && this.preview !== null && Date.now() - this.lastPreview > PREVIEW_MS) {
      this.lastPreview = Date.now();
      this.preview.src = `${this.preview.dataset.src ?? ""}?t=${Date.now()}`;
    }
  }

  private async post(path: string, body: unknown): Promise<{ ok: boolean; json: unknown }> {
    const response = await fetch(`${this.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let json: unknown = null;
    try {
      json = await response.json();
    } catch {
      // not JSON: reported as a failure below
    }
    return { ok: response.ok, json };
  }

  private wireKeyTools(root: HTMLElement): void {
    root.querySelectorAll<HTMLButtonElement>("button.reveal-key").forEach((button) => {
      button.addEventListener("click", () => {
        const input = button.parentElement?.querySelector<HTMLInputElement>("input.stream-key");
        if (!input) return;
        const hidden = input.type === "password";
        input.type = hidden ? "text" : "password";
        button.textContent = hidden ? "Hide" : "Show";
      });
    });
    root.querySelectorAll<HTMLButtonElement>("button.copy-key").forEach((button) => {
      button.addEventListener("click", () => {
        const input = button.parentElement?.querySelector<HTMLInputElement>("input.stream-key");
        if (input) void copy(input.value, button, input);
      });
    });
    root.querySelectorAll<HTMLButtonElement>("button.copy-text").forEach((button) => {
      button.addEventListener("click", () => void copy(button.dataset.copy ?? "", button, null));
    });
  }

  private wireRotate(): void {
    const form = this.panel.querySelector<HTMLFormElement>("form.rotate-form");
    const area = this.panel.querySelector<HTMLElement>('[data-role="key"]');
    if (form === null || area === null) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const sure = window.confirm(
        `Make a new stream key for ${this.name}? The current key stops working: update it in your encoder.`,
      );
      if (!sure) return;
      void this.post("/stream-key", {}).then(({ ok, json }) => {
        const key = (json as { stream_key?: string } | null)?.stream_key;
        if (!ok || typeof key !== "string") {
          showKeyError(area, (json as ErrorJson | null)?.error?.message ?? "Could not rotate the key.");
          return;
        }
        area.replaceChildren(...newKeyBox(this.name, key));
        this.wireKeyTools(area);
      }, () => showKeyError(area, "Could not reach the server."));
    });
  }

  private wireStop(): void {
    const form = this.panel.querySelector<HTMLFormElement>("form.stop-form");
    if (form === null) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const sure = window.confirm(
        `Stop the stream of ${this.name}? The encoder is disconnected; rotate the key to keep it out.`,
      );
      if (!sure) return;
      void this.post("/stop", {}).then(({ ok, json }) => {
        if (!ok) {
          window.alert((json as ErrorJson | null)?.error?.message ?? "Could not stop the stream.");
          return;
        }
        void this.poll();
      }, () => window.alert("Could not reach the server."));
    });
  }

  private wireInfoForm(): void {
    const form = this.panel.querySelector<HTMLFormElement>("form.info-form");
    const status = form?.querySelector<HTMLElement>(".form-status");
    if (!form || !status) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      status.textContent = "Saving…";
      status.className = "form-status";
      const body: Record<string, string | boolean> = {
        title: String(data.get("title") ?? ""),
        category: String(data.get("category") ?? ""),
      };
      const visibility = data.get("visibility");
      if (typeof visibility === "string") body.visibility = visibility;
      const record = data.get("record");
      if (record === "on" || record === "off") body.record = record === "on";
      const clipPermission = data.get("clip_permission");
      if (typeof clipPermission === "string") body.clip_permission = clipPermission;
      void this.post("/settings", body).then(
        ({ ok, json }) => {
          if (ok) {
            const saved = json as {
              title: string;
              category: string;
              visibility?: string;
              record?: boolean;
              clip_permission?: string;
            };
            form.querySelector<HTMLInputElement>('input[name="title"]')!.value = saved.title;
            form.querySelector<HTMLInputElement>('input[name="category"]')!.value = saved.category;
            const select = form.querySelector<HTMLSelectElement>('select[name="visibility"]');
            if (select && saved.visibility) select.value = saved.visibility;
            const recordSelect = form.querySelector<HTMLSelectElement>('select[name="record"]');
            if (recordSelect && saved.record !== undefined) recordSelect.value = saved.record ? "on" : "off";
            const clipSelect = form.querySelector<HTMLSelectElement>('select[name="clip_permission"]');
            if (clipSelect && saved.clip_permission) clipSelect.value = saved.clip_permission;
            status.textContent = "Saved";
            status.classList.add("ok");
          } else {
            status.textContent = (json as ErrorJson | null)?.error?.message ?? "Not saved.";
            status.classList.add("bad");
          }
        },
        () => {
          status.textContent = "Could not reach the server.";
          status.classList.add("bad");
        },
      );
    });
  }
}

function newKeyBox(channel: string, key: string): Node[] {
  const box = document.createElement("div");
  box.className = "key-box new-key";
  const input = document.createElement("input");
  input.className = "stream-key";
  input.type = "password";
  input.readOnly = true;
  input.spellcheck = false;
  input.value = key;
  input.setAttribute("aria-label", `Stream key of ${channel}`);
  const reveal = document.createElement("button");
  reveal.type = "button";
  reveal.className = "button small reveal-key";
  reveal.textContent = "Show";
  const copyButton = document.createElement("button");
  copyButton.type = "button";
  copyButton.className = "button small copy-key";
  copyButton.textContent = "Copy";
  box.append(input, reveal, copyButton);
  const warning = document.createElement("p");
  warning.className = "key-warning";
  warning.setAttribute("role", "alert");
  warning.textContent = "New key: copy it now, it is shown only once. The old key no longer works.";
  return [box, warning];
}

function showKeyError(area: HTMLElement, message: string): void {
  const p = document.createElement("p");
  p.className = "form-error";
  p.textContent = message;
  area.append(p);
}

/** Copies `text`; the Clipboard API needs a secure context, so plain-HTTP LAN use falls back
 * to selecting the text and the older copy command. */
async function copy(text: string, button: HTMLButtonElement, input: HTMLInputElement | null): Promise<void> {
  let done = false;
  try {
    if (navigator.clipboard !== undefined) {
      await navigator.clipboard.writeText(text);
      done = true;
    }
  } catch {
    done = false;
  }
  if (!done && input !== null) {
    const type = input.type;
    input.type = "text";
    input.select();
    done = document.execCommand("copy");
    input.type = type;
  }
  const before = button.textContent;
  button.textContent = done ? "Copied" : "Copy failed";
  window.setTimeout(() => (button.textContent = before), 1500);
}

function main(): void {
  const panels = Array.from(document.querySelectorAll<HTMLElement>("section.channel-panel")).map((p) => new ChannelPanel(p));
  const tick = (): void => panels.forEach((p) => void p.poll());
  tick();
  setInterval(tick, POLL_MS);
}

main();

export {};
