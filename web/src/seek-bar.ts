/**
 * The watch page's seek bar over the live range (live-range.ts): a `role="slider"` whose
 * value is the offset from the live position in seconds (minimum: the oldest media, as a
 * negative number; maximum 0, live), so that the thumb stays put while the viewer plays
 * behind the edge at rate 1 and the window slides or grows.
 *
 * Mouse, touch and pen: press or drag anywhere on the bar, the seek happens on release (a
 * label follows the pointer with the offset it would seek to). Keyboard, once focused:
 * Left/Down and Right/Up 5 s, Page Down/Up 30 s, Home the oldest media, End live. A seek
 * that ends within LIVE_SNAP_S of the live position jumps to live instead.
 */
import { formatBehind, spokenBehind } from "./behind-text";
import type { LiveRange } from "./live-range";

/** Seconds of one arrow key press, and of one Page Up/Down. */
export const KEY_STEP_S = 5;
export const PAGE_STEP_S = 30;
/** A seek that lands this close to the live position is "jump to live". */
export const LIVE_SNAP_S = 1.5;
/**
 * Seeks stay this far after the oldest listed media: in a sliding window it is dropped from
 * the playlist as the window moves on, possibly before hls.js has loaded it.
 */
export const START_MARGIN_S = 2;
/** Below this much seekable media the bar is disabled (nothing to seek over). */
export const MIN_RANGE_S = 3;

/** What the bar drives: the page's player. */
export interface SeekTarget {
  range(): LiveRange | null;
  /** True while the viewer follows the live edge (live-follow.ts): the thumb is at the end. */
  following(): boolean;
  /** Seek to a media time (already within the range). */
  seekTo(time: number): void;
  toLive(): void;
}

export interface SeekBarElements {
  bar: HTMLElement;
  played: HTMLElement;
  thumb: HTMLElement;
  hover: HTMLElement;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

export class SeekBar {
  private dragging: number | null = null; // the pointer id while dragging
  private preview: number | null = null; // the offset the drag would seek to
  private last: LiveRange | null = null;

  constructor(
    private readonly el: SeekBarElements,
    private readonly target: SeekTarget,
  ) {
    const bar = el.bar;
    bar.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    bar.addEventListener("pointermove", (event) => this.onPointerMove(event));
    bar.addEventListener("pointerup", (event) => this.onPointerUp(event));
    bar.addEventListener("pointercancel", () => this.endDrag());
    bar.addEventListener("lostpointercapture", () => this.endDrag());
    bar.addEventListener("pointerleave", () => {
      if (this.dragging === null) el.hover.hidden = true;
    });
    bar.addEventListener("keydown", (event) => this.onKey(event));
    this.render();
  }

  /** Redraws for the target's current range. */
  render(): void {
    const range = this.target.range();
    const following = this.target.following();
    this.last = range;
    const { bar, played, thumb } = this.el;
    const span = range === null ? 0 : range.live - range.start;
    const usable = range !== null && span >= MIN_RANGE_S;
    bar.classList.toggle("disabled", !usable);
    bar.setAttribute("aria-disabled", String(!usable));
    bar.tabIndex = usable ? 0 : -1;
    if (range === null || !usable) {
      this.setFraction(played, thumb, 1);
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "0");
      bar.setAttribute("aria-valuenow", "0");
      bar.setAttribute("aria-valuetext", range === null ? "not available" : "live");
      return;
    }
    const min = range.start - range.live;
    const offset = this.preview ?? (following ? 0 : clamp(range.current - range.live, min, 0));
    this.setFraction(played, thumb, (offset - min) / -min);
    bar.setAttribute("aria-valuemin", String(Math.floor(min)));
    bar.setAttribute("aria-valuemax", "0");
    bar.setAttribute("aria-valuenow", String(Math.round(offset)));
    bar.setAttribute("aria-valuetext", offset > -0.5 ? "live" : spokenBehind(-offset));
  }

  private setFraction(played: HTMLElement, thumb: HTMLElement, fraction: number): void {
    const percent = `${(clamp(fraction, 0, 1) * 100).toFixed(2)}%`;
    played.style.width = percent;
    thumb.style.left = percent;
  }

  /** The offset from live under the pointer at `clientX`; null without a usable range. */
  private offsetAt(clientX: number): number | null {
    const range = this.last;
    if (range === null || range.live - range.start < MIN_RANGE_S) {
      return null;
    }
    const rect = this.el.bar.getBoundingClientRect();
    const fraction = rect.width > 0 ? clamp((clientX - rect.left) / rect.width, 0, 1) : 1;
    return (range.start - range.live) * (1 - fraction);
  }

  private showHover(clientX: number, offset: number): void {
    const hover = this.el.hover;
    const rect = this.el.bar.getBoundingClientRect();
    hover.textContent = offset > -LIVE_SNAP_S ? "Live" : formatBehind(-offset);
    hover.style.left = `${clamp(clientX - rect.left, 0, rect.width).toFixed(0)}px`;
    hover.hidden = false;
  }

  private onPointerDown(event: PointerEvent): void {
    if (event.button !== 0) {
      return;
    }
    const offset = this.offsetAt(event.clientX);
    if (offset === null) {
      return;
    }
    event.preventDefault();
    this.el.bar.focus();
    this.el.bar.setPointerCapture(event.pointerId);
    this.dragging = event.pointerId;
    this.preview = offset;
    this.showHover(event.clientX, offset);
    this.render();
  }

  private onPointerMove(event: PointerEvent): void {
    const offset = this.offsetAt(event.clientX);
    if (offset === null) {
      return;
    }
    this.showHover(event.clientX, offset);
    if (this.dragging === event.pointerId) {
      this.preview = offset;
      this.render();
    }
  }

  private onPointerUp(event: PointerEvent): void {
    if (this.dragging !== event.pointerId) {
      return;
    }
    const offset = this.offsetAt(event.clientX) ?? this.preview;
    this.endDrag();
    if (offset !== null) {
      this.seekOffset(offset);
    }
  }

  private endDrag(): void {
    this.dragging = null;
    this.preview = null;
    this.el.hover.hidden = true;
  }

  private onKey(event: KeyboardEvent): void {
    const range = this.last;
    if (range === null || range.live - range.start < MIN_RANGE_S) {
      return;
    }
    const now = this.target.following() ? 0 : range.current - range.live;
    const min = range.start - range.live;
    let offset: number;
    switch (event.key) {
      case "ArrowLeft":
      case "ArrowDown":
        offset = now - KEY_STEP_S;
        break;
      case "ArrowRight":
      case "ArrowUp":
        offset = now + KEY_STEP_S;
        break;
      case "PageDown":
        offset = now - PAGE_STEP_S;
        break;
      case "PageUp":
        offset = now + PAGE_STEP_S;
        break;
      case "Home":
        offset = min;
        break;
      case "End":
        offset = 0;
        break;
      default:
        return;
    }
    event.preventDefault();
    this.seekOffset(offset);
  }

  /** Seeks to `offset` seconds from the live position (<= 0), or to live when close to it. */
  private seekOffset(offset: number): void {
    const range = this.target.range();
    if (range === null) {
      return;
    }
    if (offset > -LIVE_SNAP_S) {
      this.target.toLive();
      return;
    }
    const low = Math.min(range.start + START_MARGIN_S, range.live);
    this.target.seekTo(clamp(range.live + offset, low, range.live));
    this.render();
  }
}
