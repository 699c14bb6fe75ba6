import { realpath, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { readTrustedDirectories, writableByOthers } from "@opta/local";
import { findRepository, isRepositoryRoot } from "../repository/find.js";

/** A project file (`.opta/policy.yaml`, `.opta/mcp.yaml`) found for a session's cwd. */
export interface ProjectFileSearch {
  /** The file that applies, if any. */
  file?: string;
  /** The directory holding its `.opta` (relative globs and roots resolve against it). */
  root?: string;
  /** The nearest file, when it was found but may not govern this session, and why. */
  ignored?: { file: string; message: string };
}

/**
 * Finds the nearest `.opta/<name>` at or above `cwd`, stopping at the first repository root (the
 * directory holding `.git`), the user's home directory or the file-system root, and decides
 * whether it may govern the session:
 *
 * - the file, its `.opta` directory and the directory holding it must be the user's own (owner is
 *   the current user or root, not group/world writable; a sticky directory like /tmp passes for
 *   the holder only): a file another local user could write never applies;
 * - a file in `cwd` itself applies;
 * - a file in an ancestor applies only if that directory is a repository root, lies inside the
 *   repository the session is in (a package of a monorepo), or the user trusted it with
 *   `opta trust DIR` (`$OPTA_HOME/trusted.json`). Otherwise any directory above a repo-less
 *   session — /tmp, a download folder — would decide what the agent may run.
 *
 * The nearest file decides: when it is ignored, files further up are not looked at.
 */
export async function findProjectFile(cwd: string, name: string, home: string): Promise<ProjectFileSearch> {
  const start = resolve(cwd);
  const userHome = homedir();
  let directory = start;
  for (;;) {
    const candidate = join(directory, ".opta", name);
    if (await isFile(candidate)) {
      const reason = await whyIgnored(directory, candidate, start, home);
      return reason === undefined
        ? { file: candidate, root: directory }
        : { ignored: { file: candidate, message: `the whole file was ignored: ${reason}` } };
    }
    const parent = dirname(directory);
    if ((await isRepositoryRoot(directory)) || parent === directory || directory === userHome) return {};
    directory = parent;
  }
}

async function whyIgnored(directory: string, file: string, cwd: string, home: string): Promise<string | undefined> {
  for (const [path, allowSticky] of [
    [file, false],
    [dirname(file), false],
    [directory, true],
  ] as const) {
    const unsafe = await writableByOthers(path, { allowSticky }).catch(
      (error: Error) => `could not be checked (${error.message})`,
    );
    if (unsafe) return `${path} ${unsafe}`;
  }
  if (directory === cwd || (await isRepositoryRoot(directory))) return undefined;
  const trusted = await readTrustedDirectories(home);
  const real = await realpath(directory).catch(() => directory);
  if (trusted.directories.some((entry) => entry.path === real || entry.path === directory)) return undefined;
  if (await insideRepository(directory)) return undefined;
  const note = trusted.problem ? `; ${trusted.problem}` : "";
  return `${directory} is not a repository root and not trusted (run \`opta trust ${directory}\` to apply it)${note}`;
}

/**
 * Whether a repository root lies above `directory`, below the user's home (a home that is a
 * dotfiles repository does not make every folder in it a project) and the file-system root.
 */
async function insideRepository(directory: string): Promise<boolean> {
  if (dirname(directory) === directory) return false;
  return (await findRepository(dirname(directory), { ceiling: homedir() })) !== undefined;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isFile(),
    () => false,
  );
}
