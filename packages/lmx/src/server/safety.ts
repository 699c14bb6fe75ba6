import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { hostname } from "node:os";
import { LmxError } from "./errors.js";

/** True for names and addresses that never leave the machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    bare === "localhost" ||
    bare === "::1" ||
    bare.endsWith(".localhost") ||
    /^127\.\d+\.\d+\.\d+$/.test(bare) ||
    bare === "::ffff:127.0.0.1"
  );
}

/** True for addresses that listen on every interface. */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** Host name (without port or brackets) from a Host header or URL authority. */
function hostOf(authority: string): string {
  const trimmed = authority.trim().toLowerCase();
  if (trimmed.startsWith("[")) return trimmed.slice(0, trimmed.indexOf("]") + 1);
  return trimmed.replace(/:\d+$/, "");
}

/** The request checks that run before any route: Host, Origin and API key. */
export class RequestGuard {
  private readonly allowedHosts: Set<string>;
  private readonly keyDigest: Buffer | undefined;

  constructor(
    private readonly boundHost: string,
    apiKey: string | undefined,
    private readonly corsOrigins: readonly string[] = [],
  ) {
    this.allowedHosts = new Set([
      "localhost",
      "127.0.0.1",
      "[::1]",
      hostOf(boundHost.includes(":") && !boundHost.startsWith("[") ? `[${boundHost}]` : boundHost),
    ]);
    if (!isLoopbackHost(boundHost)) {
      this.allowedHosts.add(hostname().toLowerCase());
      this.allowedHosts.add(`${hostname().toLowerCase()}.local`);
    }
    this.keyDigest = apiKey ? digest(apiKey) : undefined;
  }

  /**
   * Refuses Host headers that are not this server's names: a DNS-rebinding page (evil.example
   * resolving to 127.0.0.1) carries its own name in Host. A wildcard bind accepts any name; it
   * requires an API key anyway.
   */
  checkHost(request: IncomingMessage): void {
    const header = request.headers.host;
    if (!header) throw new LmxError("forbidden_host", "the Host header is missing");
    if (isWildcardHost(this.boundHost)) return;
    const host = hostOf(header);
    if (this.allowedHosts.has(host) || isLoopbackHost(host)) return;
    throw new LmxError("forbidden_host", `Host '${header}' is not allowed; address this server by its own name or IP`);
  }

  /**
   * Browsers send Origin on cross-origin requests. Only pages served from this machine (or origins
   * configured explicitly) may call LMX; everything else is refused outright, never echoed.
   * Returns the origin to allow in CORS headers, if any.
   */
  checkOrigin(request: IncomingMessage): string | undefined {
    const origin = request.headers.origin;
    if (!origin || origin === "null") {
      if (origin === "null") throw new LmxError("forbidden_origin", "requests from opaque origins are not allowed");
      return undefined;
    }
    if (this.corsOrigins.includes(origin)) return origin;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new LmxError("forbidden_origin", `Origin '${origin}' is not a valid origin`);
    }
    if ((url.protocol === "http:" || url.protocol === "https:") && isLoopbackHost(url.hostname)) return origin;
    throw new LmxError("forbidden_origin", `Origin '${origin}' is not allowed to use this LMX server`);
  }

  /**
   * For the dashboard's own routes, stricter than {@link checkOrigin}: only the page LMX serves
   * itself may call them, not another page on loopback (a dev server on localhost:3000 is a
   * different origin and could otherwise load or unload models in the user's browser). A browser
   * sends Origin on every POST and on cross-origin GETs; `Sec-Fetch-Site` covers a browser that
   * left Origin out. Requests from outside a browser carry neither and pass (the key still applies).
   */
  checkSameOrigin(request: IncomingMessage): void {
    const origin = request.headers.origin;
    const site = request.headers["sec-fetch-site"];
    if (origin !== undefined) {
      const own = `http://${request.headers.host ?? ""}`.toLowerCase();
      // https too: the same authority behind a TLS-terminating proxy is still the page's own.
      const bare = origin.toLowerCase().replace(/^https:\/\//, "http://");
      if (bare !== own) {
        throw new LmxError(
          "forbidden_origin",
          `Origin '${origin}' may not use the LMX dashboard; open the dashboard at ${own}/dashboard itself`,
        );
      }
    }
    if (site !== undefined && site !== "same-origin" && site !== "none") {
      throw new LmxError(
        "forbidden_origin",
        `a ${site} request may not use the LMX dashboard; open the dashboard from LMX itself (/dashboard)`,
      );
    }
  }

  /** Checks `Authorization: Bearer <key>` (or `x-api-key`) when a key is configured. */
  checkApiKey(request: IncomingMessage): void {
    if (!this.keyDigest) return;
    const header = request.headers.authorization;
    const presented = header?.toLowerCase().startsWith("bearer ")
      ? header.slice(7).trim()
      : (request.headers["x-api-key"] as string | undefined);
    if (!presented)
      throw new LmxError("invalid_api_key", "this LMX server requires an API key: send Authorization: Bearer <key>");
    if (!timingSafeEqual(digest(presented), this.keyDigest)) {
      throw new LmxError("invalid_api_key", "the API key is not valid for this LMX server");
    }
  }
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
