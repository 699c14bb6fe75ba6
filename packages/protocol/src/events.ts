import { z } from "zod";
import { Mode, PermissionDecision, PermissionLevel, Risk, SandboxLevel, StopReason } from "./common.js";
import { HookEventName, HookScope } from "./hooks.js";

/**
 * Every event envelope carries these. `seq` is per session, starts at 1, has no gaps and never
 * repeats; the JSONL line, the WebSocket frame and the SDK type are the same object.
 */
const EnvelopeBase = {
  /** Per-session sequence number, 1-based, gapless. */
  seq: z.number().int().positive(),
  /** ISO-8601 time the daemon recorded the event. */
  ts: z.string(),
  /** Session the event belongs to. */
  sessionId: z.string(),
};

/** Registers one event: its name and payload, extended with the envelope fields. */
function defineEvent<const Name extends string, Shape extends z.ZodRawShape>(name: Name, payload: Shape) {
  return z.object({ ...EnvelopeBase, event: z.literal(name), ...payload });
}

const turnId = z.string();

export const SessionStartEvent = defineEvent("session.start", {
  title: z.string(),
  cwd: z.string(),
  mode: Mode,
  model: z.string(),
});
export type SessionStartEvent = z.infer<typeof SessionStartEvent>;

export const TurnStartEvent = defineEvent("turn.start", {
  turnId,
  role: z.literal("user"),
  text: z.string(),
  mode: Mode,
  model: z.string(),
  permission: PermissionLevel,
  /** Sandbox level the turn asked for (`sandbox` of the request); absent: the policy's, else workspace-write. */
  sandbox: SandboxLevel.optional(),
});
export type TurnStartEvent = z.infer<typeof TurnStartEvent>;

/** One file of project or user instructions that went into a system prompt. */
export const SystemPromptSource = z.object({
  /** Absolute path of the file. */
  path: z.string(),
  /** `user` ($OPTA_HOME/AGENTS.md) or `project` (the repository root down to the cwd). */
  scope: z.enum(["user", "project"]),
  /** Bytes of the file that went into the prompt. */
  bytes: z.number().int().nonnegative(),
  /** Bytes of the file on disk, when more than went in (it was cut at a size cap). */
  totalBytes: z.number().int().nonnegative().optional(),
  /** Why the file is not in the prompt at all (another user can write it; the total cap was reached). */
  skipped: z.string().optional(),
});
export type SystemPromptSource = z.infer<typeof SystemPromptSource>;

/** What a system prompt was made of: part names and sizes, instruction sources, a hash of the text. */
export const SystemPromptSummary = z.object({
  /** The parts in prompt order (`tools`, `instructions`, `mode`, `environment`), with their sizes in bytes. */
  parts: z.array(z.object({ name: z.string(), bytes: z.number().int().nonnegative() })),
  /** Instruction files, in the order they appear. */
  sources: z.array(SystemPromptSource),
  /** Size of the whole prompt, bytes. */
  bytes: z.number().int().nonnegative(),
  /** The first 16 hex digits of the prompt's SHA-256: equal hashes, equal prompts. */
  hash: z.string(),
});
export type SystemPromptSummary = z.infer<typeof SystemPromptSummary>;

/** The system prompt a turn sent to the model, summarised (the full text: GET /v3/sessions/:id/system). */
export const TurnSystemEvent = defineEvent("turn.system", {
  turnId,
  ...SystemPromptSummary.shape,
  /**
   * The git summary the prompt's environment part carries. Taken at a session's first turn (and
   * again after a compaction) and then reused: a git line that followed every edit would change the
   * prompt ahead of the tool definitions and the whole conversation, and LMX's KV cache (like a
   * cloud prompt cache) would have to evaluate all of that again on every turn.
   */
  git: z.string().optional(),
});
export type TurnSystemEvent = z.infer<typeof TurnSystemEvent>;

export const TurnThinkingEvent = defineEvent("turn.thinking", { turnId, delta: z.string() });
export type TurnThinkingEvent = z.infer<typeof TurnThinkingEvent>;

