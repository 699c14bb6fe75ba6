import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Origins of the Vite dev server (apps/desktop/vite.config.ts, port 5173). Granted CORS and
 * WebSocket access only when the daemon runs in dev mode (`--dev` or `OPTA_DEV=1`): any local
 * program can listen on 5173, so a production daemon must not trust what is served there.
 */
export const DEV_ORIGINS = ["http://localhost:5173", "http://127.0.0.1:5173"];

const LOOPBACK_NAMES = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/**
 * True when a Host header names this daemon on loopback. Anything else is refused: a page on
 * evil.example that rebinds its DNS to 127.0.0.1 still sends `Host: evil.example`.
 */
export function isAllowedHost(host: string | undefined, port: number): boolean {
  if (!host) return false;
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  if (!match) return false;
  const [, name, hostPort] = match;
  if (!name || !LOOPBACK_NAMES.has(name)) return false;
  return hostPort === undefined || Number(hostPort) === port;
}

/**
 * Origins granted CORS and WebSocket access: the daemon's own (it serves Code Desktop), plus the
 * Vite dev server when `dev` is set.
 */
export function allowedOrigins(port: number, dev: boolean): Set<string> {
  const own = [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`];
  return new Set(dev ? [...own, ...DEV_ORIGINS] : own);
}

/** Why an Origin is refused, and for the Vite dev server how to allow it. */
export function originRefusal(origin: string, what: string): string {
  return DEV_ORIGINS.includes(origin)
    ? `Origin ${origin} (the Vite dev server) may ${what} only when the daemon runs in dev mode: start it with --dev or OPTA_DEV=1.`
    : `Origin ${origin} may not ${what}.`;
}

/** Constant-time token check; hashing first makes the comparison independent of the length too. */
export function tokenMatches(presented: string | undefined | null, expected: string): boolean {
  if (!presented) return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token from `Authorization: Bearer <token>`, if present. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Headers that must appear at most once. Node keeps the first of two `Host` or `Authorization`
 * headers and joins two `Origin`s; a proxy or another parser may pick the other one, so a request
 * carrying two is ambiguous and refused rather than guessed at.
 */
const SINGLE_HEADERS = new Set(["host", "authorization", "origin", "content-length", "content-type", "upgrade"]);

/** The first header of SINGLE_HEADERS that `rawHeaders` (name, value, name, value…) repeats. */
export function repeatedHeader(rawHeaders: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!.toLowerCase();
    if (!SINGLE_HEADERS.has(name)) continue;
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/**
 * Why a request target is not a plain path (origin-form), or undefined when it is one. The daemon
 * only ever sees browsers and its own clients, which send `/path?query`: an absolute URI
 * (`http://evil.example/v3/health`) or `//host/path` names another authority than the Host header
 * that was checked, and `*` (OPTIONS) or an authority (CONNECT) has no route here.
 */
export function requestTargetProblem(target: string | undefined): string | undefined {
  if (target?.[0] !== "/") return "the request target must be a path such as /v3/health, not an absolute URI";
  if (target[1] === "/") return "the request target must not start with '//' (it reads as another host)";
  return undefined;
}

/**
 * A query string split strictly: every name and value must be valid percent-encoding (the lenient
 * WHATWG parser turns `%E0%A4%A` into U+FFFD and carries on), and a name given twice is refused
 * rather than resolved by picking one. Returns the parameters, or a message saying what is wrong.
 */
export function parseStrictQuery(search: string): Map<string, string> | string {
  const params = new Map<string, string>();
  const raw = search.startsWith("?") ? search.slice(1) : search;
  if (raw === "") return params;
  for (const pair of raw.split("&")) {
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const rawName = equals === -1 ? pair : pair.slice(0, equals);
    const rawValue = equals === -1 ? "" : pair.slice(equals + 1);
    const name = decodeComponent(rawName.replaceAll("+", " "));
    const value = decodeComponent(rawValue.replaceAll("+", " "));
    if (name === undefined || value === undefined) {
      return `query parameter '${rawName.slice(0, 40)}' has invalid percent-encoding`;
    }
    if (params.has(name)) return `query parameter '${name.slice(0, 40)}' is given more than once`;
    params.set(name, value);
  }
  return params;
}

/** decodeURIComponent, or undefined for malformed percent-encoding (where it would throw). */
export function decodeComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
