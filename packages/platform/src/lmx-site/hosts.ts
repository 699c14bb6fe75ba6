/**
 * What an LMX host registration may be. The URL is only ever used by the status checks (GET
 * `<url>/health`, no redirects followed, nothing of the answer shown) and as the link to
 * `<url>/dashboard`: loopback and LAN addresses are allowed, since that is where LMX runs.
 */

/** A registration that passed the checks. */
export interface LmxHostInput {
  name: string;
  /** The normalised base URL: scheme, host, port and path, no trailing slash. */
  baseUrl: string;
}

/** A field that failed, for the `invalid_host` error's message. */
export type HostProblem = { field: "name" | "url"; message: string };

const MAX_NAME = 64;
const MAX_URL = 2_048;

/** Checks a `{ name, url }` body; returns the clean host or what is wrong with it. */
export function validateLmxHost(body: unknown): LmxHostInput | HostProblem {
  const record = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const name = typeof record.name === "string" ? record.name.trim() : "";
  if (name.length === 0 || name.length > MAX_NAME || /[\p{Cc}\p{Cf}]/u.test(name)) {
    return { field: "name", message: `name must be 1 to ${MAX_NAME} characters, without control characters` };
  }
  const raw = typeof record.url === "string" ? record.url.trim() : "";
  if (raw.length === 0 || raw.length > MAX_URL) {
    return { field: "url", message: `url must be an http:// or https:// URL of at most ${MAX_URL} characters` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { field: "url", message: "url is not a URL; give one like http://gpu-box.local:1234" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { field: "url", message: `url must use http or https, not ${url.protocol.replace(/:$/, "")}` };
  }
  if (url.username || url.password) {
    return {
      field: "url",
      message: "url must not carry a user name or password; LMX's API key is not needed for /health",
    };
  }
  if (url.search || url.hash) return { field: "url", message: "url must not have a query or a fragment" };
  if (!url.hostname) return { field: "url", message: "url needs a host" };
  const path = url.pathname.replace(/\/+$/, "");
  return { name, baseUrl: `${url.protocol}//${url.host}${path}` };
}

/** Whether `validateLmxHost` refused the input. */
export function isProblem(value: LmxHostInput | HostProblem): value is HostProblem {
  return "field" in value;
}
