import { lstat, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { SandboxLevel } from "@opta/protocol";

/** The levels that contain a command (everything but `off`). */
export type ContainedLevel = Exclude<SandboxLevel, "off">;

/** What one sandboxed command may see and touch; every path is a real (symlink-free) absolute path. */
export interface SandboxPlan {
  level: ContainedLevel;
  /** Where the command starts. */
  cwd: string;
  /** The workspace and the granted roots: writable, except under `read-only`. */
  roots: string[];
  /** Whether the roots are writable (false under `read-only`). */
  writable: boolean;
  /** Existing policy directories (`.opta`) inside a writable root: mounted read-only on top. */
  protect: string[];
  /** Missing policy directories inside a writable root: an empty read-only mount, so they cannot be created. */
  block: string[];
  /** Directories whose content must not be readable at all (the Opta home: token, vault, sessions). */
  hide: string[];
  /** Whether the command shares the host's network (only the `network` level). */
  network: boolean;
}

/** Why a command cannot be contained as asked; run_command turns it into a ToolError. */
export class SandboxPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SandboxPlanError";
  }
}

function isWithin(child: string, root: string): boolean {
  const inside = relative(root, child);
  return inside === "" || (inside !== ".." && !inside.startsWith(`..${sep}`) && !isAbsolute(inside));
}

/** The real path of `path`, or of its nearest existing parent joined with the rest. */
async function realpathOrParent(path: string): Promise<string> {
  const real = await realpath(path).catch(() => undefined);
  if (real !== undefined) return real;
  const parent = dirname(path);
  if (parent === path) return path;
  return join(await realpathOrParent(parent), relative(parent, path));
}

/**
 * Works out what a command under `level` may touch. `cwd` is where the command starts; `roots`
 * are the real workspace roots, the session cwd first; `home` is the Opta home. The policy
 * directories that decide what the agent may do — `.opta` in every writable root and in each
 * parent of the session cwd inside one — are read-only (or cannot be created), so a command
 * cannot grant the agent more; the Opta home is hidden.
 */
export async function planSandbox(options: {
  level: ContainedLevel;
  cwd: string;
  roots: readonly string[];
  home: string;
}): Promise<SandboxPlan> {
  const roots = [...new Set(options.roots)];
  const writable = options.level !== "read-only";
  const plan: SandboxPlan = {
    level: options.level,
    cwd: options.cwd,
    roots,
    writable,
    protect: [],
    block: [],
    hide: [],
    network: options.level === "network",
  };
  const insideWritable = (path: string) => writable && roots.some((root) => isWithin(path, root));

  if (writable) {
    // The session's project policy is the nearest .opta above the session cwd (roots[0]); the
    // command's own cwd does not matter to it, so no .opta is made in every subdirectory it runs in.
    const candidates = new Set(roots.map((root) => join(root, ".opta")));
    for (let directory = roots[0] ?? options.cwd; ; directory = dirname(directory)) {
      if (insideWritable(directory)) candidates.add(join(directory, ".opta"));
      if (dirname(directory) === directory) break;
    }
    for (const candidate of candidates) {
      const info = await lstat(candidate).catch(() => undefined);
      if (info?.isSymbolicLink()) {
        // A mount lands on the link's target, and the command could swap the link itself for a directory.
        throw new SandboxPlanError(
          `${candidate} is a symbolic link; the sandbox cannot keep a policy directory read-only through a link. Replace it with a real directory (or run with sandbox: off)`,
        );
      }
      if (info) plan.protect.push(candidate);
      else plan.block.push(candidate);
    }
  }

  const home = await realpathOrParent(resolve(options.home));
  const homeExists = await lstat(home).then(
    () => true,
    () => false,
  );
  if (homeExists) plan.hide.push(home);
  else if (insideWritable(home)) plan.block.push(home);
  return plan;
}
