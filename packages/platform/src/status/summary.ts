import type { Queryable } from "../db/database.js";
import { type ComponentRow, listComponents } from "./components.js";
import {
  type ComponentStatus,
  componentStatus,
  type StatusThresholds,
  UPTIME_WINDOWS,
  type UptimeWindow,
  windowBuckets,
  worstStatus,
} from "./rules.js";
import { type Clock, iso } from "./settings.js";

/** One uptime bar: a bucket's start and the share of its checks that passed (null: no checks). */
export interface UptimeBar {
  start: string;
  uptime: number | null;
  checks: number;
}

/** One component as summary.json and the lmx site report it. */
export interface ComponentSummary {
  id: string;
  name: string;
  kind: ComponentRow["kind"];
  status: ComponentStatus;
  /** A maintenance window covers it now. */
  maintenance: boolean;
  /** The URL the check asks (for LMX hosts; built-in components are the platform's own). */
  baseUrl: string | null;
  lastCheck: {
    at: string;
    ok: boolean;
    httpStatus: number | null;
    latencyMs: number | null;
    error: string | null;
  } | null;
  consecutiveFailures: number;
  /** Share of passed checks per window (null when it has none). */
  uptime: Record<UptimeWindow, number | null>;
  bars: Record<UptimeWindow, UptimeBar[]>;
}

/** One incident with its timeline, oldest update first. */
export interface IncidentSummary {
  id: string;
  componentId: string | null;
  title: string;
  status: "investigating" | "identified" | "monitoring" | "resolved";
  impact: "minor" | "major";
  automatic: boolean;
  createdAt: string;
  updatedAt: string;
  resolvedAt: string | null;
  updates: { at: string; status: IncidentSummary["status"]; body: string; author: string }[];
}

/** A maintenance window, now or to come. */
export interface MaintenanceSummary {
  id: string;
  title: string;
  componentIds: string[];
  startsAt: string;
  endsAt: string;
  active: boolean;
}

/** `GET status.<domain>/summary.json`. */
export interface StatusSummary {
  generatedAt: string;
  /** True when the database could not be read and this is the last summary that could. */
  stale: boolean;
  status: ComponentStatus;
  components: ComponentSummary[];
  /** Open incidents and those resolved in the last 7 days, newest first. */
  incidents: IncidentSummary[];
  maintenance: MaintenanceSummary[];
}

/** How far back resolved incidents stay on the page. */
const RECENT_INCIDENT_DAYS = 7;

/** The components of one viewer with their status, uptime and bars. */
export async function summarizeComponents(
  db: Queryable,
  owner: { ownerId: string | null },
  thresholds: StatusThresholds,
  clock: Clock,
): Promise<ComponentSummary[]> {
  const now = clock.now();
  const components = await listComponents(db, owner);
  if (components.length === 0) return [];
  const ids = components.map((component) => component.id);
  const hourFrom = windowBuckets("24h", now)[0]!;
  const dayFrom = windowBuckets("90d", now)[0]!;
  const { rows: rollups } = await db.query<{
    component_id: string;
    period: string;
    bucket: Date;
    total: number;
    ok: number;
  }>(
    `SELECT component_id, period, bucket, total, ok FROM status_rollup WHERE component_id = ANY($1::text[])
       AND ((period = 'hour' AND bucket >= $2::timestamptz) OR (period = 'day' AND bucket >= $3::timestamptz))`,
    [ids, iso(hourFrom), iso(dayFrom)],
  );
  const counts = new Map<string, { total: number; ok: number }>();
  for (const row of rollups) {
    counts.set(`${row.component_id} ${row.period} ${new Date(row.bucket).getTime()}`, {
      total: Number(row.total),
      ok: Number(row.ok),
    });
  }
  const maintained = await maintainedNow(db, now);
  return components.map((component) => {
    const uptime = {} as Record<UptimeWindow, number | null>;
    const bars = {} as Record<UptimeWindow, UptimeBar[]>;
    for (const window of Object.keys(UPTIME_WINDOWS) as UptimeWindow[]) {
      const { period } = UPTIME_WINDOWS[window];
      let total = 0;
      let ok = 0;
      bars[window] = windowBuckets(window, now).map((start) => {
        const count = counts.get(`${component.id} ${period} ${start}`);
        total += count?.total ?? 0;
        ok += count?.ok ?? 0;
        return {
          start: iso(start),
          uptime: count && count.total > 0 ? count.ok / count.total : null,
          checks: count?.total ?? 0,
        };
      });
      uptime[window] = total > 0 ? ok / total : null;
    }
    return {
      id: component.id,
      name: component.name,
      kind: component.kind,
      status: componentStatus(
        {
          checked: component.last_checked_at !== null,
          lastOk: component.last_ok === true,
          lastLatencyMs: component.last_latency_ms ?? 0,
          consecutiveFailures: Number(component.consecutive_failures),
        },
        thresholds,
      ),
      maintenance: maintained.all || maintained.ids.has(component.id),
      baseUrl: component.base_url,
      lastCheck: component.last_checked_at
        ? {
            at: iso(new Date(component.last_checked_at).getTime()),
            ok: component.last_ok === true,
            httpStatus: component.last_http_status,
            latencyMs: component.last_latency_ms,
            error: component.last_error,
          }
        : null,
      consecutiveFailures: Number(component.consecutive_failures),
      uptime,
      bars,
    };
  });
}

