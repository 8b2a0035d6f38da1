/**
 * Chat replay on the VOD page: the chat of the live session, shown in step with playback.
 *
 * Messages come from /web/vods/<id>/chat?from=&to= (seconds of the VOD's timeline, at most
 * 500 an answer) a window at a time, fetched ahead of the playhead; a message is shown once
 * the playhead reaches its time `t`. A seek clears the list and starts again from a little
 * before the new position (so the viewer sees the chat that led up to it), and answers to
 * requests made before the seek are dropped. Text goes in with textContent only.
 */
import { hueClass } from "./avatar";

export interface ReplayMessage {
  id: string;
  user: string;
  display_name: string;
  text: string;
  t: number;
}

/** Seconds of chat fetched per request (the server takes at most 600). */
const WINDOW = 60;
/** Fetch the next window when the playhead is this close to the end of what is loaded. */
const AHEAD = 20;
/** After a seek, the chat of this many seconds before the new position is shown too. */
const BEFORE_SEEK = 30;
/** Messages kept in the list; older ones are removed. */
const SHOWN = 200;
const PAGE_LIMIT = 500;

export function clock(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export class ChatReplay {
  /** Messages fetched and not shown yet, in time order. */
  private pending: ReplayMessage[] = [];
  private seen = new Set<string>();
  /** The timeline [from, to) whose messages are fetched (or being fetched). */
  private loadedTo = 0;
  private fetching = false;
  /** Bumped by every reset: answers to older requests are dropped. */
  private epoch = 0;
  /** Messages shown so far (tests read it). */
  shown = 0;

  constructor(
    private readonly vodId: string,
    private readonly duration: number,
    private readonly video: HTMLVideoElement,
    private readonly list: HTMLElement,
    private readonly status: HTMLElement | null,
  ) {
    video.addEventListener("seeking", () => this.reset(video.currentTime));
    video.addEventListener("timeupdate", () => this.tick());
    // The player may stop a few milliseconds short of the last messages' time (those sent
    // while the publisher was away at the very end sit at the VOD's end).
    video.addEventListener("ended", () => this.tick(Number.POSITIVE_INFINITY));
    // timeupdate fires every ~250 ms at best; a steadier clock while playing.
    setInterval(() => {
      if (!video.paused) this.tick();
    }, 200);
    this.reset(0);
  }

  /** Forget everything and load from a little before `position`. */
  reset(position: number): void {
    this.epoch += 1;
    this.pending = [];
    this.seen.clear();
    this.list.replaceChildren();
    this.loadedTo = Math.max(0, position - BEFORE_SEEK);
    this.fetching = false;
    this.tick();
  }

  private tick(at?: number): void {
    const now = at ?? this.video.currentTime;
    while (this.pending.length > 0 && this.pending[0].t <= now) {
      this.show(this.pending.shift() as ReplayMessage);
    }
    if (!this.fetching && this.loadedTo <= this.duration && now + AHEAD >= this.loadedTo) {
      void this.fetchWindow();
    }
  }

  private async fetchWindow(): Promise<void> {
    const epoch = this.epoch;
    const from = this.loadedTo;
    const to = from + WINDOW;
    this.fetching = true;
    let messages: ReplayMessage[];
    try {
      const response = await fetch(
        `/web/vods/${encodeURIComponent(this.vodId)}/chat?from=${from.toFixed(3)}&to=${to.toFixed(3)}`,
        { cache: "no-store" },
      );
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      messages = ((await response.json()) as { messages: ReplayMessage[] }).messages;
    } catch (error) {
      if (epoch === this.epoch) {
        this.say(`Chat replay is unavailable (${String(error)}); retrying…`);
        setTimeout(() => {
          if (epoch === this.epoch) {
            this.fetching = false;
            this.tick();
          }
        }, 3000);
      }
      return;
    }
    if (epoch !== this.epoch) return; // a seek came in between
    this.say(null);
    const fresh = messages.filter((m) => !this.seen.has(m.id));
    for (const m of fresh) this.seen.add(m.id);
    this.pending.push(...fresh);
    this.pending.sort((a, b) => a.t - b.t);
    // A full answer may have left messages out: continue from the last one's time.
    const last = messages[messages.length - 1];
    this.loadedTo = messages.length >= PAGE_LIMIT && last !== undefined && last.t > from ? last.t : to;
    this.fetching = false;
    if (this.shown === 0 && this.pending.length === 0 && this.loadedTo > this.duration) {
      this.say("No chat messages in this broadcast.");
    }
    this.tick();
  }

  private say(text: string | null): void {
    if (this.status === null) return;
    this.status.textContent = text ?? "";
    this.status.hidden = text === null;
  }

  private show(message: ReplayMessage): void {
    const item = document.createElement("li");
    item.className = "chat-message";
    item.dataset.id = message.id;
    item.dataset.t = String(message.t);
    const time = document.createElement("time");
    time.className = "chat-time";
    time.textContent = clock(message.t);
    const name = document.createElement("span");
    name.className = `chat-name ${hueClass(message.user)}`;
    name.textContent = message.display_name;
    name.title = message.user;
    const separator = document.createElement("span");
    separator.className = "chat-sep";
    separator.textContent = ": ";
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = message.text;
    item.append(time, name, separator, text);
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    while (this.list.childElementCount > SHOWN) this.list.firstElementChild?.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
    this.shown += 1;
    this.say(null);
  }
}
