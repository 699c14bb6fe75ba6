import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, realpath, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { branchFromHead, gitSummary } from "../../src/agent/system-prompt/environment.js";
import { detectSandbox } from "../../src/sandbox/index.js";

/**
 * The system prompt's git line runs `git status` in the session's repository, which the agent can
 * write: a config that names a program (a clean filter, a process filter, an fsmonitor hook, one
 * pulled in through include.path) must not run on the host.
 */
describe("git status for the system prompt", () => {
  let base: string;
  let home: string;
  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), "opta-git-summary-")));
    home = join(base, "opta-home");
    await mkdir(home);
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  let counter = 0;
  /** A repository with one committed file that then changes (so status must look at content). */
  async function repoWith(
    config: Record<string, string>,
    attributes?: string,
  ): Promise<{ repo: string; marker: string }> {
    const repo = join(base, `repo-${++counter}`);
    const marker = join(base, `ran-${counter}`);
    await mkdir(repo);
    const git = (...args: string[]) => execFileSync("git", ["-C", repo, ...args], { stdio: "ignore" });
    git("init", "-q", "-b", "main");
    await writeFile(join(repo, "file.txt"), "one\n");
    git("add", "file.txt");
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "init");
    for (const [key, value] of Object.entries(config)) git("config", key, value.replaceAll("MARKER", marker));
    if (attributes) await writeFile(join(repo, ".gitattributes"), attributes);
    await writeFile(join(repo, "file.txt"), "two\n");
    // Same size class and an old mtime: git cannot trust the index's stat data and reads the content.
    const past = new Date(Date.now() - 60_000);
    await utimes(join(repo, "file.txt"), past, past);
    return { repo, marker };
  }

  const attacks: Array<{ attack: string; config: Record<string, string>; attributes?: string }> = [
    {
      attack: "a clean filter named in .git/config and .gitattributes",
      config: { "filter.x.clean": "sh -c 'touch MARKER; cat'" },
      attributes: "* filter=x\n",
    },
    {
      attack: "a long-running process filter",
      config: { "filter.y.process": "sh -c 'touch MARKER'" },
      attributes: "* filter=y\n",
    },
    {
      attack: "a clean filter pulled in through include.path",
      config: { "include.path": "../extra.config" },
      attributes: "* filter=z\n",
    },
  ];

  it("never runs a program the repository's config names on the host", async ({ task }) => {
    const sandboxed = (await detectSandbox()).available;
    const cases: SecurityCase[] = [];
    for (const { attack, config, attributes } of attacks) {
      const { repo, marker } = await repoWith(config, attributes);
      if (config["include.path"]) {
        await writeFile(join(repo, "extra.config"), `[filter "z"]\n\tclean = "sh -c 'touch ${marker}; cat'"\n`);
      }
      // The attack is real: plain git on the host runs the program.
      try {
        execFileSync("git", ["-C", repo, "status", "--porcelain"], { stdio: "ignore" });
      } catch {
        // A filter that breaks git's protocol fails the status, after it ran.
      }
      const attackWorks = existsSync(marker);
      await rm(marker, { force: true });
      const summary = await gitSummary(repo, home);
      const ran = existsSync(marker);
      cases.push({
        attack,
        refused: attackWorks && !ran,
        detail: `plain git ran it: ${attackWorks}; summary: ${summary?.split("\n")[0]}`,
      });
      // A filter that only fails its program still lets the prompt name the branch and the change.
      if (sandboxed && !config["filter.y.process"]) expect(summary).toMatch(/^branch main; 1 changed/);
    }
    expect(reportFamily(task, "git-config-exec", cases).through).toEqual([]);
  });

  it("without a sandbox, reads only the branch from .git/HEAD (a worktree's too), running no git", async () => {
    const { repo, marker } = await repoWith({ "filter.x.clean": "sh -c 'touch MARKER; cat'" }, "* filter=x\n");
    await mkdir(join(repo, "sub"));
    expect(await branchFromHead(join(repo, "sub"))).toBe("branch main; status not read (no sandbox to run git in)");
    const worktree = join(base, "worktree");
    execFileSync("git", ["-C", repo, "worktree", "add", "-q", "-b", "feature", worktree], { stdio: "ignore" });
    await rm(marker, { force: true });
    expect(await branchFromHead(worktree)).toMatch(/^branch feature;/);
    expect(existsSync(marker)).toBe(false);
    expect(await branchFromHead(home)).toBeUndefined();
  });

  it("in the sandbox, sees a worktree whose git directory lies under another /tmp path", async () => {
    if (!(await detectSandbox()).available) return;
    const { repo } = await repoWith({});
    const worktree = join(base, "sandboxed-worktree");
    execFileSync("git", ["-C", repo, "worktree", "add", "-q", "-b", "topic", worktree], { stdio: "ignore" });
    expect(await gitSummary(worktree, home)).toBe("branch topic; working tree clean");
  });
});