export const TurnTokenEvent = defineEvent("turn.token", { turnId, delta: z.string(), model: z.string() });
export type TurnTokenEvent = z.infer<typeof TurnTokenEvent>;

export const ToolCallEvent = defineEvent("tool.call", {
  turnId,
  callId: z.string(),
  name: z.string(),
  args: z.record(z.string(), z.unknown()),
});
export type ToolCallEvent = z.infer<typeof ToolCallEvent>;

export const PermissionRequestEvent = defineEvent("permission.request", {
  turnId,
  requestId: z.string(),
  callId: z.string(),
  name: z.string(),
  args: z.record(z.string(), z.unknown()),
  risk: Risk,
  /** Why the gate asks (the rule or default that decided). */
  reason: z.string().optional(),
  /** Policy YAML that would allow this call without asking ("Always allow" writes its equivalent). */
  suggestion: z.string().optional(),
  /**
   * For a command: the sandbox it would run in, or `unavailable` when no sandbox works on this
   * machine and it would run unsandboxed (the reason then says so).
   */
  sandbox: z.union([SandboxLevel, z.literal("unavailable")]).optional(),
});
export type PermissionRequestEvent = z.infer<typeof PermissionRequestEvent>;

export const PermissionResolvedEvent = defineEvent("permission.resolved", {
  turnId,
  requestId: z.string(),
  decision: PermissionDecision,
  /** Who decided: "user", "policy", "timeout", "cancel" or a client name. */
  by: z.string(),
});
export type PermissionResolvedEvent = z.infer<typeof PermissionResolvedEvent>;

export const ToolResultEvent = defineEvent("tool.result", {
  turnId,
  callId: z.string(),
  name: z.string(),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.string().optional(),
  elapsedMs: z.number().nonnegative(),
  /** One short human line for UIs: "142 lines", "exit 0 · 1.2s". */
  summary: z.string().optional(),
  /** Why it failed, for clients to switch on: PERMISSION_DENIED, INVALID_ARGS, PATH_OUTSIDE_WORKSPACE… */
  code: z.string().optional(),
  /** How the gate let it run: "policy" (a rule or default allowed it) or "user" (approved). */
  allowedBy: z.enum(["policy", "user"]).optional(),
  /** The policy rule or default that decided, e.g. "defaults: read_file → allow". */
  rule: z.string().optional(),
});
export type ToolResultEvent = z.infer<typeof ToolResultEvent>;

export const TurnDoneEvent = defineEvent("turn.done", {
  turnId,
  /** Output tokens (provider usage when reported, else counted deltas). */
  tokens: z.number().int().nonnegative(),
  /** Reasoning tokens, counted separately. */
  thinkingTokens: z.number().int().nonnegative(),
  /** Wall time of the turn in seconds. */
  elapsed: z.number().nonnegative(),
  tokensPerSec: z.number().nonnegative(),
  toolCalls: z.number().int().nonnegative(),
  steps: z.number().int().nonnegative(),
  stopReason: StopReason,
  /** Prompt tokens of the last request, when the provider reports them (context fill). */
  promptTokens: z.number().int().nonnegative().optional(),
  /**
   * Of `promptTokens`, those the provider served from its cache (LMX's KV cache, OpenAI's
   * `cached_tokens`, Anthropic's cache reads), when it reports them: how much of the prompt a turn reused.
   */
  cachedTokens: z.number().int().nonnegative().optional(),
  /** Provider that answered (after any `provider.fallback`), e.g. "lmx". */
  provider: z.string().optional(),
  /** Model id that answered, as that provider names it. */
  model: z.string().optional(),
});
export type TurnDoneEvent = z.infer<typeof TurnDoneEvent>;

export const TurnErrorEvent = defineEvent("turn.error", {
  turnId,
  message: z.string(),
  code: z.string(),
  retryable: z.boolean(),
});
export type TurnErrorEvent = z.infer<typeof TurnErrorEvent>;

