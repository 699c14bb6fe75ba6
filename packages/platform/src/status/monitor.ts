import type { Database, Queryable } from "../db/database.js";
import type { Logger } from "../log.js";
import { type BuiltinComponent, type ComponentRow, upsertBuiltins } from "./components.js";
import { newId } from "./ids.js";
import type { Probe, ProbeResult } from "./probe.js";
import { bucketStart, DAY_MS, HOUR_MS } from "./rules.js";
import { type Clock, iso, type StatusSettings } from "./settings.js";

/** Options of `StatusMonitor`. */
export interface MonitorOptions {
  database: Database;
  logger: Logger;
  clock: Clock;
  probe: Probe;
  settings: StatusSettings;
  builtins: BuiltinComponent[];
}

/** At most this many checks run at once (a tick after an outage of many hosts stays bounded). */
const PARALLEL_CHECKS = 8;
/** Hourly roll-ups are kept this long (the 24 h bars need one day; a week of margin). */
const HOUR_ROLLUP_DAYS = 8;
/** Daily roll-ups are kept this long (the 90 d bars need 90). */
const DAY_ROLLUP_DAYS = 400;

/**
 * Runs the checks: each tick claims the components that are due (an UPDATE … RETURNING, so several
 * servers on one database split them and none checks a component twice), probes them and records
 * the results, the roll-ups and the incidents each result opens or resolves. Time is the clock's,
 * so a test moves it and calls `tick()` instead of waiting.
 */
export class StatusMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private lastPrune = Number.NEGATIVE_INFINITY;
  private failingSince: number | undefined;

  constructor(private readonly options: MonitorOptions) {}

  /** The settings the checks and the rules use. */
  get settings(): StatusSettings {
    return this.options.settings;
  }

  /** Writes the built-in components; called once at start. */
  async prepare(): Promise<void> {
    const { database, builtins, settings, clock } = this.options;
    await upsertBuiltins(database, builtins, settings, clock);
  }

  /** Checks every due component once; resolves with how many it checked. Ticks never overlap. */
  tick(): Promise<number> {
    if (this.running) return this.running;
    this.running = this.runDue().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Ticks every second until `stop` (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.tick().then(
        () => {
          if (this.failingSince !== undefined) this.options.logger.info("status", "checks run again");
          this.failingSince = undefined;
        },
        (error: Error) => {
          // One line when the database goes away, not one a second.
          if (this.failingSince === undefined) {
            this.failingSince = Date.now();
            this.options.logger.warn("status", "status checks cannot run (the database failed)", {
              error: error.message,
            });
          }
        },
      );
    }, 1_000);
    this.timer.unref();
  }

  /** Stops the timer and waits for a tick in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private async runDue(): Promise<number> {
    const { database, clock, probe } = this.options;
    const now = clock.now();
    const { rows: due } = await database.query<ComponentRow>(
      `UPDATE status_component SET next_check_at = $1::timestamptz + make_interval(secs => interval_s)
       WHERE id IN (SELECT id FROM status_component WHERE next_check_at <= $1::timestamptz ORDER BY next_check_at FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [iso(now)],
    );
    const queue = [...due];
    const worker = async () => {
      for (let component = queue.shift(); component; component = queue.shift()) {
        const result = await probe({
          url: component.check_url,
          ...(component.check_host ? { host: component.check_host } : {}),
          timeoutMs: component.timeout_ms,
          expectedStatus: component.expected_status,
        });
        await this.record(component, result, clock.now());
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_CHECKS, queue.length) }, worker));
    if (now - this.lastPrune >= HOUR_MS) {
      await this.prune(now);
      this.lastPrune = now;
    }
    return due.length;
  }

  /** One result: the raw row, the component's latest state, the roll-ups, the incident. */
  private async record(component: ComponentRow, result: ProbeResult, at: number): Promise<void> {
    const { settings, logger } = this.options;
    await this.options.database.transaction(async (tx) => {
      const maintenance = await inMaintenance(tx, component.id, at);
      const { rows } = await tx.query<{ consecutive_failures: number }>(
        `UPDATE status_component SET last_checked_at = $2::timestamptz, last_ok = $3, last_http_status = $4,
           last_latency_ms = $5, last_error = $6,
           consecutive_failures = CASE WHEN $3 THEN 0 ELSE consecutive_failures + 1 END
         WHERE id = $1 RETURNING consecutive_failures`,
        [component.id, iso(at), result.ok, result.httpStatus, result.latencyMs, result.error],
      );
      // Deleted while its check ran: nothing more to record.
      if (rows.length === 0) return;
      await tx.query(
        `INSERT INTO status_check (component_id, at, ok, http_status, latency_ms, error, in_maintenance)
         VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7)`,
        [component.id, iso(at), result.ok, result.httpStatus, result.latencyMs, result.error, maintenance],
      );
      const failures = Number(rows[0]!.consecutive_failures);
      if (!maintenance) {
        for (const period of ["hour", "day"] as const) {
          await tx.query(
            `INSERT INTO status_rollup (component_id, period, bucket, total, ok, latency_sum) VALUES ($1, $2, $3::timestamptz, 1, $4, $5)
             ON CONFLICT (component_id, period, bucket) DO UPDATE SET total = status_rollup.total + 1,
               ok = status_rollup.ok + $4, latency_sum = status_rollup.latency_sum + $5`,
            [component.id, period, iso(bucketStart(period, at)), result.ok ? 1 : 0, result.latencyMs],
          );
        }
      }
      if (!result.ok && !maintenance && failures >= settings.failuresToOpen) {
        const opened = await openIncident(tx, component, failures, result, at);
        if (opened) logger.warn("status", "incident opened", { component: component.id, incident: opened, failures });
      }
      if (result.ok) {
        const resolved = await resolveIncident(tx, component, result, at);
        if (resolved) logger.info("status", "incident resolved", { component: component.id, incident: resolved });
      }
    });
  }

  private async prune(now: number): Promise<void> {
    const { database, settings } = this.options;
    await database.query("DELETE FROM status_check WHERE at < $1::timestamptz", [
      iso(now - settings.retentionDays * DAY_MS),
    ]);
    await database.query("DELETE FROM status_rollup WHERE period = 'hour' AND bucket < $1::timestamptz", [
      iso(now - HOUR_ROLLUP_DAYS * DAY_MS),
    ]);
    await database.query("DELETE FROM status_rollup WHERE period = 'day' AND bucket < $1::timestamptz", [
      iso(now - DAY_ROLLUP_DAYS * DAY_MS),
    ]);
    // A deleted account's LMX hosts go with it, however the account was deleted (its checks,
    // roll-ups and incidents cascade).
    await database.query(
      `DELETE FROM status_component c WHERE c.owner_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "user" u WHERE u.id = c.owner_id)`,
    );
  }
}

