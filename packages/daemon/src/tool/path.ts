import { constants } from "node:fs";
import { type FileHandle, lstat, open, readlink, realpath } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ToolError, toToolError } from "./errors.js";
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

/** Replaces the whole content of an open file. */
export async function replaceContent(handle: FileHandle, content: string): Promise<void> {
  await handle.truncate(0);
  const bytes = Buffer.from(content, "utf8");
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, written);
    written += bytesWritten;
  }
}
