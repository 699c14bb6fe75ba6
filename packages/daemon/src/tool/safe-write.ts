import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readlink, realpath, rename, unlink } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { ToolError, toToolError } from "./errors.js";
import { assertNotProtected, isWithin, workspaceRoots } from "./path.js";
import type { ToolContext } from "./types.js";

const DIRECTORY = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0);
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW;

/** How `writeFileAtomically` writes one file. */
export interface SafeWriteOptions {
  /** The path as the model wrote it, for error messages. */
  shownAs: string;
  /** Create missing parent directories (write_file) instead of failing with NOT_FOUND (edit_file). */
  createParents: boolean;
  /** The file must still be this one, from before until the rename (edit_file: the file it read). */
  expect?: { dev: number; ino: number };
  /** Permission bits for a file that did not exist (a rewind re-creating one); an existing file keeps its own. */
  mode?: number;
}

/**
 * A directory held open while a file is written into it. On Linux every name inside it is reached
 * through `/proc/self/fd/N/name`: the kernel resolves that magic link to the directory that was
 * opened, not by walking its path again, so a parent swapped for a symlink afterwards cannot
 * redirect a mkdir, the temp file or the rename (the openat(2) walk that Node does not expose).
 * Elsewhere names are reached by path, and every step is re-checked instead.
 */
interface HeldDirectory {
  handle: FileHandle;
  /** The real path it had when opened. */
  path: string;
  /** A path that names `name` inside this directory. */
  child(name: string): string;
  /** Where the directory is now (it may have been moved or removed since it was opened). */
  where(): Promise<string | undefined>;
}

function hold(handle: FileHandle, path: string, viaProc: boolean): HeldDirectory {
  const self = `/proc/self/fd/${handle.fd}`;
  return {
    handle,
    path,
    child: (name) => (viaProc ? `${self}/${name}` : join(path, name)),
    // A removed directory reads as "/x (deleted)" through /proc: that is nowhere.
    where: () =>
      (viaProc ? readlink(self) : realpath(path)).then(
        (now) => (now.endsWith(" (deleted)") ? undefined : now),
        () => undefined,
      ),
  };
}

function moved(shownAs: string, why: string): ToolError {
  return new ToolError("PATH_OUTSIDE_WORKSPACE", `"${shownAs}" ${why} after it was checked; refusing to follow it`);
}

/** Opens the directory `name` inside `parent` without following a symlink there; undefined when missing. */
async function openChild(parent: HeldDirectory, name: string, shownAs: string): Promise<FileHandle | undefined> {
  const path = parent.child(name);
  try {
    return await open(path, DIRECTORY | NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP" || code === "EMLINK" || code === "ENOTDIR") {
      const info = await lstat(path).catch(() => undefined);
      const where = join(parent.path, name);
      if (info?.isSymbolicLink()) throw moved(shownAs, `has a directory (${where}) that became a symbolic link`);
      if (info && !info.isDirectory()) {
        throw new ToolError("NOT_A_DIRECTORY", `a component of "${shownAs}" (${where}) is not a directory`);
      }
      throw moved(shownAs, `has a directory (${where}) that changed`); // a link a moment ago, not now
    }
    throw toToolError(error, shownAs);
  }
}

/**
 * Opens the real directory `root/components…` one component at a time, never following a
 * symlink (the path was resolved already, so a symlink on it now is a swap) and creating missing
 * components when asked. Without /proc, each step also checks that the directory it opened is
 * the one at the expected real path.
 */
async function openDirectory(
  root: string,
  components: readonly string[],
  options: SafeWriteOptions,
): Promise<HeldDirectory> {
  const rootHandle = await open(root, DIRECTORY).catch((error) => {
    throw toToolError(error, options.shownAs);
  });
  const viaProc =
    process.platform === "linux" && (await readlink(`/proc/self/fd/${rootHandle.fd}`).catch(() => "")) === root;
  let current = hold(rootHandle, root, viaProc);
  try {
    for (const name of components) {
      let handle = await openChild(current, name, options.shownAs);
      if (!handle) {
        if (!options.createParents) throw new ToolError("NOT_FOUND", `"${options.shownAs}" does not exist`);
        // Without /proc the mkdir goes by path: narrow the window in which a swapped parent could redirect it.
        if (!viaProc) await checkPathFallback(current, options.shownAs);
        await mkdir(current.child(name)).catch((error) => {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "EEXIST") return; // made by someone else meanwhile: opened (without following) below
          if (code === "ENOENT") throw moved(options.shownAs, `has a directory (${current.path}) that was removed`);
          throw toToolError(error, options.shownAs);
        });
        handle = await openChild(current, name, options.shownAs);
        if (!handle) throw moved(options.shownAs, `has a directory (${join(current.path, name)}) that vanished`);
      }
      const next = hold(handle, join(current.path, name), viaProc);
      await current.handle.close().catch(() => undefined);
      current = next;
      if (!viaProc) await checkPathFallback(current, options.shownAs);
    }
    return current;
  } catch (error) {
    await current.handle.close().catch(() => undefined);
    throw error;
  }
}

/** Without /proc: the opened directory must be the real directory at its path (no parent swapped). */
async function checkPathFallback(directory: HeldDirectory, shownAs: string): Promise<void> {
  const [opened, there, real] = await Promise.all([
    directory.handle.stat(),
    lstat(directory.path).catch(() => undefined),
    realpath(directory.path).catch(() => undefined),
  ]);
  if (real !== directory.path || !there || there.ino !== opened.ino || there.dev !== opened.dev) {
    throw moved(shownAs, `has a directory (${directory.path}) that changed`);
  }
}