/** Whether a maintenance window covers this component at `at` (an empty list covers all). */
async function inMaintenance(tx: Queryable, componentId: string, at: number): Promise<boolean> {
  const { rows } = await tx.query(
    `SELECT 1 FROM status_maintenance WHERE starts_at <= $2::timestamptz AND ends_at > $2::timestamptz
       AND (cardinality(component_ids) = 0 OR $1 = ANY(component_ids)) LIMIT 1`,
    [componentId, iso(at)],
  );
  return rows.length > 0;
}

/** Opens the component's automatic incident unless one is open; returns its id when it did. */
async function openIncident(
  tx: Queryable,
  component: ComponentRow,
  failures: number,
  result: ProbeResult,
  at: number,
): Promise<string | undefined> {
  const id = newId("inc", at);
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO status_incident (id, component_id, title, status, impact, automatic, created_at, updated_at)
     VALUES ($1, $2, $3, 'investigating', 'major', true, $4::timestamptz, $4::timestamptz)
     ON CONFLICT (component_id) WHERE automatic AND resolved_at IS NULL DO NOTHING RETURNING id`,
    [id, component.id, `${component.name} is not answering`, iso(at)],
  );
  if (rows.length === 0) return undefined;
  await tx.query(
    `INSERT INTO status_incident_update (incident_id, at, status, body, author) VALUES ($1, $2::timestamptz, 'investigating', $3, 'status checks')`,
    [id, iso(at), `${failures} checks in a row failed (${result.error ?? "no answer"}). Opened automatically.`],
  );
  return id;
}

/** Resolves the component's open automatic incident, with an update saying so; returns its id. */
async function resolveIncident(
  tx: Queryable,
  component: ComponentRow,
  result: ProbeResult,
  at: number,
): Promise<string | undefined> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE status_incident SET status = 'resolved', resolved_at = $2::timestamptz, updated_at = $2::timestamptz
     WHERE component_id = $1 AND automatic AND resolved_at IS NULL RETURNING id`,
    [component.id, iso(at)],
  );
  const id = rows[0]?.id;
  if (!id) return undefined;
  await tx.query(
    `INSERT INTO status_incident_update (incident_id, at, status, body, author) VALUES ($1, $2::timestamptz, 'resolved', $3, 'status checks')`,
    [
      id,
      iso(at),
      `${component.name} answers again (HTTP ${result.httpStatus} in ${result.latencyMs} ms). Resolved automatically.`,
    ],
  );
  return id;
}