export const SessionCancelledEvent = defineEvent("session.cancelled", { turnId });
export type SessionCancelledEvent = z.infer<typeof SessionCancelledEvent>;

/**
 * A turn paused between steps (`POST /pause`): its running tool calls finished, a model call in
 * flight was dropped (its step does not count). The turn is not over: `turn.resumed` continues it
 * with the same turnId, `session.cancelled` ends it. It survives a daemon restart.
 */
export const TurnPausedEvent = defineEvent("turn.paused", {
  turnId,
  /** Steps the turn has taken so far (model calls that finished). */
  steps: z.number().int().nonnegative(),
  /** The turn's step limit. */
  maxSteps: z.number().int().positive(),
  /** Steps it may still take once resumed (`maxSteps - steps`). */
  remainingSteps: z.number().int().nonnegative(),
  /** Tool calls it has made so far. */
  toolCalls: z.number().int().nonnegative(),
  /** Whether its approvals could be asked (the submitted `interactive`); a resume may change it. */
  interactive: z.boolean(),
});
export type TurnPausedEvent = z.infer<typeof TurnPausedEvent>;

/** A paused turn continues (`POST /resume`): the same turnId, the remaining steps, the full history. */
export const TurnResumedEvent = defineEvent("turn.resumed", {
  turnId,
  /** Steps already taken before the pause; the next step is `steps + 1`. */
  steps: z.number().int().nonnegative(),
  /** Steps it may take from here. */
  remainingSteps: z.number().int().nonnegative(),
});
export type TurnResumedEvent = z.infer<typeof TurnResumedEvent>;

export const SessionCompactedEvent = defineEvent("session.compacted", {
  /** Summary that replaces the compacted turns in the model's context. */
  summary: z.string(),
  /** Turns the summary covers. */
  turnIds: z.array(z.string()).optional(),
});
export type SessionCompactedEvent = z.infer<typeof SessionCompactedEvent>;

/** A `POST /compact` stopped (`POST /stop`) before its summary was recorded; the history is unchanged. */
export const CompactionCancelledEvent = defineEvent("compaction.cancelled", {});
export type CompactionCancelledEvent = z.infer<typeof CompactionCancelledEvent>;

export const ProviderFallbackEvent = defineEvent("provider.fallback", {
  turnId,
  /** `provider/model` that failed before its first token. */
  from: z.string(),
  /** `provider/model` the turn continues with. */
  to: z.string(),
  /** Why `from` was left (the provider's error, keys redacted). */
  reason: z.string(),
});
export type ProviderFallbackEvent = z.infer<typeof ProviderFallbackEvent>;

export const SessionRenamedEvent = defineEvent("session.renamed", {
  /** The new title (shown in the rail; never derived from a turn again). */
  title: z.string(),
});
export type SessionRenamedEvent = z.infer<typeof SessionRenamedEvent>;

export const SessionPinnedEvent = defineEvent("session.pinned", {
  /** True: listed first in Code Desktop and never pruned. */
  pinned: z.boolean(),
});
export type SessionPinnedEvent = z.infer<typeof SessionPinnedEvent>;

/** How far a rewind reaches: the workspace files, the conversation, or both. */
export const RewindScope = z.enum(["files", "conversation", "both"]);
export type RewindScope = z.infer<typeof RewindScope>;

/** One file's state in a checkpoint: the content (by hash) it had, or that it did not exist. */
export const CheckpointFile = z.object({
  /** Real absolute path of the file. */
  path: z.string(),
  /** sha256 (hex) of its content, stored under the session's checkpoint directory; null: no file there. */
  sha256: z.string().nullable(),
  /** Permission bits (e.g. 420 = 0o644) when there was a file. */
  mode: z.number().int().optional(),
});
export type CheckpointFile = z.infer<typeof CheckpointFile>;

/**
 * The files a write_file/edit_file call is about to change, as they were just before it ran.
 * Commands (run_command) are not checkpointed: what they change cannot be known in advance.
 */
