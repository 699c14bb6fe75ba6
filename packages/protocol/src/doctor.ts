import { z } from "zod";

/** A check's outcome: `fail` makes `opta doctor` exit 1, `warn` does not. */
export const CheckStatus = z.enum(["ok", "warn", "fail"]);
export type CheckStatus = z.infer<typeof CheckStatus>;

/** One line of `opta doctor`. */
export const DoctorCheck = z.object({
  /** Stable id for scripts: `daemon`, `lmx`, `provider:anthropic`, `vault`, `config`, `policy`, `hooks`, `sandbox`, `home`, `browser`. */
  id: z.string(),
  /** What was checked, for people. */
  title: z.string(),
  status: CheckStatus,
  /** What was found. */
  detail: z.string(),
  /** What to do about a warn or fail. */
  fix: z.string().optional(),
  /** Round-trip time of the check's request, when it made one. */
  latencyMs: z.number().optional(),
  /** Problems found, one per line (policy files: `file:line: message`). */
  problems: z.array(z.string()).optional(),
});
export type DoctorCheck = z.infer<typeof DoctorCheck>;

/** Everything `opta doctor` found; `ok` is false when any check failed. */
export const DoctorReport = z.object({
  ok: z.boolean(),
  checks: z.array(DoctorCheck),
  counts: z.record(CheckStatus, z.number()),
  /** Who ran the checks: the running daemon (its environment, config and vault) or a one-off local run. */
  checkedBy: z.enum(["daemon", "local"]).optional(),
});
export type DoctorReport = z.infer<typeof DoctorReport>;

/** `GET /v3/doctor` query. */
export const DoctorQuery = z
  .object({
    /** Absolute directory whose project policy files are checked (the CLI sends its cwd). */
    cwd: z.string().optional(),
    /** `true`: only validate policy files (`opta doctor --policy`). */
    policy: z.enum(["true", "false"]).optional(),
  })
  .strict();
export type DoctorQuery = z.infer<typeof DoctorQuery>;

/** What a check's status is called wherever one is printed (`opta doctor`, `opta status`). */
export const CHECK_WORDS: Record<CheckStatus, string> = { ok: "ok", warn: "warning", fail: "failed" };

/**
 * A check in a few words, for one-line summaries: `LMX ok (3 ms)`, `LMX failed: <what was found>`.
 * The words are `opta doctor`'s (CHECK_WORDS) and so is the finding, so `opta status` and `opta
 * doctor` can never disagree.
 */
export function describeCheck(check: DoctorCheck): string {
  const word = CHECK_WORDS[check.status];
  if (check.status === "ok")
    return `${check.title} ${word}${check.latencyMs !== undefined ? ` (${Math.round(check.latencyMs)} ms)` : ""}`;
  return `${check.title} ${word}: ${check.detail}`;
}
