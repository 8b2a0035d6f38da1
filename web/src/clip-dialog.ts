/**
 * The clip dialog: a signed-in viewer picks a length (5-60 s, 30 by default) and an optional
 * title; the clip is the <length> seconds that end at the playhead when the dialog opened.
 * The request is `POST <endpoint>` with `{"duration", "title"?}` plus what the page adds to
 * place the clip (on the watch page, `start_pdt` when the viewer is behind the live edge:
 * omitted, the server takes the last <length> seconds recorded), as JSON with the session's
 * CSRF token in `X-CSRF-Token`. The answer's link (`/clips/<id>`) or error message is shown
 * in the dialog. Text goes in with textContent only.
 */
import { formatBehind } from "./behind-text";

export const MIN_CLIP_S = 5;
export const MAX_CLIP_S = 60;
export const DEFAULT_CLIP_S = 30;
/** Longest title sent (the server has the last word on what it accepts). */
export const MAX_TITLE_CHARS = 140;

/** Where the clip ends, captured when the dialog opens. */
export interface ClipPoint {
  /** Seconds behind the live position; 0 at the live edge. */
  behind: number;
  /** The request's extra fields for a clip of `duration` seconds ending at this point. */
  fields(duration: number): Record<string, number>;
  /** What the dialog says the clip will be (default: the live wording). */
  describe?(duration: number): string;
}

export interface ClipDialogElements {
  dialog: HTMLDialogElement;
  form: HTMLFormElement;
  length: HTMLInputElement;
  lengthOut: HTMLOutputElement;
  title: HTMLInputElement;
  summary: HTMLElement;
  submit: HTMLButtonElement;
  cancel: HTMLButtonElement;
  result: HTMLElement;
  link: HTMLAnchorElement;
  error: HTMLElement;
}

interface ClipAnswer {
  id?: unknown;
  url?: unknown;
}

/** The message of an error answer: `{"error": {"code", "message"}}` or `{"error", "message"}`. */
export function errorMessage(body: unknown, status: number): string {
  if (typeof body === "object" && body !== null) {
    const { error, message } = body as { error?: unknown; message?: unknown };
    if (typeof error === "object" && error !== null) {
      const inner = (error as { message?: unknown }).message;
      if (typeof inner === "string" && inner !== "") return inner;
    }
    if (typeof message === "string" && message !== "") return message;
    if (typeof error === "string" && error !== "") return error;
  }
  if (status === 401) return "Sign in to make clips.";
  if (status === 403) return "You cannot make clips on this channel.";
  return `The clip could not be made (HTTP ${status}).`;
}

/** A same-site clip page link from the answer, or null (never a link elsewhere). */
export function clipLink(answer: ClipAnswer): string | null {
  if (typeof answer.url === "string" && /^\/clips\/[A-Za-z0-9_-]+$/.test(answer.url)) {
    return answer.url;
  }
  if (typeof answer.id === "string" && /^[A-Za-z0-9_-]+$/.test(answer.id)) {
    return `/clips/${answer.id}`;
  }
  return null;
}

export class ClipDialog {
  private point: ClipPoint | null = null;
  private busy = false;

  constructor(
    private readonly el: ClipDialogElements,
    private readonly endpoint: string,
    private readonly csrf: string,
  ) {
    const { length, form, cancel, dialog } = el;
    length.min = String(MIN_CLIP_S);
    length.max = String(MAX_CLIP_S);
    length.step = "1";
    el.title.maxLength = MAX_TITLE_CHARS;
    length.addEventListener("input", () => this.describe());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    cancel.addEventListener("click", () => dialog.close());
  }

  /** Opens the dialog for a clip ending at `point`. */
  open(point: ClipPoint): void {
    this.point = point;
    const el = this.el;
    el.length.value = String(DEFAULT_CLIP_S);
    el.title.value = "";
    el.result.hidden = true;
    el.error.hidden = true;
    el.submit.disabled = false;
    this.describe();
    el.dialog.showModal();
    el.length.focus();
  }

  /** The chosen length, whole seconds within the limits. */
  private duration(): number {
    const value = Math.round(Number(this.el.length.value));
    if (!Number.isFinite(value)) return DEFAULT_CLIP_S;
    return Math.min(MAX_CLIP_S, Math.max(MIN_CLIP_S, value));
  }

  private describe(): void {
    const duration = this.duration();
    this.el.lengthOut.textContent = `${duration} s`;
    const behind = this.point?.behind ?? 0;
    const own = this.point?.describe;
    this.el.summary.textContent = own
      ? own(duration)
      : behind >= 1
        ? `The ${duration} seconds before ${formatBehind(behind)} (where you are watching).`
        : `The last ${duration} seconds of the stream.`;
  }

  private async send(): Promise<void> {
    const point = this.point;
    if (point === null || this.busy) {
      return;
    }
    const el = this.el;
    const duration = this.duration();
    const body: Record<string, unknown> = { duration, ...point.fields(duration) };
    const title = el.title.value.trim();
    if (title !== "") {
      body.title = title;
    }
    this.busy = true;
    el.submit.disabled = true;
    el.error.hidden = true;
    el.result.hidden = true;
    let made = false;
    try {
      const response = await fetch(this.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": this.csrf },
        body: JSON.stringify(body),
      });
      let answer: unknown = null;
      try {
        answer = await response.json();
      } catch {
        answer = null;
      }
      const link = response.ok && answer !== null ? clipLink(answer as ClipAnswer) : null;
      if (link !== null) {
        el.link.href = link;
        el.link.textContent = new URL(link, window.location.href).href;
        el.result.hidden = false;
        made = true;
      } else {
        this.fail(response.ok ? "The server's answer had no clip link." : errorMessage(answer, response.status));
      }
    } catch {
      this.fail("The server could not be reached.");
    } finally {
      this.busy = false;
      el.submit.disabled = made; // one clip per opening: no double clip on a second click
    }
  }

  private fail(message: string): void {
    this.el.error.textContent = message;
    this.el.error.hidden = false;
  }
}

/** The dialog's elements by their ids (watch.html and the VOD page use the same ones). */
export function clipElements(): ClipDialogElements | null {
  const get = (id: string): HTMLElement | null => document.getElementById(id);
  const dialog = get("clip-dialog");
  const form = get("clip-form");
  const length = get("clip-length");
  const lengthOut = get("clip-length-out");
  const title = get("clip-title");
  const summary = get("clip-summary");
  const submit = get("clip-submit");
  const cancel = get("clip-cancel");
  const result = get("clip-result");
  const link = get("clip-link");
  const error = get("clip-error");
  if (
    !(dialog instanceof HTMLDialogElement) ||
    !(form instanceof HTMLFormElement) ||
    !(length instanceof HTMLInputElement) ||
    !(lengthOut instanceof HTMLOutputElement) ||
    !(title instanceof HTMLInputElement) ||
    summary === null ||
    !(submit instanceof HTMLButtonElement) ||
    !(cancel instanceof HTMLButtonElement) ||
    result === null ||
    !(link instanceof HTMLAnchorElement) ||
    error === null
  ) {
    return null;
  }
  return { dialog, form, length, lengthOut, title, summary, submit, cancel, result, link, error };
}
