import { execFile } from "node:child_process";

/** How long `git status` may take before the prompt goes without it (a huge or network-mounted repo). */
export const GIT_TIMEOUT_MS = 2_000;
/** Changed paths listed by name; the rest are counted. */
const GIT_PATHS_SHOWN = 10;

/** The day in the daemon's time zone (`YYYY-MM-DD`): a prompt that changed every second would defeat the KV cache. */
export function localDay(now: Date): string {
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/**
 * A short summary of the repository at `cwd`: the branch (and how it stands to its upstream), then
 * the changed paths. Undefined outside a repository, without git, or when git takes too long.
 * Git runs with no pager, no optional locks (a concurrent `git commit` of the user's is not
 * blocked) and no fsmonitor hook (a repository's config could name any program as one).
 */
export async function gitSummary(cwd: string): Promise<string | undefined> {
  const output = await new Promise<string | undefined>((resolve) => {
    execFile(
      "git",
      ["--no-pager", "-c", "core.fsmonitor=false", "status", "--porcelain=v1", "--branch", "--untracked-files=normal"],
      {
        cwd,
        timeout: GIT_TIMEOUT_MS,
        maxBuffer: 1024 * 1024,
        env: { ...process.env, GIT_OPTIONAL_LOCKS: "0", GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
      },
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
