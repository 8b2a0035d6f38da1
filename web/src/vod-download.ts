/**
 * "Download MP4" on the VOD page (shown to the channel's owner and administrators): starts
 * the background export (POST /web/vods/<id>/mp4, with the session's CSRF token), polls its
 * state every second with a progress bar, then offers the file.
 */
const POLL_MS = 1000;

interface ExportState {
  status: "pending" | "running" | "ready" | "failed";
  progress: number;
  size: number | null;
  url: string | null;
  error: string | null;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

export class Mp4Download {
  private readonly button: HTMLButtonElement;
  private readonly bar: HTMLProgressElement;
  private readonly status: HTMLElement;
  private readonly link: HTMLAnchorElement;
  private polling = false;

  constructor(
    private readonly vodId: string,
    box: HTMLElement,
    private readonly csrf: string,
  ) {
    this.button = box.querySelector("#mp4-start") as HTMLButtonElement;
    this.bar = box.querySelector("#mp4-progress") as HTMLProgressElement;
    this.status = box.querySelector("#mp4-status") as HTMLElement;
    this.link = box.querySelector("#mp4-link") as HTMLAnchorElement;
    this.button.addEventListener("click", () => void this.start());
    void this.refresh(false);
  }

  private url(): string {
    return `/web/vods/${encodeURIComponent(this.vodId)}/mp4`;
  }

  private async start(): Promise<void> {
    this.button.disabled = true;
    this.status.textContent = "Starting…";
    try {
      const response = await fetch(this.url(), {
        method: "POST",
        headers: { "x-csrf-token": this.csrf },
        cache: "no-store",
      });
      const body = await response.json();
      if (!response.ok) {
        this.status.textContent = body?.error?.message ?? `Failed (HTTP ${response.status})`;
        this.button.disabled = false;
        return;
      }
      this.render(body as ExportState);
    } catch (error) {
      this.status.textContent = `Failed: ${String(error)}`;
      this.button.disabled = false;
    }
  }

  /** Read the state; `quiet`: no message when none was asked for yet. */
  private async refresh(quiet: boolean): Promise<void> {
    try {
      const response = await fetch(this.url(), { cache: "no-store" });
      if (response.status === 404) {
        if (!quiet) this.status.textContent = "";
        return;
      }
      if (response.ok) this.render((await response.json()) as ExportState);
    } catch {
      // Network trouble: the next poll tries again.
    }
  }

  private render(state: ExportState): void {
    const working = state.status === "pending" || state.status === "running";
    this.bar.hidden = !working;
    this.bar.value = state.progress;
    this.button.disabled = working || state.status === "ready";
    this.button.hidden = state.status === "ready";
    if (state.status === "ready" && state.url !== null) {
      this.link.href = state.url;
      this.link.hidden = false;
      this.status.textContent = state.size !== null ? `MP4 ready (${megabytes(state.size)})` : "MP4 ready";
    } else if (state.status === "failed") {
      this.status.textContent = `The MP4 could not be made: ${state.error ?? "unknown error"}. Try again.`;
    } else {
      this.status.textContent =
        state.status === "pending" ? "Waiting for its turn…" : `Making the MP4… ${Math.round(state.progress * 100)}%`;
    }
    if (working && !this.polling) {
      this.polling = true;
      setTimeout(() => {
        this.polling = false;
        void this.refresh(true);
      }, POLL_MS);
    }
  }
}
