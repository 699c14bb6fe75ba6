import type { DaemonEvent, DoctorReport, OptaConfig, PermissionDecision, SystemPromptResponse } from "@opta/protocol";
import type { Express } from "express";
import type { TurnManager } from "../agent/turn-manager.js";
import type { CheckpointBlobs } from "../checkpoint/blobs.js";
import type { Logger } from "../log/logger.js";
import type { McpManager } from "../mcp/manager.js";
import type { ProviderRegistry } from "../provider/registry.js";
import type { GlobalFeed } from "../session/global-feed.js";
import type { SessionStore } from "../session/store.js";
import type { AuthCodes } from "./auth-codes.js";
import type { ClientGrants } from "./client-grants.js";

/** What the HTTP and WebSocket layers need from the daemon; they hold no state of their own. */
export interface DaemonContext {
  version: string;
  /** Dev mode (`--dev`, `OPTA_DEV=1`): the Vite dev server's origin also gets CORS and WebSockets. */
  dev: boolean;
  store: SessionStore;
  turns: TurnManager;
  /** The Opta home (policies a rewind's writes obey, files it never writes). */
  home: string;
  /** Checkpoint copies of the files the agent changed (rewind, fork). */
  checkpoints: CheckpointBlobs;
  providers: ProviderRegistry;
  logger: Logger;
  feed: GlobalFeed;
  port(): number;
  token(): string;
  startedAt(): string;
  stopping(): boolean;
  config(): OptaConfig;
  requestStop(reason: string): void;
  /** Rotates the token at once (returned) and closes WebSockets right after. */
  requestRestart(): string;
  /** Rotates the token and closes WebSockets (a revoked client grant); sessions carry on. */
  rotateToken(reason: string): string;
  publishDaemonEvent(event: DaemonEvent): void;
  /** Resolves a pending permission request; false when there is none with that id. */
  resolvePermission(sessionId: string, requestId: string, decision: PermissionDecision, by: string): boolean;
  /** Summarises a session's history (`session.compacted`); undefined when there is nothing to compact. */
  compact(sessionId: string, signal: AbortSignal): Promise<string | undefined>;
  /** The system prompt the session's next turn sends (rebuilt now); undefined for an unknown session. */
  systemPrompt(sessionId: string): Promise<SystemPromptResponse | undefined>;
  /** MCP servers: status for `opta mcp list`, one-off connections for `opta mcp test`. */
  mcp: McpManager;
  /** Runs `opta doctor`'s checks as the daemon sees them (`GET /v3/doctor`). */
  doctor(options: { cwd: string; policyOnly: boolean }): Promise<DoctorReport>;
  /** Single-use sign-in codes for `opta app` URLs. */
  authCodes: AuthCodes;
  /** Client grants: signed-in Code Desktop windows that may trade for the current token. */
  grants: ClientGrants;
  /** Mounts Code Desktop's static files, when they are built. */
  mountStatic?: (app: Express) => void;
}
