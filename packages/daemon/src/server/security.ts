import { createHash, timingSafeEqual } from "node:crypto";

/** Origin of the Vite dev server, which may call the daemon while Code Desktop is developed. */
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

/** Origins granted CORS: the daemon's own (it serves Code Desktop) and the Vite dev server. */
export function allowedOrigins(port: number): Set<string> {
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`, ...DEV_ORIGINS]);
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
