import { realpath } from "node:fs/promises";
import { tmpdir } from "node:os";
import type { SandboxLevel } from "@opta/protocol";
import { bwrapArguments } from "./bwrap.js";
import type { SandboxSupport } from "./detect.js";
import type { SandboxPlan } from "./plan.js";
import { seatbeltArguments, seatbeltProfile } from "./seatbelt.js";

export { BWRAP_PROBE_ARGS, bwrapArguments } from "./bwrap.js";
export { type DetectOptions, detectSandbox, resetSandboxDetection, type SandboxSupport } from "./detect.js";
export { type CommandGate, gateCommand } from "./gate.js";
export { type ContainedLevel, planSandbox, type SandboxPlan, SandboxPlanError } from "./plan.js";
export { type SeatbeltProfile, seatbeltArguments, seatbeltProfile } from "./seatbelt.js";

/** The level a command runs at when neither the turn nor a policy names one. */
export const DEFAULT_SANDBOX_LEVEL: SandboxLevel = "workspace-write";

/** What each level means, in the words the model and the user read next to a command's result. */
export const SANDBOX_LEVEL_SUMMARY: Readonly<Record<SandboxLevel, string>> = {
  "workspace-write":
    "writes outside the workspace and its granted roots fail (read-only file system), .opta/ is read-only, /tmp is private, no network",
  "read-only": "nothing is writable except a private /tmp, no network",
  network:
    "writes outside the workspace and its granted roots fail, .opta/ is read-only, /tmp is private, network allowed",
  off: "not sandboxed (sandbox: off)",
};

/** The program and arguments that run `/bin/sh -c command` inside the sandbox. */
export interface WrappedCommand {
  file: string;
  args: string[];
  /** The environment of the sandbox program itself: already the command's (it is what /proc/1/environ shows inside). */
  env: NodeJS.ProcessEnv;
}

/**
 * Wraps a shell command in the machine's sandbox. `env` must already be the command's clean
 * environment (commandEnvironment): it is given to bwrap itself, never `--setenv` on top of the
 * daemon's, because the sandbox's PID 1 is a fork of bwrap and its /proc/1/environ shows what bwrap got.
 */
export async function wrapCommand(
  command: string,
  plan: SandboxPlan,
  support: Extract<SandboxSupport, { available: true }>,
  env: NodeJS.ProcessEnv,
): Promise<WrappedCommand> {
  if (support.kind === "bwrap") {
    // The host's TMPDIR may be a directory the sandbox cannot write; its own /tmp always is.
    return {
      file: support.path,
      args: [...bwrapArguments(plan), "/bin/sh", "-c", command],
      env: { ...env, TMPDIR: "/tmp" },
    };
  }
  const temps = new Set<string>();
  for (const directory of ["/tmp", env.TMPDIR ?? tmpdir()]) {
    const real = await realpath(directory).catch(() => undefined);
    if (real) temps.add(real);
  }
  const profile = seatbeltProfile(plan, [...temps]);
  return { file: support.path, args: [...seatbeltArguments(profile), "/bin/sh", "-c", command], env };
}
