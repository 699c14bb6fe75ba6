import { lstat, readlink, realpath } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ToolError } from "./errors.js";
import type { ToolContext } from "./types.js";

const MAX_LINK_HOPS = 40;

/**
 * The real path of `path`, also when it does not exist yet: a missing tail is resolved through its
 * nearest existing parent, and a dangling symlink through its target, so that a write can never
 * land somewhere other than the path that was checked.
 */
async function realpathLoose(path: string, hops = 0): Promise<string> {
  if (hops > MAX_LINK_HOPS) throw new ToolError("TOOL_FAILED", `too many symbolic links in "${path}"`);
  try {
    return await realpath(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
  }
  const stat = await lstat(path).catch(() => undefined);
  if (stat?.isSymbolicLink()) {
    const target = await readlink(path);
    return realpathLoose(resolve(dirname(path), target), hops + 1);
  }
  const parent = dirname(path);
  if (parent === path) return path;
  return join(await realpathLoose(parent, hops), basename(path));
}

function isWithin(child: string, root: string): boolean {
  return child === root || child.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Real paths of the workspace roots: the cwd first, then every existing extra root. */
export async function workspaceRoots(ctx: Pick<ToolContext, "cwd" | "extraRoots">): Promise<string[]> {
  const roots = [await realpath(ctx.cwd).catch(() => resolve(ctx.cwd))];
  for (const extra of ctx.extraRoots ?? []) {
    const real = await realpath(resolve(ctx.cwd, extra)).catch(() => undefined);
    if (real) roots.push(real);
  }
  return roots;
}

/**
 * Resolves `path` against the session's working directory, following symlinks (also of parents
 * and of files that do not exist yet), and returns the real absolute path. Throws a ToolError
 * PATH_OUTSIDE_WORKSPACE when the real path is outside the cwd and every granted extra root.
 */
export async function resolveInWorkspace(path: string, ctx: Pick<ToolContext, "cwd" | "extraRoots">): Promise<string> {
  if (path.includes("\0")) throw new ToolError("INVALID_ARGS", "path contains a NUL byte");
  const expanded = path === "~" ? homedir() : path.startsWith("~/") ? join(homedir(), path.slice(2)) : path;
  const absolute = isAbsolute(expanded) ? resolve(expanded) : resolve(ctx.cwd, expanded);
  const real = await realpathLoose(absolute);
  const roots = await workspaceRoots(ctx);
  if (roots.some((root) => isWithin(real, root))) return real;
  const shown = real === absolute ? real : `${absolute} (really ${real})`;
  throw new ToolError(
    "PATH_OUTSIDE_WORKSPACE",
    `"${path}" resolves to ${shown}, outside the workspace ${roots[0]}` +
      (roots.length > 1 ? ` and the granted roots ${roots.slice(1).join(", ")}` : "") +
      "; use a path inside the workspace",
  );
}

/** How a resolved path is shown to the model: relative to the workspace when inside it, else absolute. */
export function displayPath(real: string, roots: readonly string[]): string {
  const root = roots[0];
  if (root !== undefined && isWithin(real, root)) return relative(root, real) || ".";
  return real;
}
