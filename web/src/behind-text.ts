/**
 * How far behind live the viewer is, as the indicator shows it ("-0:23", "-1:02:03") and as
 * a screen reader says it ("23 seconds behind live").
 */

function wholeSeconds(seconds: number): number {
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds) : 0;
}

/** "-m:ss" under an hour, "-h:mm:ss" from an hour. */
export function formatBehind(seconds: number): string {
  const total = wholeSeconds(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `-${h}:${String(m).padStart(2, "0")}:${s}` : `-${m}:${s}`;
}

function unit(count: number, name: string): string {
  return `${count} ${name}${count === 1 ? "" : "s"}`;
}

/** "1 hour 2 minutes 3 seconds behind live"; "live" at 0. */
export function spokenBehind(seconds: number): string {
  const total = wholeSeconds(seconds);
  if (total === 0) {
    return "live";
  }
  const parts: string[] = [];
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) parts.push(unit(h, "hour"));
  if (m > 0) parts.push(unit(m, "minute"));
  if (s > 0) parts.push(unit(s, "second"));
  return `${parts.join(" ")} behind live`;
}
