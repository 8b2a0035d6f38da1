/**
 * The home page: thumbnails that fail to load give way to a placeholder, and every 20 s the
 * live cards get fresh thumbnails and viewer counts from /web/channels. When channels go live
 * or offline meanwhile, a button offers to refresh the page (no jump under the reader's feet).
 */
const REFRESH_MS = 20_000;

interface ChannelJson {
  name: string;
  live: boolean;
  viewers: number | null;
}

function watchThumbnail(img: HTMLImageElement): void {
  const box = img.closest(".thumb-box");
  const missing = (): void => box?.classList.add("missing");
  img.addEventListener("error", missing);
  img.addEventListener("load", () => box?.classList.remove("missing"));
  if (img.complete && img.naturalWidth === 0) {
    missing(); // failed before this script ran
  }
}

function viewersText(count: number): string {
  return `${count} ${count === 1 ? "viewer" : "viewers"}`;
}

async function refresh(banner: HTMLElement): Promise<void> {
  let channels: ChannelJson[];
  try {
    const response = await fetch("/web/channels?live=1", { cache: "no-store" });
    if (!response.ok) return;
    channels = ((await response.json()) as { channels: ChannelJson[] }).channels;
  } catch {
    return;
  }
  const shownLive = new Set(Array.from(document.querySelectorAll<HTMLElement>("li.card.live")).map((li) => li.dataset.channel ?? ""));
  const nowLive = channels.filter((c) => c.live);
  for (const channel of nowLive) {
    const card = Array.from(document.querySelectorAll<HTMLElement>("li.card.live")).find((li) => li.dataset.channel === channel.name);
    if (card === undefined) continue;
    const count = card.querySelector(".viewers");
    if (count !== null && channel.viewers !== null) count.textContent = viewersText(channel.viewers);
    const img = card.querySelector<HTMLImageElement>("img.thumb");
    if (img !== null) img.src = `/live/${encodeURIComponent(channel.name)}/thumbnail.jpg?t=${Date.now()}`;
  }
  const changed = nowLive.length !== shownLive.size || nowLive.some((c) => !shownLive.has(c.name));
  banner.hidden = !changed;
}

function main(): void {
  document.querySelectorAll<HTMLImageElement>("img.thumb").forEach(watchThumbnail);
  const banner = document.createElement("button");
  banner.type = "button";
  banner.className = "button primary refresh-banner";
  banner.textContent = "Channels went live or offline · Refresh";
  banner.hidden = true;
  banner.addEventListener("click", () => window.location.reload());
  document.querySelector("main.page")?.prepend(banner);
  setInterval(() => void refresh(banner), REFRESH_MS);
}

main();

export {};