/** The directory must still be where it was checked: inside the workspace, at the same real path. */
async function checkDirectory(directory: HeldDirectory, roots: readonly string[], shownAs: string): Promise<void> {
  const now = await directory.where();
  if (now === undefined || !roots.some((root) => isWithin(now, root))) {
    throw moved(
      shownAs,
      now === undefined ? "has a directory that was removed" : `now lies in ${now}, outside the workspace,`,
    );
  }
  if (now !== directory.path) throw moved(shownAs, `has a directory (${directory.path}) that moved to ${now}`);
}

/** ENOENT inside a directory that was open: the directory was removed under the write. */
function removedOr(error: unknown, shownAs: string): ToolError {
  if ((error as NodeJS.ErrnoException).code === "ENOENT") return moved(shownAs, "has a directory that was removed");
  return toToolError(error, shownAs);
}

/** What is at `name` now: undefined when nothing, else a regular file that is not a symlink. */
async function checkTarget(
  directory: HeldDirectory,
  name: string,
  options: SafeWriteOptions,
): Promise<Stats | undefined> {
  const info = await lstat(directory.child(name)).catch((error) => {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw toToolError(error, options.shownAs);
  });
  if (info?.isSymbolicLink()) throw moved(options.shownAs, "became a symbolic link");
  if (info?.isDirectory()) throw new ToolError("NOT_A_FILE", `"${options.shownAs}" is a directory`);
  if (info && !info.isFile()) throw new ToolError("NOT_A_FILE", `"${options.shownAs}" is not a regular file`);
  if (options.expect) {
    if (!info) throw new ToolError("FILE_CHANGED", `"${options.shownAs}" was removed while it was being edited`);
    if (info.ino !== options.expect.ino || info.dev !== options.expect.dev) {
      throw new ToolError(
        "FILE_CHANGED",
        `"${options.shownAs}" was replaced by another file while it was being edited; read it again and retry`,
      );
    }
  }
  return info;
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, written);
    written += bytesWritten;
  }
}

/** A temp name in the same directory (so the rename is atomic), hidden, and short enough for NAME_MAX. */
function tempName(name: string): string {
  return `.${name.slice(0, 100)}.opta-tmp-${randomBytes(6).toString("hex")}`;
}

/**
 * Writes `content` as the whole new content of the real path `real` (from `resolveInWorkspace`)
 * so that a crash at any moment leaves the old content or the new one, never a mix or an empty
 * file: a temp file in the same directory is written, fsynced, given the old file's mode (and
 * owner, where permitted), and renamed over the target; then the directory is fsynced. The
 * parent directories are opened (and created) without following symlinks, and the directory and
 * target are checked again right before the rename. Policy files (`.opta/`, the Opta home) are
 * refused with PROTECTED_PATH. Rename replaces the name, not the inode: a hard link elsewhere
 * keeps the old content.
 */
export async function writeFileAtomically(
  real: string,
  content: string | Buffer,
  ctx: Pick<ToolContext, "cwd" | "extraRoots" | "home">,
  options: SafeWriteOptions,
): Promise<{ created: boolean }> {
  const roots = await workspaceRoots(ctx);
  // The innermost root holding the path: the walk starts there.
  const root = roots.filter((candidate) => isWithin(real, candidate)).sort((a, b) => b.length - a.length)[0];
  if (root === undefined) {
    throw new ToolError("PATH_OUTSIDE_WORKSPACE", `"${options.shownAs}" is outside the workspace ${roots[0]}`);
  }
  if (real === root) throw new ToolError("NOT_A_FILE", `"${options.shownAs}" is a directory`);
  await assertNotProtected(real, ctx, options.shownAs);
  const name = basename(real);
  const components = relative(root, dirname(real)).split(sep).filter(Boolean);
  const directory = await openDirectory(root, components, options);
  try {
    await checkDirectory(directory, roots, options.shownAs);
    const before = await checkTarget(directory, name, options);
    const temp = tempName(name);
    // Replacing a file: the temp file starts private, so its new content is never readable by
    // more users than the old file's was (the chmod below only comes after the content is in).
    const handle = await open(directory.child(temp), NEW_FILE, before ? 0o600 : 0o666).catch((error) => {
      throw removedOr(error, options.shownAs);
    });
    let stillOpen = true;
    let renamed = false;
    try {
      await writeAll(handle, typeof content === "string" ? Buffer.from(content, "utf8") : content);
      if (!before && options.mode !== undefined) await handle.chmod(options.mode & 0o777);
      if (before) {
        const made = await handle.stat();
        if (made.uid !== before.uid || made.gid !== before.gid) {
          await handle.chown(before.uid, before.gid).catch(() => undefined); // only root may give a file away
        }
        await handle.chmod(before.mode & 0o7777); // after chown, which clears set-id bits
      }
      await handle.sync();
      stillOpen = false;
      await handle.close();
      // The last look before the rename: nothing moved, nothing became a link, edit_file's file is the one it read.
      await checkDirectory(directory, roots, options.shownAs);
      await assertNotProtected(join(directory.path, name), ctx, options.shownAs);
      await checkTarget(directory, name, options);
      await rename(directory.child(temp), directory.child(name));
      renamed = true;
    } catch (error) {
      throw removedOr(error, options.shownAs);
    } finally {
      if (stillOpen) await handle.close().catch(() => undefined);
      if (!renamed) await unlink(directory.child(temp)).catch(() => undefined);
    }
    // Makes the rename itself durable; some file systems refuse fsync on a directory, which is fine.
    await directory.handle.sync().catch(() => undefined);
    return { created: before === undefined };
  } finally {
    await directory.handle.close().catch(() => undefined);
  }
}
