import { mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runCli } from "../fixtures/run-cli.js";

let root: string;
let home: string;
let parent: string;
let cwd: string;

function opta(args: string[], at?: string): Promise<CliResult> {
  return runCli(args, { home, ...(at ? { cwd: at } : {}) });
}

beforeAll(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), "opta-trust-")));
  home = join(root, "home");
  parent = join(root, "shared");
  cwd = join(parent, "sub");
  await mkdir(cwd, { recursive: true });
  await mkdir(join(parent, ".opta"));
  await writeFile(join(parent, ".opta", "policy.yaml"), "allow:\n  - run_command\n");
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe("opta trust", () => {
  it("trusts, lists and removes a directory; `opta doctor --policy` reads the same file", async () => {
    const before = await opta(["doctor", "--policy"], cwd);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain(`${parent} is not a repository root and not trusted`);
    expect(before.stdout).toContain(`opta trust ${parent}`);

    const trusted = await opta(["trust", parent]);
    expect(trusted).toMatchObject({ code: 0 });
    expect(trusted.stdout).toContain(`Trusted ${parent}`);
    expect((await stat(join(home, "trusted.json"))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(home, "trusted.json"), "utf8")).directories).toMatchObject([
      { path: parent },
    ]);
    // Trusting twice keeps one entry.
    expect((await opta(["trust", `${parent}/`])).code).toBe(0);

    const listed = await opta(["trust", "--list"]);
    expect(listed.stdout).toContain(parent);
    const json = JSON.parse((await opta(["trust", "--json"])).stdout) as { directories: Array<{ path: string }> };
    expect(json.directories.map((entry) => entry.path)).toEqual([parent]);

    const after = await opta(["doctor", "--policy"], cwd);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain(join(parent, ".opta", "policy.yaml"));

    expect((await opta(["trust", "--remove", parent])).code).toBe(0);
    expect((await opta(["trust"])).stdout).toContain("No trusted directories");
    expect((await opta(["doctor", "--policy"], cwd)).code).toBe(1);
  });

  it("says what is wrong with a directory that does not exist or is not trusted", async () => {
    const missing = await opta(["trust", join(root, "nowhere")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("is not a directory");
    const notTrusted = await opta(["trust", "--remove", cwd]);
    expect(notTrusted.code).toBe(1);
    expect(notTrusted.stderr).toContain("opta trust --list");
    expect((await opta(["trust", parent, "--remove", parent])).code).toBe(2);
  });
});
