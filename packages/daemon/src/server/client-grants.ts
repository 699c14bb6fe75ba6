import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { type ClientGrantInfo, createId, isSafeId } from "@opta/protocol";
import type { Logger } from "../log/logger.js";

/** How long a grant lives without being used (and the cookie's Max-Age). */
export const GRANT_IDLE_MS = 180 * 24 * 60 * 60 * 1000;
/** Grants kept at most; signing in once more drops the least recently used. */
export const MAX_GRANTS = 32;

/** One grant as stored in `$OPTA_HOME/daemon/grants.json`: hashes only, never the secrets. */
interface StoredGrant extends ClientGrantInfo {
  /** sha256 of `<secret>:<key>` (hex): the cookie's secret and the page's key, both needed. */
  hash: string;
}

/** What a new grant hands the browser: the cookie's value and the key for the page's storage. */
export interface IssuedGrant {
  id: string;
  /** `<id>.<secret>`: the HttpOnly cookie's value. */
  cookie: string;
  /** The second half, returned in the body and kept in localStorage. */
  key: string;
}

/**
 * Client grants: what lets a signed-in Code Desktop get the daemon's *current* token after the
 * token rotated (restart, stop/start, crash), without `opta app` again. A grant is two random
 * secrets: one in an HttpOnly cookie (script on the page cannot read it), one in the page's
 * localStorage (per origin, so per port: cookies are not isolated by port, and a program on another
 * loopback port that the browser visits would receive the cookie but never the key). The daemon
 * keeps only a hash of the pair, with the grant's id, dates and User-Agent, in a 0600 file written
 * atomically, so grants outlive token rotations, restarts and crashes; `opta app revoke` deletes
 * them.
 */
export class ClientGrants {
  private grants: StoredGrant[] = [];

  constructor(
    private readonly file: string,
    private readonly logger?: Logger,
  ) {
    this.grants = this.read();
  }

  /** A new grant for the browser that just signed in. */
  issue(userAgent: string | undefined, now = Date.now()): IssuedGrant {
    const id = createId("g");
    const secret = randomBytes(32).toString("base64url");
    const key = randomBytes(32).toString("base64url");
    const at = new Date(now).toISOString();
    this.prune(now);
    this.grants.push({
      id,
      hash: pairHash(secret, key),
      createdAt: at,
      lastUsedAt: at,
      userAgent: (userAgent ?? "unknown").slice(0, 200),
    });
    // Oldest use first: beyond the cap, the grant unused the longest goes.
    this.grants.sort((a, b) => (a.lastUsedAt < b.lastUsedAt ? -1 : a.lastUsedAt > b.lastUsedAt ? 1 : 0));
    while (this.grants.length > MAX_GRANTS) this.grants.shift();
    this.write();
    return { id, cookie: `${id}.${secret}`, key };
  }

  /**
   * The grant that the cookie value and the key prove, with its last use updated; undefined when
   * either is missing, malformed, wrong, revoked or expired. Constant time in the secrets.
   */
  redeem(cookie: string | undefined, key: string | undefined, now = Date.now()): ClientGrantInfo | undefined {
    const grant = this.match(cookie, key, now);
    if (!grant) return undefined;
    grant.lastUsedAt = new Date(now).toISOString();
    this.write();
    return publicInfo(grant);
  }

  /** The grant the pair proves, without touching it (signing in again replaces it). */
  match(cookie: string | undefined, key: string | undefined, now = Date.now()): StoredGrant | undefined {
    if (!cookie || !key) return undefined;
    const dot = cookie.indexOf(".");
    const id = cookie.slice(0, dot);
    const secret = cookie.slice(dot + 1);
    if (dot <= 0 || !isSafeId(id) || secret.length < 16) return undefined;
    const grant = this.grants.find((each) => each.id === id);
    if (!grant || now - Date.parse(grant.lastUsedAt) > GRANT_IDLE_MS) return undefined;
    const presented = Buffer.from(pairHash(secret, key), "hex");
    const expected = Buffer.from(grant.hash, "hex");
    return presented.length === expected.length && timingSafeEqual(presented, expected) ? grant : undefined;
  }

