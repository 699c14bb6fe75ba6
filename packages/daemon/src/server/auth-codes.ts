import { randomBytes } from "node:crypto";
import { tokenMatches } from "./security.js";

/** How long a code from `opta app` stays valid. */
export const AUTH_CODE_TTL_MS = 60_000;

/**
 * Single-use codes that stand in for the token in a URL. `opta app` opens
 * `http://127.0.0.1:9999/#code=…` instead of `#token=…`: a browser started by that command keeps
 * its URL in its command line (readable by other local users) and may write it to its history, so
 * what leaks there must be worthless a minute later, or once used.
 */
export class AuthCodes {
  private readonly codes = new Map<string, number>();

  /** A fresh code and when it expires. */
  issue(now = Date.now()): { code: string; expiresAt: string } {
    this.prune(now);
    const code = randomBytes(32).toString("base64url");
    this.codes.set(code, now + AUTH_CODE_TTL_MS);
    return { code, expiresAt: new Date(now + AUTH_CODE_TTL_MS).toISOString() };
  }

  /** True once for a code that was issued and has not expired; the code is gone afterwards. */
  redeem(code: string, now = Date.now()): boolean {
    this.prune(now);
    for (const [known, expires] of this.codes) {
      // Constant-time comparison; the map is tiny (codes live a minute).
      if (tokenMatches(code, known) && expires > now) {
        this.codes.delete(known);
        return true;
      }
    }
    return false;
  }

  /** Forgets every code (the token rotated: codes for the old one must not yield the new one). */
  clear(): void {
    this.codes.clear();
  }

  private prune(now: number): void {
    for (const [code, expires] of this.codes) if (expires <= now) this.codes.delete(code);
  }
}
