import { readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

/** A git repository: the directory holding `.git`, and its git directory. */
export interface Repository {
  root: string;
  /** `<root>/.git`, or in a worktree or submodule the directory its `.git` file names. */
  gitDir: string;
}

/**
 * The nearest repository at or above `start`, reading only the file system (no git process: the
 * repository is the agent's to write, and git runs programs its config names).
 *
 * `ceiling` is a directory the search stops at without looking there — the user's home, for the
 * callers that must not take a dotfiles repository in the home directory for every folder's project.
 */
export async function findRepository(
  start: string,
  options: { ceiling?: string } = {},
): Promise<Repository | undefined> {
  for (let directory = resolve(start); directory !== options.ceiling; directory = dirname(directory)) {
    // `.git` is a directory in a clone, and a file naming the git directory in a worktree or submodule.
    const pointer = await readFile(join(directory, ".git"), "utf8").catch((error: NodeJS.ErrnoException) =>
      error.code === "EISDIR" ? "" : undefined,
    );
    if (pointer !== undefined) {
      const named = pointer.startsWith("gitdir: ") ? pointer.slice(8).trim() : undefined;
      return { root: directory, gitDir: named ? resolve(directory, named) : join(directory, ".git") };
    }
    if (dirname(directory) === directory) return undefined;
  }
  return undefined;
}

/** Whether `directory` itself holds a `.git` (directory or file). */
export function isRepositoryRoot(directory: string): Promise<boolean> {
  return stat(join(directory, ".git")).then(
    () => true,
    () => false,
  );
}