export const CheckpointEvent = defineEvent("checkpoint", {
  turnId,
  /** The tool call about to run. */
  callId: z.string(),
  /** Step of the turn (1-based model call) the tool call belongs to. */
  step: z.number().int().positive(),
  files: z.array(CheckpointFile),
});
export type CheckpointEvent = z.infer<typeof CheckpointEvent>;

/** The same files right after the call ran: what the agent left there (a rewind compares against it). */
export const CheckpointWrittenEvent = defineEvent("checkpoint.written", {
  turnId,
  callId: z.string(),
  files: z.array(CheckpointFile),
});
export type CheckpointWrittenEvent = z.infer<typeof CheckpointWrittenEvent>;

/** What a rewind did to one file. */
export const RewoundFile = z.object({
  path: z.string(),
  /** restored: content put back; removed: the agent had created it; unchanged: it already matched. */
  action: z.enum(["restored", "removed", "unchanged"]),
  /** The content it has now (null: removed). */
  sha256: z.string().nullable(),
  /** It had been changed outside the agent and `force` overwrote it anyway. */
  overwritten: z.boolean().optional(),
});
export type RewoundFile = z.infer<typeof RewoundFile>;

/**
 * A rewind to before `toTurnId`. With scope conversation/both, every event from that turn's
 * `turn.start` (seq `fromSeq`) up to this one is left out of the model's conversation (the log itself
 * stays append-only); with files/both, `files` lists what was put back in the workspace.
 */
export const SessionRewoundEvent = defineEvent("session.rewound", {
  toTurnId: turnId,
  scope: RewindScope,
  /** Seq of the `turn.start` of `toTurnId`. */
  fromSeq: z.number().int().positive(),
  /** Turns taken out of the conversation (empty for scope files). */
  turnIds: z.array(z.string()),
  files: z.array(RewoundFile),
});
export type SessionRewoundEvent = z.infer<typeof SessionRewoundEvent>;

/** Second event of a forked session: the history that follows was copied from `from` up to `atTurnId`. */
export const SessionForkedEvent = defineEvent("session.forked", {
  /** The session it was forked from. */
  from: z.string(),
  /** Last turn copied (absent: the source had no turns). */
  atTurnId: z.string().optional(),
  /** How many turns were copied. */
  turns: z.number().int().nonnegative(),
});
export type SessionForkedEvent = z.infer<typeof SessionForkedEvent>;

/** One hook ran (`$OPTA_HOME/hooks.yaml` or `.opta/hooks.yaml`): what it printed (capped, secrets masked), how it ended. */
export const HookRanEvent = defineEvent("hook.ran", {
  turnId,
  /** pre_tool, post_tool or turn_end. */
  hook: HookEventName,
  scope: HookScope,
  /** The hooks file and the entry's position in its list, e.g. `/repo/.opta/hooks.yaml: pre_tool[0]`. */
  source: z.string(),
  /** The hook's command as configured. */
  command: z.string(),
  /** pre_tool/post_tool: the call it ran for. */
  callId: z.string().optional(),
  tool: z.string().optional(),
  /** Exit code; null when it was killed (timeout, cancel) or never started. */
  exitCode: z.number().int().nullable(),
  /** Signal that ended it, when one did. */
  signal: z.string().optional(),
  /** stdout and stderr, each capped (the head and the tail kept) and masked like tool results. */
  stdout: z.string(),
  stderr: z.string(),
  elapsedMs: z.number().nonnegative(),
  /** It ran past its timeout and it and everything it started were killed. */
  timedOut: z.boolean().optional(),
  /** It could not run at all (the sandbox would not start, spawn failed): why. */
  error: z.string().optional(),
  /** Where it ran: the sandbox level, or `unavailable` when no sandbox works here and it ran unsandboxed. */
  sandbox: z.union([SandboxLevel, z.literal("unavailable")]),
  /** pre_tool: whether the call may go on (`allow`) or was refused (`deny`, with the reason the model reads). */
  decision: z.enum(["allow", "deny"]).optional(),
  reason: z.string().optional(),
});
export type HookRanEvent = z.infer<typeof HookRanEvent>;

