import { z } from "zod";
import { LogLevel, Mode, PermissionDecision, PermissionLevel, SandboxLevel, SessionStatus } from "./common.js";
import { RewindScope, RewoundFile, SessionEvent, SystemPromptSummary } from "./events.js";

/** `POST /v3/sessions` body. */
export const CreateSessionRequest = z
  .object({
    /** Shown in the session rail; defaults to the first turn's text. */
    title: z.string().max(200).optional(),
    /** Working directory the session's tools are confined to; defaults to the daemon's cwd. */
    cwd: z.string().max(4096).optional(),
    mode: Mode.optional(),
    model: z.string().max(256).optional(),
  })
  .strict();
export type CreateSessionRequest = z.infer<typeof CreateSessionRequest>;

/** Session metadata as the index holds it (rebuildable from the JSONL file). */
export const SessionInfo = z.object({
  id: z.string(),
  title: z.string(),
  cwd: z.string(),
  mode: Mode,
  model: z.string(),
  status: SessionStatus,
  turnCount: z.number().int().nonnegative(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Highest seq written; replay with afterSeq < lastSeq to catch up. */
  lastSeq: z.number().int().nonnegative(),
  /** Turn running now, if any. */
  activeTurnId: z.string().optional(),
  /** Turn paused now (status `paused`), if any: resume it or stop it before a new turn. */
  pausedTurnId: z.string().optional(),
  /** Pinned sessions come first in Code Desktop and are never pruned. */
  pinned: z.boolean().optional(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

/** `GET /v3/sessions` response. */
export const SessionListResponse = z.object({ sessions: z.array(SessionInfo) });
export type SessionListResponse = z.infer<typeof SessionListResponse>;

/** `GET /v3/sessions/:id/events` response. */
export const SessionEventsResponse = z.object({
  events: z.array(SessionEvent),
  lastSeq: z.number().int().nonnegative(),
});
export type SessionEventsResponse = z.infer<typeof SessionEventsResponse>;

/** `POST /v3/sessions/:id/turns` body; mode, model and permission override the session's for this turn. */
export const SubmitTurnRequest = z
  .object({
    text: z.string().min(1, "text must not be empty").max(1_000_000),
    mode: Mode.optional(),
    model: z.string().max(256).optional(),
    permission: PermissionLevel.optional(),
    /** Sandbox level of this turn's commands; beats the policy's `sandbox:` (default workspace-write). */
    sandbox: SandboxLevel.optional(),
    /** Agent-loop step limit for this turn (default: config `max-steps`, else 20). */
    maxSteps: z.number().int().min(1).max(1000).optional(),
    /**
     * False when no one can answer approval prompts (`opta do` without a terminal): a call that would
     * ask is denied at once, with the policy line that would allow it.
     */
    interactive: z.boolean().optional(),
  })
  .strict();
export type SubmitTurnRequest = z.infer<typeof SubmitTurnRequest>;

/** `POST /v3/sessions/:id/turns` response (202: the turn runs; follow it on the stream). */
export const SubmitTurnResponse = z.object({ sessionId: z.string(), turnId: z.string(), seq: z.number().int() });
export type SubmitTurnResponse = z.infer<typeof SubmitTurnResponse>;

/** `POST /v3/sessions/:id/stop` response. */
export const StopTurnResponse = z.object({ stopped: z.boolean(), turnId: z.string().optional() });
export type StopTurnResponse = z.infer<typeof StopTurnResponse>;

/** `POST /v3/sessions/:id/pause` response: returns once `turn.paused` is recorded (or the turn ended first). */
export const PauseTurnResponse = z.object({
  /** False when no turn was running, or it ended (done, error) before it reached a step boundary. */
  paused: z.boolean(),
  turnId: z.string().optional(),
  /** Steps taken, and steps left for the resume. */
  steps: z.number().int().nonnegative().optional(),
  remainingSteps: z.number().int().nonnegative().optional(),
});
export type PauseTurnResponse = z.infer<typeof PauseTurnResponse>;

/** `POST /v3/sessions/:id/resume` body. */
export const ResumeTurnRequest = z
  .object({
    /** Whether approvals can be asked from here on (default: as the turn was submitted). */
    interactive: z.boolean().optional(),
  })
  .strict();
export type ResumeTurnRequest = z.infer<typeof ResumeTurnRequest>;

/** `POST /v3/sessions/:id/resume` response (202: the same turn runs again; follow it on the stream). */
export const ResumeTurnResponse = z.object({
  sessionId: z.string(),
  turnId: z.string(),
  /** Seq of the `turn.resumed` event. */
  seq: z.number().int(),
  remainingSteps: z.number().int().nonnegative(),
});
export type ResumeTurnResponse = z.infer<typeof ResumeTurnResponse>;

/** `POST /v3/sessions/:id/compact` response. */
export const CompactResponse = z.object({
  compacted: z.boolean(),
  summary: z.string().optional(),
  /** True when `POST /stop` cancelled the compaction before it finished. */
  cancelled: z.boolean().optional(),
});
export type CompactResponse = z.infer<typeof CompactResponse>;

/** `GET /v3/sessions/:id/system` response: the system prompt the session's next turn sends, and its summary. */
export const SystemPromptResponse = SystemPromptSummary.extend({
  sessionId: z.string(),
  /** The mode the prompt was built for (the last turn's, else the session's). */
  mode: Mode,
  /** The full text sent as the first (system) message. */
  text: z.string(),
});
export type SystemPromptResponse = z.infer<typeof SystemPromptResponse>;

/** `POST /v3/sessions/:id/permissions/:requestId` body. */
export const PermissionDecisionRequest = z.object({ decision: PermissionDecision }).strict();
export type PermissionDecisionRequest = z.infer<typeof PermissionDecisionRequest>;

/** `GET /v3/health` response. */
export const HealthResponse = z.object({ ok: z.literal(true), version: z.string() });
export type HealthResponse = z.infer<typeof HealthResponse>;

/** Health of one configured provider. */
export const ProviderHealth = z.object({
  name: z.string(),
  type: z.string(),
  baseUrl: z.string().optional(),
  healthy: z.boolean(),
  latencyMs: z.number().nonnegative().optional(),
  error: z.string().optional(),
  checkedAt: z.string().optional(),
});
export type ProviderHealth = z.infer<typeof ProviderHealth>;

/** `GET /v3/daemon` response. */
export const DaemonStatusResponse = z.object({
  pid: z.number().int(),
  port: z.number().int(),
  version: z.string(),
  startedAt: z.string(),
  /** Seconds since start. */
  uptime: z.number().nonnegative(),
  sessions: z.object({ total: z.number().int(), active: z.number().int() }),
  providers: z.array(ProviderHealth),
  /** Resident memory in bytes. */
  rss: z.number().int().nonnegative(),
});
export type DaemonStatusResponse = z.infer<typeof DaemonStatusResponse>;

/** `POST /v3/daemon/stop` and `/restart` response. */
export const DaemonLifecycleResponse = z.object({
  ok: z.literal(true),
  action: z.enum(["stop", "restart"]),
  /** After a restart: the new token, for the client that asked (it held the old one). */
  token: z.string().optional(),
});
export type DaemonLifecycleResponse = z.infer<typeof DaemonLifecycleResponse>;

/** One structured daemon log line (also one line of daemon.log). */
export const LogLine = z
  .object({
    ts: z.string(),
    level: LogLevel,
    /** Subsystem: server, session, provider, tools… */
    scope: z.string(),
    message: z.string(),
  })
  .catchall(z.unknown());
export type LogLine = z.infer<typeof LogLine>;

/** `GET /v3/daemon/logs` query. */
export const LogsQuery = z.object({
  level: LogLevel.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(200),
});
export type LogsQuery = z.infer<typeof LogsQuery>;

/** `GET /v3/daemon/logs` response, oldest first. */
export const LogsResponse = z.object({ lines: z.array(LogLine) });
export type LogsResponse = z.infer<typeof LogsResponse>;

/** `GET /v3/sessions` query. */
export const SessionListQuery = z.object({
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type SessionListQuery = z.infer<typeof SessionListQuery>;

/** `GET /v3/sessions/:id/events` query. */
export const EventsQuery = z.object({
  afterSeq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1_000_000).optional(),
});
export type EventsQuery = z.infer<typeof EventsQuery>;

/** `GET /v3/sessions/:id/export` query. */
export const ExportQuery = z.object({ format: z.enum(["json", "md"]).default("json") });
export type ExportQuery = z.infer<typeof ExportQuery>;

/** `GET /v3/sessions/:id/export?format=json` response. */
export const SessionExport = z.object({
  session: SessionInfo,
  events: z.array(SessionEvent),
  exportedAt: z.string(),
});
export type SessionExport = z.infer<typeof SessionExport>;

/** A model one provider offers. */
export const ModelInfo = z.object({
  /** Model id as the provider names it. */
  id: z.string(),
  /** Provider that serves it. */
  provider: z.string(),
  /** `provider/id`, unambiguous across providers. */
  ref: z.string(),
  /** Whether the server has it in memory now (reported by Opta LMX). */
  loaded: z.boolean().optional(),
  /** Tokens per sequence of the loaded model (reported by Opta LMX). */
  contextLength: z.number().int().optional(),
  /** Memory the loaded model takes, bytes (reported by Opta LMX). */
  memoryBytes: z.number().int().nonnegative().optional(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

/** `GET /v3/models` response. */
export const ModelsResponse = z.object({
  models: z.array(ModelInfo),
  providers: z.array(ProviderHealth),
  defaultModel: z.string().optional(),
});
export type ModelsResponse = z.infer<typeof ModelsResponse>;

/** Contents of `$OPTA_HOME/daemon/state.json`. */
export const DaemonState = z.object({
  pid: z.number().int(),
  port: z.number().int(),
  host: z.string(),
  startedAt: z.string(),
  version: z.string(),
});
export type DaemonState = z.infer<typeof DaemonState>;

/** `POST /v3/auth/codes` response: a single-use code that `POST /v3/auth/exchange` trades for the token. */
export const AuthCodeResponse = z.object({ code: z.string(), expiresAt: z.string() });
export type AuthCodeResponse = z.infer<typeof AuthCodeResponse>;

/** `POST /v3/auth/exchange` body (no bearer token: the code is the credential). */
export const AuthExchangeRequest = z
  .object({
    code: z.string().min(16).max(200),
    /** The key of the grant this browser holds already: that grant is replaced, not kept beside the new one. */
    grantKey: z.string().min(16).max(200).optional(),
  })
  .strict();
export type AuthExchangeRequest = z.infer<typeof AuthExchangeRequest>;

/** `POST /v3/auth/exchange` response. */
export const AuthExchangeResponse = z.object({
  token: z.string(),
  /**
   * Present when the exchange came from the daemon's own origin (Code Desktop): the client grant's
   * second half, to keep in the page's storage. Its first half is the HttpOnly cookie set with it.
   */
  grantKey: z.string().optional(),
});
export type AuthExchangeResponse = z.infer<typeof AuthExchangeResponse>;

/** `PATCH /v3/sessions/:id` body: rename and/or pin (each recorded as an event). */
export const UpdateSessionRequest = z
  .object({
    /** New title; an empty string is refused. */
    title: z.string().trim().min(1, "title must not be empty").max(200).optional(),
    pinned: z.boolean().optional(),
  })
  .strict();
export type UpdateSessionRequest = z.infer<typeof UpdateSessionRequest>;

/** `DELETE /v3/sessions/:id` query: `purge=1` destroys the file instead of archiving it. */
export const DeleteSessionQuery = z.object({
  purge: z
    .enum(["0", "1", "true", "false"])
    .optional()
    .transform((value) => value === "1" || value === "true"),
});
export type DeleteSessionQuery = z.infer<typeof DeleteSessionQuery>;

/** One session a delete or prune removed (or, on a dry run, would remove). */
export const RemovedSession = z.object({
  id: z.string(),
  title: z.string(),
  cwd: z.string(),
  updatedAt: z.string(),
  /** Where its gzipped JSONL went (`$OPTA_HOME/sessions/archive/<id>.jsonl.gz`); absent when purged or on a dry run. */
  archivedTo: z.string().optional(),
});
export type RemovedSession = z.infer<typeof RemovedSession>;

/** `DELETE /v3/sessions/:id` response. */
export const DeleteSessionResponse = z.object({ deleted: RemovedSession, purged: z.boolean() });
export type DeleteSessionResponse = z.infer<typeof DeleteSessionResponse>;

/** `POST /v3/sessions/prune` body. */
export const PruneSessionsRequest = z
  .object({
    /** Sessions not updated for this long are pruned (default 30 days). */
    olderThanMs: z
      .number()
      .int()
      .min(0)
      .max(100 * 365 * 86_400_000)
      .default(30 * 86_400_000),
    /** List what would be pruned; change nothing. */
    dryRun: z.boolean().default(false),
    /** Destroy instead of archiving. */
    purge: z.boolean().default(false),
  })
  .strict();
export type PruneSessionsRequest = z.input<typeof PruneSessionsRequest>;

/** `POST /v3/sessions/prune` response: sessions with a running turn and pinned ones are never pruned. */
export const PruneSessionsResponse = z.object({
  sessions: z.array(RemovedSession),
  dryRun: z.boolean(),
  purged: z.boolean(),
  /** Old enough, but kept: ids of sessions running a turn or pinned. */
  kept: z.array(z.object({ id: z.string(), reason: z.enum(["running", "pinned"]) })),
});
export type PruneSessionsResponse = z.infer<typeof PruneSessionsResponse>;

/** `POST /v3/auth/grant/token` body: the grant's key; the grant cookie rides along. No bearer token. */
export const GrantTokenRequest = z.object({ grantKey: z.string().min(16).max(200) }).strict();
export type GrantTokenRequest = z.infer<typeof GrantTokenRequest>;

/** `POST /v3/auth/grant/token` response: the daemon's current token. */
export const GrantTokenResponse = z.object({ token: z.string() });
export type GrantTokenResponse = z.infer<typeof GrantTokenResponse>;

/** One signed-in app (a client grant), as `GET /v3/auth/grants` lists it; never its secret. */
export const ClientGrantInfo = z.object({
  /** `g-…`; what `opta app revoke ID` takes. */
  id: z.string(),
  createdAt: z.string(),
  /** Last time the grant was traded for a token (or created). */
  lastUsedAt: z.string(),
  /** The browser's User-Agent when it signed in (shortened). */
  userAgent: z.string(),
});
export type ClientGrantInfo = z.infer<typeof ClientGrantInfo>;

/** `GET /v3/auth/grants` response, oldest first. */
export const ClientGrantsResponse = z.object({ grants: z.array(ClientGrantInfo) });
export type ClientGrantsResponse = z.infer<typeof ClientGrantsResponse>;

/** `POST /v3/auth/grants/revoke` body: one grant by id, or all of them. */
export const RevokeGrantsRequest = z.union([
  z.object({ id: z.string().min(1).max(80) }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);
export type RevokeGrantsRequest = z.infer<typeof RevokeGrantsRequest>;

/** `POST /v3/auth/grants/revoke` response: the ids revoked; when any, the token rotated too. */
export const RevokeGrantsResponse = z.object({ revoked: z.array(z.string()), tokenRotated: z.boolean() });
export type RevokeGrantsResponse = z.infer<typeof RevokeGrantsResponse>;

/** A turn named by its number in the conversation (1 = first turn not rewound) or by its id (`t-…`). */
export const TurnRef = z.union([z.number().int().positive(), z.string().min(1).max(80)]);
export type TurnRef = z.infer<typeof TurnRef>;

/** `POST /v3/sessions/:id/rewind` body. */
export const RewindRequest = z
  .object({
    /** Rewind to just before this turn: it and every later turn are undone. */
    toTurn: TurnRef,
    /** files: put the workspace back; conversation: drop the turns from the model's history; both (default). */
    scope: RewindScope.default("both"),
    /** Overwrite files that were changed outside the agent since it last wrote them (refused with 409 otherwise). */
    force: z.boolean().default(false),
  })
  .strict();
export type RewindRequest = z.input<typeof RewindRequest>;

/** One file a rewind refused to overwrite: it changed outside the agent after the agent last wrote it. */
export const RewindConflict = z.object({
  path: z.string(),
  /** What the agent left there (null: it had removed it or never created it). */
  expected: z.string().nullable(),
  /** What is there now (null: nothing). */
  actual: z.string().nullable(),
  /** Why it was not rewound, in words. */
  reason: z.string(),
});
export type RewindConflict = z.infer<typeof RewindConflict>;

/** `POST /v3/sessions/:id/rewind` response (409 REWIND_CONFLICT carries `{ conflicts: RewindConflict[] }` as details). */
export const RewindResponse = z.object({
  sessionId: z.string(),
  toTurnId: z.string(),
  scope: RewindScope,
  /** Turns taken out of the conversation. */
  turnIds: z.array(z.string()),
  files: z.array(RewoundFile),
  /** Seq of the `session.rewound` event. */
  seq: z.number().int().positive(),
});
export type RewindResponse = z.infer<typeof RewindResponse>;

/** `POST /v3/sessions/:id/fork` body. */
export const ForkRequest = z
  .object({
    /** Copy history up to and including this turn (default: every finished turn). */
    atTurn: TurnRef.optional(),
    /** Title of the new session (default: the source's title plus " (fork)"). */
    title: z.string().trim().min(1).max(200).optional(),
  })
  .strict();
export type ForkRequest = z.input<typeof ForkRequest>;
