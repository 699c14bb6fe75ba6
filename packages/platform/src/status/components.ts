import type { Queryable } from "../db/database.js";
import { type Clock, iso } from "./settings.js";

/** A row of status_component. */
export interface ComponentRow {
  id: string;
  kind: "platform" | "accounts" | "site" | "lmx";
  name: string;
  owner_id: string | null;
  base_url: string | null;
  check_url: string;
  check_host: string | null;
  interval_s: number;
  timeout_ms: number;
  expected_status: number;
  position: number;
  created_at: Date;
  next_check_at: Date;
  last_checked_at: Date | null;
  last_ok: boolean | null;
  last_http_status: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  consecutive_failures: number;
}

/** A component the platform checks without anyone registering it: itself, accounts, each site. */
export interface BuiltinComponent {
  id: string;
  kind: "platform" | "accounts" | "site";
  name: string;
  /** Always a loopback URL: the platform's own port on 127.0.0.1. */
  checkUrl: string;
  /** The site's Host header, which picks the site on that port. */
  checkHost: string;
  position: number;
}

/** What a new registered component (an LMX host) is. */
export interface NewComponent {
  id: string;
  kind: "lmx";
  name: string;
  /** null: an admin's public host (on the status page); else the user whose private host it is. */
  ownerId: string | null;
  baseUrl: string;
  checkUrl: string;
  intervalS: number;
  timeoutMs: number;
  expectedStatus: number;
}

/**
 * Writes the built-in components (their check URL carries this start's port). They stay in the
 * table between starts, so their history and uptime do too.
 */
export async function upsertBuiltins(
  db: Queryable,
  builtins: BuiltinComponent[],
  defaults: { intervalS: number; timeoutMs: number },
  clock: Clock,
) {
  const now = iso(clock.now());
  for (const component of builtins) {
    await db.query(
      `INSERT INTO status_component (id, kind, name, check_url, check_host, interval_s, timeout_ms, expected_status, position, created_at, next_check_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 200, $8, $9::timestamptz, $9::timestamptz)
       ON CONFLICT (id) DO UPDATE SET name = $3, check_url = $4, check_host = $5, interval_s = $6, timeout_ms = $7, position = $8,
         next_check_at = LEAST(status_component.next_check_at, $9::timestamptz)`,
      [
        component.id,
        component.kind,
        component.name,
        component.checkUrl,
        component.checkHost,
        defaults.intervalS,
        defaults.timeoutMs,
        component.position,
        now,
      ],
    );
  }
}

/** Adds a registered component, due for its first check at once. */
export async function insertComponent(db: Queryable, component: NewComponent, clock: Clock): Promise<void> {
  const now = iso(clock.now());
  await db.query(
    `INSERT INTO status_component (id, kind, name, owner_id, base_url, check_url, interval_s, timeout_ms, expected_status, position, created_at, next_check_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 500, $10::timestamptz, $10::timestamptz)`,
    [
      component.id,
      component.kind,
      component.name,
      component.ownerId,
      component.baseUrl,
      component.checkUrl,
      component.intervalS,
      component.timeoutMs,
      component.expectedStatus,
      now,
    ],
  );
}

/** The components a viewer may see: the public ones (owner null), or exactly one user's. */
export async function listComponents(db: Queryable, owner: { ownerId: string | null }): Promise<ComponentRow[]> {
  const { rows } =
    owner.ownerId === null
      ? await db.query<ComponentRow>(
          "SELECT * FROM status_component WHERE owner_id IS NULL ORDER BY position, created_at, id",
        )
      : await db.query<ComponentRow>("SELECT * FROM status_component WHERE owner_id = $1 ORDER BY created_at, id", [
          owner.ownerId,
        ]);
  return rows;
}
