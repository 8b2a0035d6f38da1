/**
 * The watch page's chat panel: one WebSocket to /api/v1/channels/<channel>/chat (protocol in
 * docs/chat.md). Every piece of text from the server is inserted with textContent, never as
 * HTML, so names and messages cannot inject markup or script.
 */

interface ChatUserJson {
  name: string;
  display_name: string;
  role: "owner" | "moderator" | "viewer";
}

interface ChatMessageJson {
  id: string;
  user: ChatUserJson;
  text: string;
  time: number;
  media_time: number | null;
}

type ServerFrame =
  | { type: "hello"; user: ChatUserJson | null; slow_mode: number; can_send: boolean }
  | { type: "history" | "messages"; messages: ChatMessageJson[] }
  | { type: "deleted"; ids: string[] }
  | { type: "cleared_user"; user: string }
  | { type: "settings"; slow_mode: number }
  | { type: "ack"; nonce: string; id: string }
  | { type: "error"; code: string; message: string; retry_after: number | null }
  | { type: "moderated"; action: string; user: string; seconds: number | null; by: string | null };

const MAX_SHOWN = 200;
const RECONNECT_MS = 2000;

export interface ChatStats {
  received: number;
  /** Message ids shown now, oldest first (tests read it). */
  shown: string[];
  lastError: string | null;
  canSend: boolean;
}

export class ChatPanel {
  readonly stats: ChatStats = { received: 0, shown: [], lastError: null, canSend: false };
  private socket: WebSocket | null = null;
  private me: ChatUserJson | null = null;
  private nonce = 0;

  constructor(
    private readonly channel: string,
    private readonly list: HTMLElement,
    form: HTMLFormElement,
    private readonly input: HTMLInputElement,
    private readonly status: HTMLElement,
  ) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(input.value);
    });
  }

  connect(): void {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${window.location.host}/api/v1/channels/${encodeURIComponent(this.channel)}/chat`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") {
        this.handle(JSON.parse(event.data) as ServerFrame);
      }
    });
    socket.addEventListener("close", () => {
      if (this.socket === socket) {
        this.setStatus("Chat disconnected: reconnecting…");
        setTimeout(() => this.connect(), RECONNECT_MS);
      }
    });
  }

  send(text: string): void {
    const trimmed = text.trim();
    if (!trimmed || this.socket === null || this.socket.readyState !== WebSocket.OPEN) {
      return;
    }
    this.nonce += 1;
    this.socket.send(JSON.stringify({ type: "send", text: trimmed, nonce: `n${this.nonce}` }));
    this.input.value = "";
  }

  moderate(action: string, fields: Record<string, unknown>): void {
    this.socket?.send(JSON.stringify({ type: action, ...fields }));
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case "hello":
        this.me = frame.user;
        this.stats.canSend = frame.can_send;
        this.input.disabled = !frame.can_send;
        this.input.placeholder = frame.user === null ? "Sign in to chat" : frame.can_send ? "Send a message" : "You cannot chat here";
        this.setStatus(frame.user === null ? "Sign in to chat." : frame.slow_mode ? `Slow mode: ${frame.slow_mode} s` : "");
        break;
      case "history":
        this.list.replaceChildren();
        this.stats.shown = [];
        frame.messages.forEach((m) => this.add(m));
        break;
      case "messages":
        frame.messages.forEach((m) => this.add(m));
        break;
      case "deleted":
        frame.ids.forEach((id) => this.remove((li) => li.dataset.id === id));
        break;
      case "cleared_user":
        this.remove((li) => li.dataset.user === frame.user);
        break;
      case "settings":
        this.setStatus(frame.slow_mode ? `Slow mode: ${frame.slow_mode} s` : "");
        break;
      case "moderated":
        if (this.me !== null && frame.user === this.me.name && (frame.action === "ban" || frame.action === "timeout")) {
          this.input.disabled = true;
          this.stats.canSend = false;
          this.setStatus(frame.action === "ban" ? "You were banned from this chat." : `You were timed out for ${frame.seconds ?? 0} s.`);
        }
        break;
      case "error":
        this.stats.lastError = frame.code;
        this.setStatus(frame.message);
        break;
      case "ack":
        break;
    }
  }

  private add(message: ChatMessageJson): void {
    this.stats.received += 1;
    const item = document.createElement("li");
    item.className = `chat-message role-${message.user.role}`;
    item.dataset.id = message.id;
    item.dataset.user = message.user.name;
    const name = document.createElement("span");
    name.className = "chat-name";
    name.textContent = message.user.display_name;
    name.title = message.user.name;
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = message.text;
    item.append(name, text);
    if (this.canModerate(message.user)) {
      item.append(this.tool("Delete", () => this.moderate("delete", { id: message.id })));
      item.append(this.tool("Timeout", () => this.moderate("timeout", { user: message.user.name, seconds: 600 })));
      item.append(this.tool("Ban", () => this.moderate("ban", { user: message.user.name })));
    }
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    this.stats.shown.push(message.id);
    while (this.list.childElementCount > MAX_SHOWN) {
      this.list.firstElementChild?.remove();
      this.stats.shown.shift();
    }
    if (atBottom) {
      this.list.scrollTop = this.list.scrollHeight;
    }
  }

  private canModerate(author: ChatUserJson): boolean {
    const me = this.me;
    if (me === null || me.role === "viewer" || author.name === me.name || author.role === "owner") {
      return false;
    }
    return me.role === "owner" || author.role === "viewer";
  }

  private tool(label: string, action: () => void): HTMLButtonElement {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "chat-tool";
    button.textContent = label;
    button.addEventListener("click", action);
    return button;
  }

  private remove(match: (li: HTMLElement) => boolean): void {
    for (const child of Array.from(this.list.children)) {
      if (child instanceof HTMLElement && match(child)) {
        child.remove();
      }
    }
    this.stats.shown = Array.from(this.list.children).map((c) => (c as HTMLElement).dataset.id ?? "");
  }

  private setStatus(text: string): void {
    this.status.textContent = text;
  }
}
