/**
 * The watch page's view of its channel, from /web/channels/<name>: title, category, owner,
 * live state and viewers, shown with textContent and refreshed every 10 s. The player also
 * asks it whether the channel is live, to tell an ended broadcast from a new one.
 */
import { avatar } from "./avatar";

export interface ChannelInfo {
  name: string;
  title: string;
  category: string;
  live: boolean;
  state: string | null;
  viewers: number | null;
  /** When the current stream started (epoch seconds): tells one broadcast from the next. */
  started_at: number | null;
  /** Whether the stream has a DVR playlist, and the oldest media it lists (epoch seconds). */
  dvr?: boolean;
  dvr_from?: number | null;
  owner: { name: string; display_name: string } | null;
}

/** The channel's info; null when it cannot be had (no such endpoint, network down). */
export async function fetchChannelInfo(channel: string): Promise<ChannelInfo | null> {
  try {
    const response = await fetch(`/web/channels/${encodeURIComponent(channel)}`, { cache: "no-store" });
    return response.ok ? ((await response.json()) as ChannelInfo) : null;
  } catch {
    return null;
  }
}

function byId(id: string): HTMLElement | null {
  return document.getElementById(id);
}

export function renderChannelInfo(info: ChannelInfo): void {
  const title = byId("channel-title");
  const category = byId("channel-category");
  const viewers = byId("viewer-count");
  const owner = byId("channel-owner");
  const avatarBox = byId("channel-avatar");
  if (title !== null) title.textContent = info.title || info.name;
  if (category !== null) {
    category.textContent = info.category;
    category.hidden = info.category === "";
  }
  if (viewers !== null) {
    viewers.textContent = info.live && typeof info.viewers === "number" ? `${info.viewers} watching` : "";
    viewers.hidden = viewers.textContent === "";
  }
  if (owner !== null) {
    // (An older server's JSON has no owner field: undefined, not null.)
    owner.textContent = info.owner ? `by ${info.owner.display_name}` : "";
  }
  const videos = byId("channel-videos");
  if (videos instanceof HTMLAnchorElement) {
    videos.href = `/${encodeURIComponent(info.name)}/videos`;
    videos.hidden = false;
  }
  if (avatarBox !== null && avatarBox.childElementCount === 0) {
    avatarBox.append(avatar(info.name, "large"));
  }
  document.title = info.title ? `${info.name}: ${info.title} · golive` : `${info.name} · golive`;
}
