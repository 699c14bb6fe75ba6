import type { SandboxLevel } from "@opta/protocol";
import type { GateResult } from "../permission/index.js";
import { detectSandbox, type SandboxSupport } from "./detect.js";

/** A command's gate result once the sandbox is taken into account. */
export interface CommandGate {
  gate: GateResult;
  /** Where it would run: its sandbox level, or `unavailable` (no sandbox works here: unsandboxed). */
  sandbox: SandboxLevel | "unavailable";
  /** Set when the command would run unsandboxed although the level asked for a sandbox: why, and what to do. */
  unsandboxed?: { reason: string; fix: string };
}

/**
 * What the sandbox changes about the gate's answer for a command. A policy's allow assumes the
 * command is contained; where no sandbox works (and the user did not choose `sandbox: off`) an
 * allow becomes an ask, and every request says "runs unsandboxed". Deny stays deny.
 */
export async function gateCommand(
  gate: GateResult,
  level: SandboxLevel,
  detect: () => Promise<SandboxSupport> = () => detectSandbox(),
): Promise<CommandGate> {
  if (level === "off") {
    const reason = gate.decision === "ask" ? `${gate.reason}; runs unsandboxed (sandbox: off)` : gate.reason;
    return { gate: { ...gate, reason }, sandbox: "off" };
  }
  const support = await detect();
  if (support.available) return { gate, sandbox: level };
  const note = `runs unsandboxed: ${support.reason}; ${support.fix}, or choose sandbox: off to run commands unsandboxed without asking`;
  const unsandboxed = { reason: support.reason, fix: support.fix };
  if (gate.decision === "deny") return { gate, sandbox: "unavailable", unsandboxed };
  const reason = gate.decision === "allow" ? `${gate.reason}, but it ${note}` : `${gate.reason}; ${note}`;
  return { gate: { ...gate, decision: "ask", reason }, sandbox: "unavailable", unsandboxed };
}