  /** Every live grant, oldest first, without hashes. */
  list(now = Date.now()): ClientGrantInfo[] {
    this.prune(now);
    return this.grants.map(publicInfo).sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  }

  /** Revokes one grant (by id) or all; returns the ids revoked. */
  revoke(target: { id: string } | { all: true }): string[] {
    const revoked = this.grants.filter((grant) => "all" in target || grant.id === target.id).map((grant) => grant.id);
    if (revoked.length === 0) return [];
    this.grants = this.grants.filter((grant) => !revoked.includes(grant.id));
    this.write();
    return revoked;
  }

  private prune(now: number): void {
    const before = this.grants.length;
    this.grants = this.grants.filter((grant) => now - Date.parse(grant.lastUsedAt) <= GRANT_IDLE_MS);
    if (this.grants.length !== before) this.write();
  }

  private read(): StoredGrant[] {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    try {
      const parsed = JSON.parse(text) as { grants?: unknown };
      if (!Array.isArray(parsed.grants)) throw new Error("no 'grants' array");
      return parsed.grants.filter(
        (grant): grant is StoredGrant =>
          typeof grant === "object" &&
          grant !== null &&
          typeof grant.id === "string" &&
          isSafeId(grant.id) &&
          typeof grant.hash === "string" &&
          /^[0-9a-f]{64}$/.test(grant.hash) &&
          typeof grant.createdAt === "string" &&
          typeof grant.lastUsedAt === "string" &&
          typeof grant.userAgent === "string",
      );
    } catch (error) {
      // A damaged file signs every app out (they sign in again with `opta app`); it never lets one in.
      this.logger?.warn("auth", `Ignoring ${this.file}: ${(error as Error).message}; apps must sign in again`);
      return [];
    }
  }

  /** Temp file, fsync, rename: a crash leaves the old grants or the new ones, never half a file. */
  private write(): void {
    const temp = `${this.file}.${process.pid}.tmp`;
    try {
      const fd = openSync(temp, "w", 0o600);
      try {
        writeSync(fd, `${JSON.stringify({ grants: this.grants }, null, 2)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.file);
    } catch (error) {
      rmSync(temp, { force: true });
      this.logger?.error("auth", `Could not save the client grants to ${this.file}: ${(error as Error).message}`);
    }
  }
}

function pairHash(secret: string, key: string): string {
  return createHash("sha256").update(`${secret}:${key}`).digest("hex");
}

function publicInfo(grant: StoredGrant): ClientGrantInfo {
  return { id: grant.id, createdAt: grant.createdAt, lastUsedAt: grant.lastUsedAt, userAgent: grant.userAgent };
}

/** The grant cookie's name: per port, because cookies are shared across the ports of one host. */
export function grantCookieName(port: number): string {
  return `opta_grant_${port}`;
}

/**
 * The Set-Cookie header of a grant. Host-only (no Domain), so only this host name gets it;
 * `Path=/v3/auth`, so only the auth routes see it; HttpOnly, so page script cannot read it;
 * SameSite=Strict, so no other site's page can make the browser send it. Not `Secure`: the daemon
 * speaks plain HTTP on loopback and a browser would refuse a Secure cookie there (it is also why
 * the `__Host-` prefix is unavailable). An empty value with Max-Age=0 clears it.
 */
export function grantCookie(port: number, value: string | undefined): string {
  const maxAge = value === undefined ? 0 : Math.floor(GRANT_IDLE_MS / 1000);
  return `${grantCookieName(port)}=${value ?? ""}; Path=/v3/auth; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`;
}

/** The value of cookie `name` in a Cookie header, if present exactly once. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const values = header
    .split(";")
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${name}=`))
    .map((part) => part.slice(name.length + 1));
  return values.length === 1 ? values[0] : undefined;
}
