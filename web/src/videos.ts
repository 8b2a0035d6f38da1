/** A channel's past broadcasts, /<channel>/videos: a VOD without a thumbnail gets a placeholder. */
function watchThumbnail(img: HTMLImageElement): void {
  const box = img.closest(".thumb-box");
  const missing = (): void => box?.classList.add("missing");
  img.addEventListener("error", missing);
  img.addEventListener("load", () => box?.classList.remove("missing"));
  if (img.complete && img.naturalWidth === 0) missing(); // failed before this script ran
}

document.querySelectorAll<HTMLImageElement>("img.thumb").forEach(watchThumbnail);
