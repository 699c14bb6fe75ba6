/**
 * What the accounts and admin apps share: JSON calls to the platform, the site origins of this
 * domain (worked out from the page's own address, so no configuration is baked into a build) and
 * the redirect rule (only pages of this domain's sites, as the server's auth/redirects.ts).
 */

/** The platform's site names; each is `<name>.<domain>`, except home on the bare domain. */
const SITES = ["home", "accounts", "admin", "status", "lmx", "init", "help", "learn"] as const;
export type SiteName = (typeof SITES)[number];

/** An answer: the status and the parsed JSON body (`{}` when there is none). */
export interface Answer<T = Record<string, unknown>> {
  ok: boolean;
  status: number;
  body: T;
}

/** One JSON request; a network failure is an answer with status 0, never a throw. */
export async function call<T = Record<string, unknown>>(
  url: string,
  options: { method?: "GET" | "POST"; json?: unknown; crossSite?: boolean } = {},
): Promise<Answer<T>> {
  const method = options.method ?? (options.json === undefined ? "GET" : "POST");
  try {
    const answer = await fetch(url, {
      method,
      // Another site of this domain (the admin app signing out on accounts) needs the cookie sent along.
      credentials: options.crossSite ? "include" : "same-origin",
      headers: {
        accept: "application/json",
        ...(method === "POST" ? { "content-type": "application/json" } : {}),
      },
      ...(method === "POST" ? { body: JSON.stringify(options.json ?? {}) } : {}),
    });
    const text = await answer.text();
    let body: unknown = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = {};
    }
    return { ok: answer.ok, status: answer.status, body: (body ?? {}) as T };
  } catch {
    return { ok: false, status: 0, body: {} as T };
  }
}

/** A readable reason from any error body the platform or better-auth sends. */
export function reason(answer: Answer<unknown>): string {
  const body = (answer.body ?? {}) as Record<string, unknown>;
  const error = body.error as Record<string, unknown> | string | undefined;
  if (answer.status === 0) return "the platform server did not answer; is it running?";
  if (error && typeof error === "object" && typeof error.message === "string")
    return `${error.message} (${String(error.code)})`;
  if (typeof body.message === "string")
    return typeof body.code === "string" ? `${body.message} (${body.code})` : body.message;
  if (typeof body.error_description === "string") return body.error_description;
  if (typeof error === "string") return error;
  return `HTTP ${answer.status}`;
}

/** This domain: the page's host name without its site label. */
export function platformDomain(): string {
  const host = location.hostname;
  const label = host.split(".")[0] ?? "";
  return (SITES as readonly string[]).includes(label) && label !== "home" && host.split(".").length > 2
    ? host.slice(label.length + 1)
    : host;
}

/** A site's origin, as a browser reaches it (same scheme and port as this page). */
export function siteOrigin(site: SiteName): string {
  const host = site === "home" ? platformDomain() : `${site}.${platformDomain()}`;
  return `${location.protocol}//${host}${location.port ? `:${location.port}` : ""}`;
}

/** Where to go after signing in: a path of this site or a page of one of this domain's sites, else `fallback`. */
export function safeRedirect(value: string | null, fallback = "/"): string {
  if (!value) return fallback;
  // A path, but not `//host` or `/\host`, which browsers read as another host.
  if (/^\/(?![/\\])/.test(value)) return /[\r\n\t]/.test(value) ? fallback : value;
  try {
    const url = new URL(value);
    const trusted = SITES.map(siteOrigin);
    return (url.protocol === "http:" || url.protocol === "https:") && trusted.includes(url.origin)
      ? url.href
      : fallback;
  } catch {
    return fallback;
  }
}

/** The signed-in user as better-auth's get-session gives it. */
export interface User {
  id: string;
  email: string;
  name: string;
  role?: string | null;
}

/** Moves within the app without a reload (the server answers the same index.html for each path). */
export function navigate(path: string): void {
  history.pushState(null, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}
