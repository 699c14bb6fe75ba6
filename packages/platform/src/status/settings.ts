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

/** The environment variables that set the checks, each with its bounds. */
const ENV_SETTINGS: { name: string; key: keyof StatusSettings; min: number; max: number }[] = [
  { name: "OPTA_STATUS_INTERVAL_S", key: "intervalS", min: 10, max: 86_400 },
  { name: "OPTA_STATUS_TIMEOUT_MS", key: "timeoutMs", min: 100, max: 60_000 },
  { name: "OPTA_STATUS_FAILURES", key: "failuresToOpen", min: 1, max: 100 },
  { name: "OPTA_STATUS_RETENTION_DAYS", key: "retentionDays", min: 1, max: 400 },
  { name: "OPTA_STATUS_DEGRADED_MS", key: "degradedLatencyMs", min: 1, max: 60_000 },
];

/**
 * The settings the platform process reads from its environment (docs/platform.md "Status");
 * a value out of bounds is a usage error naming the variable, never a silent default.
 */
export function statusSettingsFromEnv(
  env: NodeJS.ProcessEnv,
): { settings: Partial<StatusSettings> } | { error: string } {
  const settings: Partial<StatusSettings> = {};
  for (const { name, key, min, max } of ENV_SETTINGS) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      return { error: `${name} must be a whole number from ${min} to ${max}, not '${raw}'` };
    }
    settings[key] = value;
  }
  const timeout = settings.timeoutMs ?? STATUS_DEFAULTS.timeoutMs;
  const interval = settings.intervalS ?? STATUS_DEFAULTS.intervalS;
  if (timeout >= interval * 1000) return { error: "OPTA_STATUS_TIMEOUT_MS must be shorter than the check interval" };
  return { settings };
}
