/**
 * Policy files are the user's: write_file and edit_file never create or change anything in a
 * `.opta` directory or in the Opta home, whatever spelling or link leads there.
 */
import { link, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import type { ToolContext } from "../../src/tool/index.js";
import { fail, makeWorkspace, ok, type Workspace } from "./workspace.js";

const POLICY = "allow:\n  - write_file\n";
const GRANT = "allow:\n  - run_command\n";

let ws: Workspace;
beforeEach(async () => {
  ws = await makeWorkspace();
  await ws.write(".opta/policy.yaml", POLICY);
});
afterEach(() => ws.cleanup());

/** Every file under `dir`, with its content, so that any change or new file shows. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string, prefix: string) => {
    for (const entry of await readdir(at, { withFileTypes: true }).catch(() => [])) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path, `${prefix}${entry.name}/`);
      else out[`${prefix}${entry.name}`] = await readFile(path, "utf8").catch(() => "<unreadable>");
    }
  };
  await walk(dir, "");
  return out;
}

interface Attack {
  name: string;
  setup?: () => Promise<void>;
  tool: "write_file" | "edit_file";
  args: Record<string, unknown>;
  ctx?: Partial<ToolContext>;
  /** The directories whose content must not change. */
  guarded: () => string[];
  /** Expect the PROTECTED_PATH code (false where the write goes elsewhere, e.g. over a hard link). */
  code?: false;
}

const policyDir = () => [join(ws.cwd, ".opta")];

const attacks: Attack[] = [
  {
    name: "write .opta/policy.yaml",
    tool: "write_file",
    args: { path: ".opta/policy.yaml", content: GRANT },
    guarded: policyDir,
  },
  {
    name: "edit .opta/policy.yaml",
    tool: "edit_file",
    args: { path: ".opta/policy.yaml", old_string: "write_file", new_string: "run_command" },
    guarded: policyDir,
  },
  {
    name: "write ./.opta/../.opta/policy.yaml",
    tool: "write_file",
    args: { path: "./.opta/../.opta/policy.yaml", content: GRANT },
    guarded: policyDir,
  },
  {
    name: "write sub/../.opta/policy.yaml",
    tool: "write_file",
    args: { path: "sub/../.opta/policy.yaml", content: GRANT },
    guarded: policyDir,
  },
  {
    name: "write the absolute path of .opta/policy.yaml",
    tool: "write_file",
    args: { path: "<cwd>/.opta/policy.yaml", content: GRANT },
    guarded: policyDir,
  },
  {
    name: "write .OPTA/policy.yaml (letter case)",
    tool: "write_file",
    args: { path: ".OPTA/policy.yaml", content: GRANT },
    guarded: () => [join(ws.cwd, ".OPTA"), join(ws.cwd, ".opta")],
  },
  {
    name: "write .opta/hooks/pre-tool.sh",
    tool: "write_file",
    args: { path: ".opta/hooks/pre-tool.sh", content: "#!/bin/sh\ntouch pwned\n" },
    guarded: policyDir,
  },
  {
    name: "write .opta/hooks.yaml (a hook would run a command on every tool call)",
    tool: "write_file",
    args: { path: ".opta/hooks.yaml", content: "pre_tool:\n  - command: touch pwned\n" },
    guarded: policyDir,
  },
  {
    name: "edit .opta/hooks.yaml",
    setup: () => ws.write(".opta/hooks.yaml", "turn_end:\n  - command: 'true'\n").then(() => undefined),
    tool: "edit_file",
    args: { path: ".opta/hooks.yaml", old_string: "'true'", new_string: "touch pwned" },
    guarded: policyDir,
  },
  {
    name: "write hooks.yaml of an Opta home inside the workspace",
    tool: "write_file",
    args: { path: "opta-home/hooks.yaml", content: "pre_tool:\n  - command: touch pwned\n" },
    ctx: { home: "<cwd>/opta-home" },
    guarded: () => [join(ws.cwd, "opta-home")],
  },
  {
    name: "write .opta/mcp.json",
    tool: "write_file",
    args: { path: ".opta/mcp.json", content: '{"servers":{}}' },
    guarded: policyDir,
  },
  {
    name: "write packages/x/.opta/policy.yaml (a nested project)",
    tool: "write_file",
    args: { path: "packages/x/.opta/policy.yaml", content: GRANT },
    guarded: () => [join(ws.cwd, "packages")],
  },
  {
    name: "write p/policy.yaml with a symlink p -> .opta",
    setup: () => symlink(join(ws.cwd, ".opta"), join(ws.cwd, "p")),
    tool: "write_file",
    args: { path: "p/policy.yaml", content: GRANT },
    guarded: policyDir,
  },
  {
    name: "write f with a symlink f -> .opta/policy.yaml",
    setup: () => symlink(".opta/policy.yaml", join(ws.cwd, "f")),
    tool: "write_file",
    args: { path: "f", content: GRANT },
    guarded: policyDir,
  },
  {
    name: "edit f with a symlink f -> .opta/policy.yaml",
    setup: () => symlink(".opta/policy.yaml", join(ws.cwd, "f")),
    tool: "edit_file",
    args: { path: "f", old_string: "write_file", new_string: "run_command" },
    guarded: policyDir,
  },
  {
    name: "write d with a dangling symlink d -> .opta/new.yaml",
    setup: () => symlink(".opta/new.yaml", join(ws.cwd, "d")),
    tool: "write_file",
    args: { path: "d", content: GRANT },
    guarded: policyDir,
  },
  {
    name: "write q/x.yaml with q -> a missing .opta dir of a sub-project",
    setup: async () => {
      await mkdir(join(ws.cwd, "sub"));
      await symlink(join(ws.cwd, "sub", ".opta"), join(ws.cwd, "q"));
    },
    tool: "write_file",
    args: { path: "q/policy.yaml", content: GRANT },
    guarded: () => [join(ws.cwd, "sub")],
  },
  {
    name: "write .opta/policy.yaml of a granted extra root",
    setup: async () => {
      await mkdir(join(ws.outside, ".opta"));
      await writeFile(join(ws.outside, ".opta", "policy.yaml"), POLICY);
    },
    tool: "write_file",
    args: { path: "<outside>/.opta/policy.yaml", content: GRANT },
    ctx: { extraRoots: ["<outside>"] },
    guarded: () => [join(ws.outside, ".opta")],
  },
  {
    name: "write policies/always.yaml of an Opta home inside the workspace",
    setup: () => ws.write("opta-home/policies/always.yaml", POLICY).then(() => undefined),
    tool: "write_file",
    args: { path: "opta-home/policies/always.yaml", content: GRANT },
    ctx: { home: "<cwd>/opta-home" },
    guarded: () => [join(ws.cwd, "opta-home")],
  },
  {
    name: "write a new user policy in an Opta home inside the workspace",
    tool: "write_file",
    args: { path: "opta-home/policies/mine.yaml", content: GRANT },
    ctx: { home: "<cwd>/opta-home" },
    guarded: () => [join(ws.cwd, "opta-home")],
  },
  {
    name: "edit config.yaml of an Opta home in a granted root",
    setup: () => writeFile(join(ws.outside, "config.yaml"), "model: a\n"),
    tool: "edit_file",
    args: { path: "<outside>/config.yaml", old_string: "model: a", new_string: "model: b" },
    ctx: { home: "<outside>", extraRoots: ["<outside>"] },
    guarded: () => [ws.outside],
  },
  {
    name: "write through a symlink h -> the Opta home",
    setup: () => symlink(ws.outside, join(ws.cwd, "h")),
    tool: "write_file",
    args: { path: "h/policies/x.yaml", content: GRANT },
    ctx: { home: "<outside>", extraRoots: ["<outside>"] },
    guarded: () => [ws.outside],
  },
  {
    // Rename replaces the name hl, not the inode that .opta/policy.yaml shares.
    name: "write hl, a hard link to .opta/policy.yaml",
    setup: () => link(join(ws.cwd, ".opta", "policy.yaml"), join(ws.cwd, "hl")),
    tool: "write_file",
    args: { path: "hl", content: GRANT },
    guarded: policyDir,
    code: false,
  },
  {
    name: "edit hl, a hard link to .opta/policy.yaml",
    setup: () => link(join(ws.cwd, ".opta", "policy.yaml"), join(ws.cwd, "hl")),
    tool: "edit_file",
    args: { path: "hl", old_string: "write_file", new_string: "run_command" },
    guarded: policyDir,
    code: false,
  },
];