async function maintainedNow(db: Queryable, now: number): Promise<{ all: boolean; ids: Set<string> }> {
  const { rows } = await db.query<{ component_ids: string[] }>(
    "SELECT component_ids FROM status_maintenance WHERE starts_at <= $1::timestamptz AND ends_at > $1::timestamptz",
    [iso(now)],
  );
  return {
    all: rows.some((row) => row.component_ids.length === 0),
    ids: new Set(rows.flatMap((row) => row.component_ids)),
  };
}

/** Incidents of the given components (and those of no component), open or recently resolved. */
export async function listIncidents(db: Queryable, componentIds: string[], clock: Clock): Promise<IncidentSummary[]> {
  const since = iso(clock.now() - RECENT_INCIDENT_DAYS * 86_400_000);
  const { rows } = await db.query<{
    id: string;
    component_id: string | null;
    title: string;
    status: IncidentSummary["status"];
    impact: IncidentSummary["impact"];
    automatic: boolean;
    created_at: Date;
    updated_at: Date;
    resolved_at: Date | null;
  }>(
    `SELECT * FROM status_incident WHERE (component_id IS NULL OR component_id = ANY($1::text[]))
       AND (resolved_at IS NULL OR resolved_at >= $2::timestamptz) ORDER BY created_at DESC, id DESC LIMIT 50`,
    [componentIds, since],
  );
  if (rows.length === 0) return [];
  const { rows: updates } = await db.query<{
    incident_id: string;
    at: Date;
    status: IncidentSummary["status"];
    body: string;
    author: string;
  }>(
    "SELECT incident_id, at, status, body, author FROM status_incident_update WHERE incident_id = ANY($1::text[]) ORDER BY at, id",
    [rows.map((row) => row.id)],
  );
  return rows.map((row) => ({
    id: row.id,
    componentId: row.component_id,
    title: row.title,
    status: row.status,
    impact: row.impact,
    automatic: row.automatic,
    createdAt: iso(new Date(row.created_at).getTime()),
    updatedAt: iso(new Date(row.updated_at).getTime()),
    resolvedAt: row.resolved_at ? iso(new Date(row.resolved_at).getTime()) : null,
    updates: updates
      .filter((update) => update.incident_id === row.id)
      .map((update) => ({
        at: iso(new Date(update.at).getTime()),
        status: update.status,
        body: update.body,
        author: update.author,
      })),
  }));
}

/** Maintenance windows now or to come. */
export async function listMaintenance(db: Queryable, clock: Clock): Promise<MaintenanceSummary[]> {
  const now = clock.now();
  const { rows } = await db.query<{
    id: string;
    title: string;
    component_ids: string[];
    starts_at: Date;
    ends_at: Date;
  }>(
    "SELECT id, title, component_ids, starts_at, ends_at FROM status_maintenance WHERE ends_at > $1::timestamptz ORDER BY starts_at, id",
    [iso(now)],
  );
  return rows.map((row) => ({
    id: row.id,
    title: row.title,
    componentIds: row.component_ids,
    startsAt: iso(new Date(row.starts_at).getTime()),
    endsAt: iso(new Date(row.ends_at).getTime()),
    active: new Date(row.starts_at).getTime() <= now,
  }));
}

/**
 * The public summary (admin-registered and built-in components only: a user's own LMX hosts are
 * theirs alone). The last one built is kept, and served marked `stale` while the database cannot
 * be read, so the status page keeps saying what it last knew when other parts are down.
 */
export class SummaryCache {
  private last: StatusSummary | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly thresholds: StatusThresholds,
    private readonly clock: Clock,
  ) {}

  /** A fresh summary, else the last one marked stale, else undefined (never read yet). */
  async get(): Promise<StatusSummary | undefined> {
    try {
      const components = await summarizeComponents(this.db, { ownerId: null }, this.thresholds, this.clock);
      const incidents = await listIncidents(
        this.db,
        components.map((component) => component.id),
        this.clock,
      );
      const maintenance = await listMaintenance(this.db, this.clock);
      this.last = {
        generatedAt: iso(this.clock.now()),
        stale: false,
        status: worstStatus(components.map((component) => component.status)),
        components,
        incidents,
        maintenance,
      };
      return this.last;
    } catch {
      return this.last ? { ...this.last, stale: true } : undefined;
    }
  }
}
