import { z } from "zod";

/**
 * When a hook runs: `pre_tool` before a tool call (after the permission gate let it through, before
 * any approval prompt; it may deny the call), `post_tool` after a call ran, `turn_end` once a turn
 * has ended (done, failed or cancelled).
 */
export const HookEventName = z.enum(["pre_tool", "post_tool", "turn_end"]);
export type HookEventName = z.infer<typeof HookEventName>;

/** Seconds a hook may run when its entry names no `timeout`. */
export const HOOK_DEFAULT_TIMEOUT_SECONDS = 10;
/** The longest `timeout` a hook may ask for, seconds. */
export const HOOK_MAX_TIMEOUT_SECONDS = 600;

/** One hook: a shell command (run with `/bin/sh -c` in the session's sandbox), the event JSON on its stdin. */
export const HookConfig = z
  .object({
    /** Shell command, run with `/bin/sh -c` in the session cwd, in the same sandbox as run_command. */
    command: z.string().min(1),
    /** pre_tool/post_tool: tool-name glob the hook applies to (`run_command`, `write_file`, `github__*`); default every tool. */
    matcher: z.string().min(1).optional(),
    /** Seconds before the hook and everything it started are killed (default 10); a timed-out pre_tool hook denies. */
    timeout: z.number().positive().max(HOOK_MAX_TIMEOUT_SECONDS).optional(),
  })
  .strict();
export type HookConfig = z.infer<typeof HookConfig>;

/** `$OPTA_HOME/hooks.yaml` (user) and `.opta/hooks.yaml` (project): hooks per event, run in list order. */
export const HooksFile = z
  .object({
    version: z.literal(1).optional(),
    pre_tool: z.array(HookConfig).optional(),
    post_tool: z.array(HookConfig).optional(),
    turn_end: z.array(HookConfig).optional(),
  })
  .strict();
export type HooksFile = z.infer<typeof HooksFile>;

/** Where a hook is configured. */
export const HookScope = z.enum(["user", "project"]);
export type HookScope = z.infer<typeof HookScope>;

/**
 * What a hook reads on stdin (one JSON object, then end of input). Arguments and results are the
 * masked ones the session log shows; `result` only for post_tool, `stopReason` and `outcome` only for turn_end.
 */
export const HookInput = z.object({
  /** Which event: pre_tool, post_tool or turn_end. */
  event: HookEventName,
  sessionId: z.string(),
  turnId: z.string(),
  /** The session's working directory (where the hook runs). */
  cwd: z.string(),
  /** pre_tool/post_tool: the tool, its call id and arguments. */
  tool: z.string().optional(),
  callId: z.string().optional(),
  args: z.record(z.string(), z.unknown()).optional(),
  /** post_tool: the call's outcome, as the model saw it. */
  result: z
    .object({
      ok: z.boolean(),
      result: z.unknown().optional(),
      error: z.string().optional(),
      code: z.string().optional(),
    })
    .optional(),
  /** turn_end: how the turn ended: `done` (with `stopReason`), `error` or `cancelled`. */
  outcome: z.enum(["done", "error", "cancelled"]).optional(),
  stopReason: z.string().optional(),
  steps: z.number().int().nonnegative().optional(),
  toolCalls: z.number().int().nonnegative().optional(),
});
export type HookInput = z.infer<typeof HookInput>;

/**
 * What a pre_tool hook may print on stdout (optional) to decide: `{"decision":"deny","reason":"…"}`
 * refuses the call, and the model reads the reason; `allow` (or nothing) lets it go on to the permission gate's answer.
 */
export const HookDecision = z.object({
  decision: z.enum(["allow", "deny"]),
  reason: z.string().optional(),
});
export type HookDecision = z.infer<typeof HookDecision>;
