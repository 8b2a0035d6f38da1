/**
 * The coloured initial shown for a user or channel; the colour comes from the name (the same
 * rule as the server's pages, src/golive/http/web/page_shell.py), so it is stable everywhere.
 */
const HUES = 8;

export function hueClass(name: string): string {
  let sum = 0;
  for (const byte of new TextEncoder().encode(name)) {
    sum += byte;
  }
  return `hue-${sum % HUES}`;
}

export function avatar(name: string, extraClass = ""): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = `avatar ${hueClass(name)} ${extraClass}`.trim();
  span.setAttribute("aria-hidden", "true");
  span.textContent = (name.slice(0, 1) || "?").toUpperCase();
  return span;
}