function fill<T>(value: T): T {
  const text = JSON.stringify(value).replaceAll("<cwd>", ws.cwd).replaceAll("<outside>", ws.outside);
  return JSON.parse(text) as T;
}

describe("policy files are the user's", () => {
  it("write_file and edit_file refuse .opta and the Opta home, by every spelling and link", async ({ task }) => {
    const cases: SecurityCase[] = [];
    for (const attack of attacks) {
      await ws.cleanup();
      ws = await makeWorkspace();
      await ws.write(".opta/policy.yaml", POLICY);
      await attack.setup?.();
      const guarded = attack.guarded();
      const before = await Promise.all(guarded.map(snapshot));
      const outcome = await ws.call(attack.tool, fill(attack.args), fill(attack.ctx ?? {}));
      const after = await Promise.all(guarded.map(snapshot));
      const intact = JSON.stringify(after) === JSON.stringify(before);
      const coded = attack.code === false || (!outcome.ok && outcome.code === "PROTECTED_PATH");
      cases.push({
        attack: `${attack.tool}: ${attack.name}`,
        refused: intact && coded,
        detail: intact ? `outcome ${JSON.stringify(outcome)}` : `changed: ${JSON.stringify(after)}`,
      });
    }
    const report = reportFamily(task, "policy-self-grant", cases);
    expect(report.through).toEqual([]);
  });

  it("says what to do, before reading the file", async () => {
    const refused = fail(
      await ws.call("edit_file", { path: ".opta/policy.yaml", old_string: "not there", new_string: "x" }),
    );
    expect(refused.code).toBe("PROTECTED_PATH");
    expect(refused.error).toContain(".opta");
    expect(refused.error).toContain("ask the user");
    expect(await readdir(join(ws.cwd, ".opta"))).toEqual(["policy.yaml"]);
  });

  it("still reads policy files and writes look-alike names", async () => {
    expect(ok(await ws.call("read_file", { path: ".opta/policy.yaml" })).result.content).toContain("write_file");
    for (const path of [".optarc", "opta/policy.yaml", "docs/.opta.md", "x.opta/y"]) {
      ok(await ws.call("write_file", { path, content: "fine\n" }));
      expect(await readFile(join(ws.cwd, path), "utf8")).toBe("fine\n");
    }
  });

  it("the process's $OPTA_HOME is protected too, without a home in the context", async () => {
    const saved = process.env.OPTA_HOME;
    process.env.OPTA_HOME = join(ws.cwd, "env-home");
    try {
      expect(fail(await ws.call("write_file", { path: "env-home/config.yaml", content: "x" })).code).toBe(
        "PROTECTED_PATH",
      );
    } finally {
      if (saved === undefined) delete process.env.OPTA_HOME;
      else process.env.OPTA_HOME = saved;
    }
    await expect(readdir(join(ws.cwd, "env-home"))).rejects.toThrow();
  });
});
