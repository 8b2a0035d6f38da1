/**
 * The account corner of the top bar on static pages (the watch page): filled from
 * /web/session with textContent. Server-rendered pages get it from the server instead.
 */
import { avatar } from "./avatar";

export interface SessionJson {
  user: { name: string; display_name: string; is_admin: boolean } | null;
  csrf: string | null;
}

function link(href: string, text: string, className: string): HTMLAnchorElement {
  const a = document.createElement("a");
  a.href = href;
  a.className = className;
  a.textContent = text;
  return a;
}

export async function fetchSession(): Promise<SessionJson | null> {
  try {
    const response = await fetch("/web/session", { cache: "no-store", credentials: "same-origin" });
    return response.ok ? ((await response.json()) as SessionJson) : null;
  } catch {
    return null;
  }
}

/** Fills `nav` for `session`; `here` is where to come back to after signing in. */
export function renderAccountNav(nav: HTMLElement, session: SessionJson | null, here: string): void {
  const next = `?next=${encodeURIComponent(here)}`;
  if (session === null || session.user === null || session.csrf === null) {
    nav.replaceChildren(link(`/login${next}`, "Log in", "button ghost"), link(`/signup${next}`, "Sign up", "button primary"));
    return;
  }
  const me = document.createElement("span");
  me.className = "me";
  me.title = session.user.name;
  const name = document.createElement("span");
  name.className = "me-name";
  name.textContent = session.user.display_name;
  me.append(avatar(session.user.name), name);

  const form = document.createElement("form");
  form.method = "post";
  form.action = "/logout";
  form.className = "inline";
  const token = document.createElement("input");
  token.type = "hidden";
  token.name = "csrf";
  token.value = session.csrf;
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "button ghost";
  button.textContent = "Log out";
  form.append(token, button);
  nav.replaceChildren(link("/dashboard", "Dashboard", "button ghost"), me, form);
}
