/** How the status checks run; every field has a default (STATUS_DEFAULTS). */
export interface StatusSettings {
  /** Seconds between two checks of a component, unless it sets its own. */
  intervalS: number;
  /** A check without an answer within this many ms has failed. */
  timeoutMs: number;
  /** K: failed checks in a row that make a major outage and open an incident. */
  failuresToOpen: number;
  /** N: days raw check results are kept (the hourly and daily roll-ups stay longer). */
  retentionDays: number;
  /** A successful check slower than this makes the component degraded. */
  degradedLatencyMs: number;
}

export const STATUS_DEFAULTS: StatusSettings = {
  intervalS: 60,
  timeoutMs: 10_000,
  failuresToOpen: 3,
  retentionDays: 7,
  degradedLatencyMs: 2_000,
};

/** Where time comes from: the system clock in production, a hand-moved one in tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** An ISO string for a clock reading, the form every status query takes its times in. */
export const iso = (ms: number) => new Date(ms).toISOString();
