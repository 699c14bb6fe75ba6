import { execFile } from "node:child_process";
import { readFile, realpath } from "node:fs/promises";
import { dirname, join } from "node:path";
import { findRepository } from "../../repository/find.js";
import { detectSandbox, planSandbox, wrapCommand } from "../../sandbox/index.js";
import { commandEnvironment } from "../../tool/run-command.js";

/** How long `git status` may take before the prompt goes without it (a huge or network-mounted repo). */
export const GIT_TIMEOUT_MS = 2_000;
/** Changed paths listed by name; the rest are counted. */
const GIT_PATHS_SHOWN = 10;

/** The day in the daemon's time zone (`YYYY-MM-DD`): a prompt that changed every second would defeat the KV cache. */
export function localDay(now: Date): string {
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** The command whose output the summary is made of. */
const GIT_STATUS = "git --no-pager -c core.fsmonitor=false status --porcelain=v1 --branch --untracked-files=normal";

/**
 * A short summary of the repository at `cwd`: the branch (and how it stands to its upstream), then
 * the changed paths. Undefined outside a repository, without git, or when git takes too long.
 *
 * The repository is the agent's to write, and `git status` runs programs its config names (a clean
 * filter from `.git/config` plus `.gitattributes`, an fsmonitor hook), so git runs in the read-only
 * sandbox, with the commands' clean environment: never on the host. Without a sandbox the summary
 * is only the branch, read from `.git/HEAD` with no program run. No pager, no optional locks (a
 * concurrent `git commit` of the user's is not blocked).
 */
export async function gitSummary(cwd: string, home: string): Promise<string | undefined> {
  const support = await detectSandbox();
  if (!support.available) return branchFromHead(cwd);
  const repository = await repositoryOf(cwd);
  if (!repository) return undefined;
  // Read-only binds of the repository (a worktree's git directory may lie elsewhere, e.g. under the
  // /tmp that the sandbox replaces with its own).
  const inWorktree = repository.gitDir !== join(repository.root, ".git");
  const roots = [cwd, repository.root, ...(inWorktree ? [dirname(dirname(repository.gitDir))] : [])];
  const plan = await planSandbox({ level: "read-only", cwd, roots, home }).catch(() => undefined);
  if (!plan) return branchFromHead(cwd);
  const env = { ...commandEnvironment(process.env), GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C" };
  const wrapped = await wrapCommand(GIT_STATUS, plan, support, env);
  const output = await new Promise<string | undefined>((resolve) => {
    execFile(
      wrapped.file,
      wrapped.args,
      { cwd, timeout: GIT_TIMEOUT_MS, maxBuffer: 1024 * 1024, env: wrapped.env },
      (error, stdout) => resolve(error ? undefined : stdout),
    );
  });
  if (output === undefined) return undefined;
  const lines = output.split("\n").filter((line) => line !== "");
  const header = lines[0]?.startsWith("## ") ? lines.shift()!.slice(3) : undefined;
  const branch = header ? describeBranch(header) : "unknown branch";
  if (lines.length === 0) return `branch ${branch}; working tree clean`;
  const untracked = lines.filter((line) => line.startsWith("??")).length;
  const changed = lines.length - untracked;
  const counts = [changed ? `${changed} changed` : "", untracked ? `${untracked} untracked` : ""]
    .filter(Boolean)
    .join(", ");
  const shown = lines.slice(0, GIT_PATHS_SHOWN).map((line) => `  ${line}`);
  const more = lines.length > GIT_PATHS_SHOWN ? [`  … and ${lines.length - GIT_PATHS_SHOWN} more`] : [];
  return [`branch ${branch}; ${counts}:`, ...shown, ...more].join("\n");
}

/** `main...origin/main [ahead 1]` → `main (ahead 1 of origin/main)`; `No commits yet on main` → `main (no commits yet)`. */
function describeBranch(header: string): string {
  const fresh = /^No commits yet on (.+)$/.exec(header);
  if (fresh) return `${fresh[1]} (no commits yet)`;
  if (header.startsWith("HEAD (no branch)")) return "detached HEAD";
  const match = /^(.+?)(?:\.\.\.(\S+))?(?: \[(.+)\])?$/.exec(header);
  if (!match) return header;
  const [, name, upstream, state] = match;
  if (!upstream) return name!;
  return `${name} (${state ? `${state} of ` : "up to date with "}${upstream})`;
}

/** The repository holding `cwd`, found from its real path (a symlinked cwd finds the real repository). */
async function repositoryOf(cwd: string) {
  return findRepository(await realpath(cwd).catch(() => cwd));
}

/** The branch of the repository holding `cwd`, from its HEAD file alone (no git process). */
export async function branchFromHead(cwd: string): Promise<string | undefined> {
  const repository = await repositoryOf(cwd);
  if (!repository) return undefined;
  const head = await readFile(join(repository.gitDir, "HEAD"), "utf8").catch(() => "");
  const ref = /^ref: refs\/heads\/(.+)$/m.exec(head.trim());
  return `branch ${ref ? ref[1] : "detached HEAD"}; status not read (no sandbox to run git in)`;
}
