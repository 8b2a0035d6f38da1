/**
 * The watch page's chat: one WebSocket to /api/v1/channels/<channel>/chat (the protocol is in
 * docs/chat.md). Every piece of text from the server goes in with textContent, never as HTML,
 * so hostile names and messages stay text.
 *
 * Reading needs no account; sending needs a signed-in session (the cookie travels with the
 * socket). Owner and moderators get delete / timeout / ban buttons on others' messages; the
 * owner also appoints moderators and sets slow mode.
 */
import { hueClass } from "./avatar";

type Role = "owner" | "moderator" | "viewer";

interface ChatUserJson {
  name: string;
  display_name: string;
  role: Role;
}

interface ChatMessageJson {
  id: string;
  user: ChatUserJson;
  text: string;
  time: number;
  media_time: number | null;
}

type ServerFrame =
  | { type: "hello"; channel: string; user: ChatUserJson | null; slow_mode: number; can_send: boolean }
  | { type: "history" | "messages"; messages: ChatMessageJson[] }
  | { type: "deleted"; ids: string[] }
  | { type: "cleared_user"; user: string }
  | { type: "settings"; slow_mode: number }
  | { type: "ack"; nonce: string; id: string }
  | { type: "error"; code: string; message: string; nonce: string | null; retry_after: number | null }
  | {
      type: "moderated";
      action: "ban" | "unban" | "timeout" | "mod" | "unmod";
      user: string;
      seconds: number | null;
      by: string | null;
    };

/** Messages kept on screen; older ones are dropped from the top. */
const MAX_SHOWN = 200;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 15_000;
/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE: Record<number, string> = {
  4404: "This channel has no chat.",
  4403: "The chat refused this page.",
};
const TIMEOUT_SECONDS = 600;
const SLOW_MODES = [0, 3, 10, 30, 60, 120];
/** How long an error stays under the send box. */
const ERROR_SHOWN_MS = 8000;
/** Errors after which the text that was refused goes back into the box. */
const GIVE_BACK = new Set(["too_long", "rate_limited", "slow_mode", "duplicate", "too_large"]);
/** Pixels from the bottom that still count as "at the bottom" (keeps auto-scrolling on). */
const STICK_PX = 48;

/** Live chat statistics; tests read them as `window.golive.chat.stats`. */
export interface ChatStats {
  connected: boolean;
  /** The role the server gave us in hello (null: anonymous). */
  role: Role | null;
  canSend: boolean;
  received: number;
  /** Message ids shown now, oldest first. */
  shown: string[];
  sent: number;
  acked: number;
  lastError: string | null;
  slowMode: number;
}

/** The elements of watch.html the panel works with. */
export interface ChatElements {
  list: HTMLElement;
  form: HTMLFormElement;
  input: HTMLInputElement;
  sendButton: HTMLButtonElement;
  status: HTMLElement;
  error: HTMLElement;
  signIn: HTMLAnchorElement;
  more: HTMLButtonElement;
  ownerTools: HTMLElement;
}

function timeOfDay(epochMs: number): string {
  const date = new Date(epochMs);
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
}

function describe(frame: Extract<ServerFrame, { type: "moderated" }>): string {
  const by = frame.by ? ` by ${frame.by}` : "";
  switch (frame.action) {
    case "ban":
      return `${frame.user} was banned${by}.`;
    case "unban":
      return `${frame.user} was unbanned${by}.`;
    case "timeout":
      return `${frame.user} was timed out for ${frame.seconds ?? 0} s${by}.`;
    case "mod":
      return `${frame.user} is now a moderator.`;
    case "unmod":
      return `${frame.user} is no longer a moderator.`;
  }
}

export class ChatPanel {
  readonly stats: ChatStats = {
    connected: false,
    role: null,
    canSend: false,
    received: 0,
    shown: [],
    sent: 0,
    acked: 0,
    lastError: null,
    slowMode: 0,
  };

  private socket: WebSocket | null = null;
  private me: ChatUserJson | null = null;
  private nonce = 0;
  private readonly pending = new Map<string, string>();
  private reconnectMs = RECONNECT_MIN_MS;
  private stopped = false;
  private errorTimer: number | undefined;
  private mutedTimer: number | undefined;
  private mutedUntil = 0;

