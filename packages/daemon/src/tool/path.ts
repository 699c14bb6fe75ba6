import { constants } from "node:fs";
import { type FileHandle, lstat, open, readlink, realpath } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, parse, relative, resolve, sep } from "node:path";
import { resolveOptaHome } from "@opta/local";
import { ToolError, toToolError } from "./errors.js";
import type { ToolContext } from "./types.js";

const MAX_LINK_HOPS = 40;

/** Longest path argument accepted, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Most components (names between separators) a path argument may have. */
export const MAX_PATH_COMPONENTS = 256;

/**
 * Refuses a path argument that is too long before any work is done on it, so that no input can
 * make resolution expensive: over MAX_PATH_BYTES bytes or MAX_PATH_COMPONENTS components is
 * PATH_TOO_LONG. The message does not repeat the path (it may be 100 KB).
 */
export function checkPathArgument(path: string): void {
  if (path.includes("\0")) throw new ToolError("INVALID_ARGS", "path contains a NUL byte");
  const bytes = Buffer.byteLength(path, "utf8");
  if (bytes > MAX_PATH_BYTES) {
    throw new ToolError(
      "PATH_TOO_LONG",
      `the path is ${bytes} bytes long; paths may have at most ${MAX_PATH_BYTES} bytes, use a shorter path`,
    );
  }
  let components = 0;
  let inName = false;
  for (let index = 0; index < path.length; index++) {
    const char = path.charCodeAt(index);
    const separator = char === 47 /* / */ || (sep === "\\" && char === 92); /* \ */
    if (separator) inName = false;
    else if (!inName) {
      inName = true;
      components++;
    }
  }
  if (components > MAX_PATH_COMPONENTS) {
    throw new ToolError(
      "PATH_TOO_LONG",
      `the path has ${components} components; paths may have at most ${MAX_PATH_COMPONENTS}, use a shorter path`,
    );
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * The real path of the absolute, normalised `path`, also when it does not exist yet: a missing
 * tail is kept as written below the real path of its nearest existing parent, and a dangling
 * symlink is resolved through its target, so that a write can never land somewhere other than the
 * path that was checked. One lstat per component (plus the components of each link target, at
 * most MAX_LINK_HOPS links), never a resolution per prefix: the work is linear in the path's length.
 */
async function realpathLoose(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const root = parse(path).root;
  // Components still to walk, last first, so that a link's target is spliced in with one push.
  const pending = path.slice(root.length).split(sep).filter(Boolean).reverse();
  let current = root;
  let hops = 0;
  let missing = false; // once a component does not exist, the rest cannot be links
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (name === ".") continue;
    if (name === "..") {
      // `current` has no symlinks in it, so its parent is its lexical parent.
      current = dirname(current);
      continue;
    }
    const next = current.endsWith(sep) ? current + name : current + sep + name;
    if (missing) {
      current = next;
      continue;
    }
    const info = await lstat(next).catch((error) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (info?.isSymbolicLink()) {
      if (++hops > MAX_LINK_HOPS) throw new ToolError("TOOL_FAILED", `too many symbolic links in "${path}"`);
      const target = await readlink(next).catch((error) => {
        // lstat saw a link that is gone or no longer a link: something is changing the path right now.
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "EINVAL" && code !== "ENOENT") throw error;
        throw new ToolError("FILE_CHANGED", `${next} changed while the path was being resolved; try again`);
      });
      if (isAbsolute(target)) current = parse(target).root;
      const parts = target.slice(isAbsolute(target) ? parse(target).root.length : 0).split(sep);
      for (let index = parts.length - 1; index >= 0; index--) if (parts[index]) pending.push(parts[index] as string);
      continue;
    }
    if (!info) missing = true;
    current = next;
  }
  return current;
}

/** Whether `child` is `root` or below it (by whole components). */
export function isWithin(child: string, root: string): boolean {
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
  checkPathArgument(path);
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

/** The Opta homes whose content the file tools never change: the daemon's and `$OPTA_HOME` of this process. */
function optaHomes(ctx: Pick<ToolContext, "home">): string[] {
  const homes = new Set([resolve(resolveOptaHome())]);
  if (ctx.home) homes.add(resolve(ctx.home));
  return [...homes];
}

/**
 * Why the file tools may not create or change the real path `real`, or undefined when they may.
 * Policy files are the user's: a model allowed to write files must not be able to write itself a
 * policy (`.opta/policy.yaml` with `allow: [run_command]`), hooks, MCP config, or anything in the
 * Opta home (user policies, config, token, vault). Any `.opta` component counts, at any depth and
 * in any letter case (macOS and Windows file systems ignore case), because policies are looked up
 * in parent directories too.
 */
export async function protectedReason(real: string, ctx: Pick<ToolContext, "home">): Promise<string | undefined> {
  if (real.split(sep).some((part) => part.toLowerCase() === ".opta")) {
    return "it is in a .opta directory (project policy, hooks, MCP configuration)";
  }
  for (const home of optaHomes(ctx)) {
    const realHome = await realpathLoose(home);
    if (isWithin(real, realHome)) return `it is in the Opta home ${realHome} (policies, config, token, vault)`;
  }
  return undefined;
}

/** Throws PROTECTED_PATH when `protectedReason` names a reason. */
export async function assertNotProtected(real: string, ctx: Pick<ToolContext, "home">, shownAs: string): Promise<void> {
  const reason = await protectedReason(real, ctx);
  if (reason === undefined) return;
  throw new ToolError(
    "PROTECTED_PATH",
    `"${shownAs}" cannot be written by write_file or edit_file: ${reason}. These files belong to the user, ` +
      "who changes them with an editor (or `opta config` for config.yaml); ask the user to make this change",
  );
}

/** How a resolved path is shown to the model: relative to the workspace when inside it, else absolute. */
export function displayPath(real: string, roots: readonly string[]): string {
  const root = roots[0];
  if (root !== undefined && isWithin(real, root)) return relative(root, real) || ".";
  return real;
}

/** How `openInWorkspace` opens a file. */
export type OpenMode = "read" | "write" | "create";

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0; // a FIFO planted in the workspace must not hang the call
const FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY | NOFOLLOW | NONBLOCK,
  write: constants.O_WRONLY | NOFOLLOW | NONBLOCK,
  create: constants.O_WRONLY | constants.O_CREAT | NOFOLLOW | NONBLOCK,
};

/**
 * Opens a path that `resolveInWorkspace` returned, without trusting that nothing changed since:
 * the parent directory is resolved again (realpath) and must still be inside the workspace, the
 * final component is opened with O_NOFOLLOW (a symlink swapped in after the check is refused, not
 * followed), and the opened file must be a regular file that is still the one at that path. Never
 * truncates: callers truncate through the handle once it is known to be the right file.
 */
export async function openInWorkspace(
  real: string,
  ctx: Pick<ToolContext, "cwd" | "extraRoots">,
  mode: OpenMode,
  shownAs: string = real,
): Promise<FileHandle> {
  const roots = await workspaceRoots(ctx);
  const moved = (why: string) =>
    new ToolError("PATH_OUTSIDE_WORKSPACE", `"${shownAs}" ${why} after it was checked; refusing to follow it`);
  const parent = await realpath(dirname(real)).catch((error) => {
    throw toToolError(error, shownAs);
  });
  if (!roots.some((root) => isWithin(parent, root))) throw moved(`now resolves to ${parent}, outside the workspace,`);
  const target = join(parent, basename(real));
  let handle: FileHandle;
  try {
    handle = await open(target, FLAGS[mode], 0o666);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // O_NOFOLLOW on a symlink fails with ELOOP (Linux, macOS) or EMLINK (FreeBSD).
    if (code === "ELOOP" || code === "EMLINK") throw moved("became a symbolic link");
    if (code === "ENXIO") throw new ToolError("NOT_A_FILE", `"${shownAs}" is not a regular file`);
    throw toToolError(error, shownAs);
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw new ToolError("NOT_A_FILE", `"${shownAs}" is not a regular file`);
    // The parent may have been swapped between realpath and open: the file must still be the one at the checked place.
    const [parentNow, there] = await Promise.all([
      realpath(dirname(real)).catch(() => undefined),
      lstat(target).catch(() => undefined),
    ]);
    if (parentNow !== parent || !there || there.ino !== opened.ino || there.dev !== opened.dev) {
      throw moved("changed");
    }
    return handle;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
