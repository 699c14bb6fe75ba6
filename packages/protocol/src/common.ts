import { z } from "zod";

/** How a turn is orchestrated: Chat waits for approval on tool calls, Do runs an agent loop. */
export const Mode = z.enum(["chat", "do"]);
export type Mode = z.infer<typeof Mode>;

/** Permission level for a turn: safe = contract defaults, standard = every non-read asks, unrestricted = no prompts. */
export const PermissionLevel = z.enum(["safe", "standard", "unrestricted"]);
export type PermissionLevel = z.infer<typeof PermissionLevel>;

/**
 * How `run_command` is contained: workspace-write (default) = read-only file system except the
 * workspace, the granted roots and a private /tmp, no network; read-only = nothing writable but a
 * private /tmp; network = workspace-write plus the network; off = no sandbox (the user's explicit choice).
 */
export const SandboxLevel = z.enum(["workspace-write", "read-only", "network", "off"]);
export type SandboxLevel = z.infer<typeof SandboxLevel>;

/** A user's answer to a permission request. */
export const PermissionDecision = z.enum(["allow", "deny", "always"]);
export type PermissionDecision = z.infer<typeof PermissionDecision>;

/** How risky a tool call is, shown next to an approval prompt. */
export const Risk = z.enum(["read", "write", "execute", "network"]);
export type Risk = z.infer<typeof Risk>;

/**
 * Lifecycle state of a session as the rail shows it. `paused`: a Do turn stopped between steps by
 * `POST /pause`; `POST /resume` continues it, `POST /stop` cancels it.
 */
export const SessionStatus = z.enum(["idle", "active", "paused", "done", "error", "cancelled", "interrupted"]);
export type SessionStatus = z.infer<typeof SessionStatus>;

/** Why a turn ended. */
export const StopReason = z.enum(["stop", "length", "max_steps", "tool_calls", "cancelled", "error"]);
export type StopReason = z.infer<typeof StopReason>;

/** Severity of a daemon log line. */
export const LogLevel = z.enum(["debug", "info", "warn", "error"]);
export type LogLevel = z.infer<typeof LogLevel>;

/** Prefixed, time-sortable id: `<prefix>-<base36 time><random>`; id order is creation order. */
export const Id = z.string().min(3).max(128);