  constructor(
    private readonly channel: string,
    private readonly el: ChatElements,
  ) {
    el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(el.input.value);
    });
    el.signIn.href = `/login?next=${encodeURIComponent(`/${channel}`)}`;
    el.list.addEventListener("scroll", () => {
      if (this.atBottom()) {
        el.more.hidden = true;
      }
    });
    el.more.addEventListener("click", () => this.scrollToBottom());
    this.setComposer();
  }

  connect(): void {
    if (this.stopped) {
      return;
    }
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${window.location.host}/api/v1/channels/${encodeURIComponent(this.channel)}/chat`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.stats.connected = true;
      this.reconnectMs = RECONNECT_MIN_MS;
      this.setStatus("");
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        return;
      }
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      this.handle(frame);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) {
        return;
      }
      this.socket = null;
      this.stats.connected = false;
      this.stats.canSend = false;
      this.setComposer();
      const final = FINAL_CLOSE[event.code];
      if (final !== undefined) {
        this.stopped = true;
        this.setStatus(final);
        return;
      }
      this.setStatus("Chat disconnected. Reconnecting…");
      window.setTimeout(() => this.connect(), this.reconnectMs);
      this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
    });
  }

  send(text: string): void {
    const trimmed = text.trim();
    if (!trimmed || this.socket === null || this.socket.readyState !== WebSocket.OPEN || !this.stats.canSend) {
      return;
    }
    this.nonce += 1;
    const nonce = `c${this.nonce}`;
    this.pending.set(nonce, trimmed);
    this.socket.send(JSON.stringify({ type: "send", text: trimmed, nonce }));
    this.stats.sent += 1;
    this.el.input.value = "";
  }

  /** Sends a moderation command (delete, timeout, ban, unban, mod, unmod, slow_mode). */
  moderate(type: string, fields: Record<string, unknown>): void {
    if (this.socket !== null && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type, ...fields }));
    }
  }

  // -- frames ------------------------------------------------------------------------------------

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case "hello":
        this.me = frame.user;
        this.stats.role = frame.user?.role ?? null;
        this.stats.canSend = frame.can_send;
        this.stats.slowMode = frame.slow_mode;
        this.setComposer();
        this.renderOwnerTools();
        this.showSlowMode();
        break;
      case "history":
        this.el.list.replaceChildren();
        this.stats.shown = [];
        frame.messages.forEach((m) => this.add(m));
        this.scrollToBottom();
        break;
      case "messages":
        frame.messages.forEach((m) => this.add(m));
        break;
      case "deleted": {
        const ids = new Set(frame.ids);
        this.removeWhere((li) => ids.has(li.dataset.id ?? ""));
        break;
      }
      case "cleared_user":
        this.removeWhere((li) => li.dataset.user === frame.user);
        break;
      case "settings":
        this.stats.slowMode = frame.slow_mode;
        this.showSlowMode();
        this.renderOwnerTools();
        break;
      case "ack":
        if (this.pending.delete(frame.nonce)) {
          this.stats.acked += 1;
        }
        break;
      case "error":
        this.onError(frame);
        break;
      case "moderated":
        this.onModerated(frame);
        break;
    }
  }

  private onError(frame: Extract<ServerFrame, { type: "error" }>): void {
    this.stats.lastError = frame.code;
    const refused = frame.nonce !== null ? this.pending.get(frame.nonce) : undefined;
    if (frame.nonce !== null) {
      this.pending.delete(frame.nonce);
    }
    if (refused !== undefined && GIVE_BACK.has(frame.code) && this.el.input.value === "") {
      this.el.input.value = refused; // nothing typed since: give the text back to edit
    }
    let text = frame.message;
    if (frame.retry_after !== null && frame.retry_after > 0) {
      text += ` (try again in ${Math.ceil(frame.retry_after)} s)`;
    }
    if (frame.code === "banned") {
      this.mute(null);
    } else if (frame.code === "timed_out") {
      this.mute(frame.retry_after);
    } else if (frame.code === "not_signed_in") {
      this.stats.canSend = false;
      this.setComposer();
    }
    this.showError(text);
  }

  private onModerated(frame: Extract<ServerFrame, { type: "moderated" }>): void {
    this.addNotice(describe(frame), frame.action === "ban" ? frame.user : null);
    const me = this.me;
    if (me === null || frame.user !== me.name) {
      return;
    }
    switch (frame.action) {
      case "ban":
        this.mute(null);
        this.showError("You were banned from this chat.", false);
        break;
      case "timeout":
        this.mute(frame.seconds);
        this.showError(`You were timed out for ${frame.seconds ?? 0} s.`, false);
        break;
      case "unban":
        this.unmute();
        break;
      case "mod":
      case "unmod":
        me.role = frame.action === "mod" ? "moderator" : "viewer";
        this.stats.role = me.role;
        this.refreshTools();
        break;
    }
  }

  /** Sending is off: for good (ban, until an unban) or for `seconds` (timeout). */
  private mute(seconds: number | null): void {
    this.stats.canSend = false;
    window.clearTimeout(this.mutedTimer);
    this.mutedUntil = seconds === null ? Infinity : Date.now() + seconds * 1000;
    if (seconds !== null) {
      this.mutedTimer = window.setTimeout(() => this.unmute(), seconds * 1000);
    }
    this.setComposer();
  }

  private unmute(): void {
    window.clearTimeout(this.mutedTimer);
    this.mutedUntil = 0;
    this.stats.canSend = this.me !== null && this.stats.connected;
    this.setComposer();
    this.hideError();
  }

  // -- rendering -------------------------------------------------------------------------------

  private setComposer(): void {
    const { input, sendButton, signIn } = this.el;
    const anonymous = this.me === null;
    const canSend = this.stats.canSend;
    input.disabled = !canSend;
    sendButton.disabled = !canSend;
    signIn.hidden = !anonymous || !this.stats.connected;
    if (!this.stats.connected) {
      input.placeholder = "Connecting to chat…";
    } else if (anonymous) {
      input.placeholder = "Sign in to send messages";
    } else if (canSend) {
      input.placeholder = "Send a message";
    } else if (this.mutedUntil === Infinity) {
      input.placeholder = "You are banned from this chat";
    } else {
      input.placeholder = "You cannot chat right now";
    }
  }

  private add(message: ChatMessageJson): void {
    this.stats.received += 1;
    const stick = this.atBottom();
    const item = document.createElement("li");
    item.className = `chat-message role-${message.user.role}`;
    item.dataset.id = message.id;
    item.dataset.user = message.user.name;
    item.dataset.role = message.user.role;

    const time = document.createElement("time");
    time.className = "chat-time";
    time.dateTime = new Date(message.time).toISOString();
    time.textContent = timeOfDay(message.time);
    item.append(time);
    if (message.user.role !== "viewer") {
      const badge = document.createElement("span");
      badge.className = `chat-badge ${message.user.role}`;
      badge.textContent = message.user.role === "owner" ? "Host" : "Mod";
      item.append(badge);
    }
    const name = document.createElement("span");
    name.className = `chat-name ${hueClass(message.user.name)}`;
    name.textContent = message.user.display_name || message.user.name;
    name.title = `@${message.user.name}`;
    const separator = document.createElement("span");
    separator.className = "chat-sep";
    separator.textContent = ": ";
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = message.text;
    item.append(name, separator, text);
    if (this.me !== null && message.user.name !== this.me.name && message.text.includes(`@${this.me.name}`)) {
      item.classList.add("mention");
    }
    this.addTools(item);

    this.el.list.append(item);
    this.stats.shown.push(message.id);
    this.trim();
    this.follow(stick);
  }

  private addNotice(text: string, bannedUser: string | null): void {
    const stick = this.atBottom();
    const item = document.createElement("li");
    item.className = "chat-notice";
    item.textContent = text;
    if (bannedUser !== null && this.me !== null && this.me.role !== "viewer") {
      item.append(this.tool("Unban", () => this.moderate("unban", { user: bannedUser })));
    }
    this.el.list.append(item);
    this.trim();
    this.follow(stick);
  }

  /** Whether we may act on messages by `author` (the server checks again). */
  private canModerate(name: string, role: Role): boolean {
    const me = this.me;
    if (me === null || me.role === "viewer" || name === me.name || role === "owner") {
      return false;
    }
    return me.role === "owner" || role === "viewer";
  }

  private addTools(item: HTMLElement): void {
    item.querySelector(".chat-tools")?.remove();
    const name = item.dataset.user ?? "";
    const role = (item.dataset.role ?? "viewer") as Role;
    const id = item.dataset.id ?? "";
    if (!this.canModerate(name, role)) {
      return;
    }
    const tools = document.createElement("span");
    tools.className = "chat-tools";
    tools.append(
      this.tool("Delete", () => this.moderate("delete", { id })),
      this.tool("Timeout", () => this.moderate("timeout", { user: name, seconds: TIMEOUT_SECONDS }), "Time out for 10 minutes"),
      this.tool("Ban", () => this.moderate("ban", { user: name })),
    );
    if (this.me?.role === "owner") {
      tools.append(
        role === "moderator"
          ? this.tool("Unmod", () => this.moderate("unmod", { user: name }))
          : this.tool("Mod", () => this.moderate("mod", { user: name }), "Make a moderator"),
      );
    }
    item.append(tools);
  }

  private refreshTools(): void {
    for (const child of Array.from(this.el.list.children)) {
      if (child instanceof HTMLElement && child.classList.contains("chat-message")) {
        this.addTools(child);
      }
    }
    this.renderOwnerTools();
  }

  private tool(label: string, action: () => void, title = ""): HTMLButtonElement {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "chat-tool";
    button.textContent = label;
    if (title) {
      button.title = title;
    }
    button.addEventListener("click", action);
    return button;
  }

  /** The owner's slow-mode selector in the chat header. */
  private renderOwnerTools(): void {
    const box = this.el.ownerTools;
    if (this.me?.role !== "owner") {
      box.replaceChildren();
      box.hidden = true;
      return;
    }
    const label = document.createElement("label");
    label.textContent = "Slow mode ";
    const select = document.createElement("select");
    select.id = "chat-slow-mode";
    const modes = SLOW_MODES.includes(this.stats.slowMode) ? SLOW_MODES : [...SLOW_MODES, this.stats.slowMode];
    for (const seconds of modes) {
      select.append(new Option(seconds === 0 ? "Off" : `${seconds} s`, String(seconds)));
    }
    select.value = String(this.stats.slowMode);
    select.addEventListener("change", () => this.moderate("slow_mode", { seconds: Number(select.value) }));
    label.append(select);
    box.replaceChildren(label);
    box.hidden = false;
  }

  private showSlowMode(): void {
    this.setStatus(this.stats.slowMode > 0 ? `Slow mode: one message every ${this.stats.slowMode} s` : "");
  }

  private removeWhere(match: (li: HTMLElement) => boolean): void {
    for (const child of Array.from(this.el.list.children)) {
      if (child instanceof HTMLElement && child.classList.contains("chat-message") && match(child)) {
        child.remove();
      }
    }
    this.stats.shown = this.messageIds();
  }

  private trim(): void {
    let removed = false;
    while (this.el.list.childElementCount > MAX_SHOWN) {
      this.el.list.firstElementChild?.remove();
      removed = true;
    }
    if (removed) {
      this.stats.shown = this.messageIds();
    }
  }

  private messageIds(): string[] {
    return Array.from(this.el.list.querySelectorAll<HTMLElement>("li.chat-message")).map((li) => li.dataset.id ?? "");
  }

  private atBottom(): boolean {
    const list = this.el.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
  }

  private follow(stick: boolean): void {
    if (stick) {
      this.scrollToBottom();
    } else {
      this.el.more.hidden = false; // the reader scrolled up: leave them there
    }
  }

  private scrollToBottom(): void {
    this.el.list.scrollTop = this.el.list.scrollHeight;
    this.el.more.hidden = true;
  }

  private setStatus(text: string): void {
    this.el.status.textContent = text;
    this.el.status.hidden = text === "";
  }

  private showError(text: string, fade = true): void {
    window.clearTimeout(this.errorTimer);
    this.el.error.textContent = text;
    this.el.error.hidden = false;
    if (fade) {
      this.errorTimer = window.setTimeout(() => this.hideError(), ERROR_SHOWN_MS);
    }
  }

  private hideError(): void {
    this.el.error.textContent = "";
    this.el.error.hidden = true;
  }
}
