/**
 * The status rules, as pure functions so the page, summary.json and the tests agree on them:
 * a component's status from its latest checks, the overall status, and the buckets the uptime
 * bars are drawn from.
 */

/** A component's state, worst last. */
export const COMPONENT_STATUSES = ["operational", "degraded", "partial_outage", "major_outage"] as const;
/** operational · degraded · partial_outage · major_outage. */
export type ComponentStatus = (typeof COMPONENT_STATUSES)[number];

/** What the rule reads of a component. */
export interface CheckState {
  /** Whether it has been checked yet. */
  checked: boolean;
  /** The latest check met the expected status within the timeout. */
  lastOk: boolean;
  /** Its latency, ms. */
  lastLatencyMs: number;
  /** Failed checks in a row, up to the latest. */
  consecutiveFailures: number;
}

/** The thresholds of the rule. */
export interface StatusThresholds {
  /** K: this many failed checks in a row are an outage, and open an incident. */
  failuresToOpen: number;
  /** A successful check slower than this makes the component degraded. */
  degradedLatencyMs: number;
}

/**
 * The rule (docs/platform.md): not yet checked or the latest check fine → operational; the latest
 * check fine but slower than `degradedLatencyMs` → degraded; failing, fewer than K times in a row
 * → partial outage (one failed check may be a blip); K or more in a row → major outage.
 */
export function componentStatus(state: CheckState, thresholds: StatusThresholds): ComponentStatus {
  if (!state.checked) return "operational";
  if (state.lastOk) return state.lastLatencyMs > thresholds.degradedLatencyMs ? "degraded" : "operational";
  return state.consecutiveFailures >= thresholds.failuresToOpen ? "major_outage" : "partial_outage";
}

/** The worst of several statuses (operational when there are none). */
export function worstStatus(statuses: Iterable<ComponentStatus>): ComponentStatus {
  let worst = 0;
  for (const status of statuses) worst = Math.max(worst, COMPONENT_STATUSES.indexOf(status));
  return COMPONENT_STATUSES[worst]!;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** The start of the UTC hour or day that `at` falls in. */
export function bucketStart(period: "hour" | "day", at: number): number {
  const size = period === "hour" ? HOUR_MS : DAY_MS;
  return Math.floor(at / size) * size;
}

/** The three uptime windows of the page: 24 hourly bars, 7 and 90 daily bars. */
export const UPTIME_WINDOWS = {
  "24h": { period: "hour", count: 24 },
  "7d": { period: "day", count: 7 },
  "90d": { period: "day", count: 90 },
} as const;
export type UptimeWindow = keyof typeof UPTIME_WINDOWS;

/** The bucket starts of a window, oldest first, the current (partial) bucket last. */
export function windowBuckets(window: UptimeWindow, now: number): number[] {
  const { period, count } = UPTIME_WINDOWS[window];
  const size = period === "hour" ? HOUR_MS : DAY_MS;
  const last = bucketStart(period, now);
  return Array.from({ length: count }, (_, index) => last - (count - 1 - index) * size);
}