/** A hooks file that was not used this turn (untrusted project file, another user can write it, invalid), and why. */
export const HookSkippedEvent = defineEvent("hook.skipped", {
  turnId,
  scope: HookScope,
  file: z.string(),
  reason: z.string(),
});
export type HookSkippedEvent = z.infer<typeof HookSkippedEvent>;

/**
 * The registry: every session event, once. The union the daemon writes, the WebSocket sends and the
 * SDK parses is derived from it, so adding an event here is the only step.
 */
export const SessionEventSchemas = [
  SessionStartEvent,
  TurnStartEvent,
  TurnSystemEvent,
  TurnThinkingEvent,
  TurnTokenEvent,
  ToolCallEvent,
  PermissionRequestEvent,
  PermissionResolvedEvent,
  ToolResultEvent,
  TurnDoneEvent,
  TurnErrorEvent,
  SessionCancelledEvent,
  TurnPausedEvent,
  TurnResumedEvent,
  SessionCompactedEvent,
  CompactionCancelledEvent,
  ProviderFallbackEvent,
  SessionRenamedEvent,
  SessionPinnedEvent,
  CheckpointEvent,
  CheckpointWrittenEvent,
  SessionRewoundEvent,
  SessionForkedEvent,
  HookRanEvent,
  HookSkippedEvent,
] as const;

/** Any session event envelope. */
export const SessionEvent = z.discriminatedUnion("event", SessionEventSchemas);
export type SessionEvent = z.infer<typeof SessionEvent>;

/** The name of a session event. */
export type SessionEventName = SessionEvent["event"];

/** The envelope type for one event name. */
export type SessionEventOf<Name extends SessionEventName> = Extract<SessionEvent, { event: Name }>;

/** Every registered event name, for clients that switch on them. */
export const SESSION_EVENT_NAMES = SessionEventSchemas.map((schema) => schema.shape.event.value) as SessionEventName[];

/** A session event without the fields the daemon assigns when it appends (seq, ts, sessionId). */
export type SessionEventInput = SessionEvent extends infer E
  ? E extends SessionEvent
    ? Omit<E, "seq" | "ts" | "sessionId">
    : never
  : never;

/** Events that end a turn (`turn.paused` does not: the turn goes on after `turn.resumed`). */
export const TURN_END_EVENTS: ReadonlySet<SessionEventName> = new Set(["turn.done", "turn.error", "session.cancelled"]);

/** Daemon-wide events on `WS /v3/events` that belong to no session. */
export const DaemonEvent = z.discriminatedUnion("event", [
  z.object({ event: z.literal("daemon.start"), ts: z.string(), pid: z.number(), version: z.string() }),
  z.object({ event: z.literal("daemon.stop"), ts: z.string(), reason: z.string() }),
  z.object({
    event: z.literal("session.created"),
    ts: z.string(),
    sessionId: z.string(),
    title: z.string(),
  }),
  z.object({
    event: z.literal("session.deleted"),
    ts: z.string(),
    sessionId: z.string(),
    /** False when it was purged (destroyed) rather than archived. */
    archived: z.boolean(),
  }),
]);
export type DaemonEvent = z.infer<typeof DaemonEvent>;

/** One frame of `WS /v3/events`: a session or daemon event plus the cursor to resume after it. */
export type GlobalFrame = (SessionEvent | DaemonEvent) & { cursor: string };

/** Frames sent on a stream that are not events: the server's notice that replay has caught up. */
export const StreamControlFrame = z.object({
  control: z.enum(["replayed", "reset"]),
  /** Last seq (session stream) or cursor (global stream) included in the replay. */
  lastSeq: z.number().int().nonnegative().optional(),
  cursor: z.string().optional(),
});
export type StreamControlFrame = z.infer<typeof StreamControlFrame>;
