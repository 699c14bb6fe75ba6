import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  evaluatePermission,
  persistAlwaysRule,
  suggestPolicyLine,
  validatePolicyFiles,
} from "../../src/permission/index.js";
import { type PolicyFixture, policyFixture } from "./setup.js";

let fx: PolicyFixture;
beforeEach(async () => {
  fx = await policyFixture();
});
afterEach(() => fx.cleanup());

describe("persistAlwaysRule", () => {
  it("writes a rule to always.yaml that a fresh loadPolicies honours, for equivalent commands too", async () => {
    const query = fx.query("run_command", { command: "npm test" });
    expect(evaluatePermission(query, await fx.load()).decision).toBe("deny");
    const { file, rule } = await persistAlwaysRule({ home: fx.home, query });
    expect(file).toBe(join(fx.home, "policies", "always.yaml"));
    expect(rule).toBe("run_command(npm test)");
    expect(await readFile(file, "utf8")).toContain("allow:\n  - run_command(npm test)\n");

    const fresh = await fx.load(); // as after a daemon restart
    const result = evaluatePermission(query, fresh);
    expect(result).toMatchObject({ decision: "allow", rule: { source: file, text: "allow: run_command(npm test)" } });
    for (const command of ["npm  test", "env CI=1 npm test", "timeout 100 npm test"]) {
      expect(evaluatePermission(fx.query("run_command", { command }), fresh).decision, command).toBe("allow");
    }
    expect(evaluatePermission(fx.query("run_command", { command: "npm test && rm -rf /" }), fresh).decision).toBe(
      "deny",
    );
    expect(evaluatePermission(fx.query("run_command", { command: "npm publish" }), fresh).decision).toBe("deny");
  });

  it("covers exactly what was approved: every part of a compound command, and the file path", async () => {
    const compound = await persistAlwaysRule({
      home: fx.home,
      query: fx.query("run_command", { command: "cd packages/cli && npm run build > build.log" }),
    });
    expect(compound.rules).toEqual([
      "run_command(cd packages/cli)",
      "run_command(npm run build)",
      `write_file(${join(fx.project, "packages/cli/build.log")})`,
    ]);
    const fresh = await fx.load();
    expect(
      evaluatePermission(fx.query("run_command", { command: "cd packages/cli && npm run build > build.log" }), fresh)
        .decision,
    ).toBe("allow");
    expect(evaluatePermission(fx.query("run_command", { command: "cd /" }), fresh).decision).toBe("deny");

    const edit = await persistAlwaysRule({ home: fx.home, query: fx.query("edit_file", { path: "src/[id].tsx" }) });
    expect(edit.rule).toBe(`edit_file(${join(fx.project, "src")}/\\[id\\].tsx)`);
    const again = await fx.load();
    expect(evaluatePermission(fx.query("edit_file", { path: "src/[id].tsx" }), again).decision).toBe("allow");
    expect(evaluatePermission(fx.query("edit_file", { path: "src/i.tsx" }), again).decision).toBe("ask");
    expect(evaluatePermission(fx.query("edit_file", { path: "src/other.ts" }), again).decision).toBe("ask");
    expect(evaluatePermission(fx.query("write_file", { path: "src/[id].tsx" }), again).decision).toBe("ask");

    const mcp = await persistAlwaysRule({
      home: fx.home,
      query: fx.query("github__create_issue", {}, { kind: "mcp" }),
    });
    expect(mcp.rule).toBe("github__create_issue");
  });

  it("is idempotent, keeps comments, and survives concurrent answers", async () => {
    await fx.userPolicy("always.yaml", "# my notes\nallow:\n  - run_command(ls) # keep me\n");
    const query = fx.query("run_command", { command: "make" });
    await Promise.all([
      persistAlwaysRule({ home: fx.home, query }),
      persistAlwaysRule({ home: fx.home, query }),
      persistAlwaysRule({ home: fx.home, query: fx.query("run_command", { command: "make check" }) }),
      persistAlwaysRule({ home: fx.home, query: fx.query("run_command", { command: "ls" }) }),
    ]);
    const text = await readFile(join(fx.home, "policies", "always.yaml"), "utf8");
    expect(text).toContain("# my notes");
    expect(text).toContain("# keep me");
    expect(text.match(/run_command\(make\)/g)).toHaveLength(1);
    expect(text.match(/run_command\(ls\)/g)).toHaveLength(1);
    expect(text).toContain("run_command(make check)");
    expect(await validatePolicyFiles({ home: fx.home, cwd: fx.project })).toEqual([]);
  });

  it("moves a broken always.yaml aside instead of losing it", async () => {
    await fx.userPolicy("always.yaml", "allow: [unclosed\n");
    await persistAlwaysRule({ home: fx.home, query: fx.query("run_command", { command: "make" }) });
    const names = await readdir(join(fx.home, "policies"));
    expect(names.some((name) => name.startsWith("always.yaml.broken-"))).toBe(true);
    expect(evaluatePermission(fx.query("run_command", { command: "make" }), await fx.load()).decision).toBe("allow");
  });
});

describe("the always level", () => {
  it("an always answer beats a project ask for exactly that call", async () => {
    await fx.projectPolicy("ask:\n  - write_file(src/**)\n  - run_command(make)\n");
    const write = fx.query("write_file", { path: "src/a.ts", content: "" });
    expect(evaluatePermission(write, await fx.load()).decision).toBe("ask");
    const { file } = await persistAlwaysRule({ home: fx.home, query: write });
    await persistAlwaysRule({ home: fx.home, query: fx.query("run_command", { command: "make" }) });

    const policies = await fx.load(); // as after the agent reloads, or a daemon restart
    const result = evaluatePermission(write, policies);
    expect(result).toMatchObject({
      decision: "allow",
      rule: { source: file, text: `allow: write_file(${join(fx.project, "src/a.ts")})` },
    });
    expect(result.reason).toContain('"always" answer');
    expect(evaluatePermission(fx.query("write_file", { path: "src/b.ts" }), policies).decision).toBe("ask");
    expect(evaluatePermission(fx.query("edit_file", { path: "src/a.ts" }), policies).decision).toBe("ask");
    expect(evaluatePermission(fx.query("run_command", { command: "make" }), policies).decision).toBe("allow");
    expect(evaluatePermission(fx.query("run_command", { command: "make" }, { mode: "chat" }), policies).decision).toBe(
      "allow",
    );
    expect(evaluatePermission(fx.query("run_command", { command: "make install" }), policies).decision).toBe("allow");
    expect(evaluatePermission(fx.query("run_command", { command: "make && rm x" }), policies).decision).toBe("deny");
  });

  it("never beats a deny rule, at any level", async () => {
    await fx.projectPolicy("deny:\n  - write_file(src/secret/**)\nask:\n  - write_file(src/**)\n");
    await fx.userPolicy("user.yaml", "deny:\n  - run_command(git push)\n");
    const secret = fx.query("write_file", { path: "src/secret/k.ts" });
    const push = fx.query("run_command", { command: "git push" });
    await persistAlwaysRule({ home: fx.home, query: secret });
    await persistAlwaysRule({ home: fx.home, query: push });
    const policies = await fx.load();
    expect(evaluatePermission(secret, policies)).toMatchObject({
      decision: "deny",
      rule: { text: "deny: write_file(src/secret/**)" },
    });
    expect(evaluatePermission(push, policies)).toMatchObject({
      decision: "deny",
      rule: { text: "deny: run_command(git push)" },
    });
    // A deny in always.yaml itself is an ordinary user rule.
    await fx.userPolicy("always.yaml", "allow:\n  - run_command(make)\ndeny:\n  - run_command(make)\n");
    expect(evaluatePermission(fx.query("run_command", { command: "make" }), await fx.load()).decision).toBe("deny");
  });

  it("is set aside when a user deny matches, leaving the project's ask in charge", async () => {
    await fx.projectPolicy("ask:\n  - write_file(src/**)\n");
    await fx.userPolicy("user.yaml", "deny:\n  - write_file(src/gen/**)\n");
    const query = fx.query("write_file", { path: "src/gen/x.ts" });
    await persistAlwaysRule({ home: fx.home, query });
    expect(evaluatePermission(query, await fx.load()).decision).toBe("ask");
  });

  it("does not override a project allow the user policy denies (project still wins there)", async () => {
    await fx.projectPolicy("allow:\n  - run_command(npm publish)\n");
    await fx.userPolicy("user.yaml", "deny:\n  - run_command(npm publish)\n");
    await persistAlwaysRule({ home: fx.home, query: fx.query("run_command", { command: "npm publish" }) });
    const result = evaluatePermission(fx.query("run_command", { command: "npm publish" }), await fx.load());
    expect(result).toMatchObject({ decision: "allow", rule: { source: join(fx.project, ".opta", "policy.yaml") } });
  });
});

describe("suggestPolicyLine", () => {
  it("gives a YAML snippet with the exact rules, paths relative to the cwd", () => {
    expect(suggestPolicyLine(fx.query("run_command", { command: "CI=1 npm run lint && git diff" }))).toBe(
      "allow:\n  - run_command(npm run lint)\n  - run_command(git diff)\n",
    );
    expect(suggestPolicyLine(fx.query("run_command", { command: "GIT_PAGER='less -R' git log" }))).toBe(
      `allow:\n  - "run_command(GIT_PAGER='less -R' git log)"\n`,
    );
    expect(suggestPolicyLine(fx.query("write_file", { path: "./src/cli.ts" }))).toBe(
      "allow:\n  - write_file(src/cli.ts)\n",
    );
    expect(suggestPolicyLine(fx.query("write_file", { path: "/etc/hosts" }))).toBe(
      "allow:\n  - write_file(/etc/hosts)\n",
    );
    expect(suggestPolicyLine(fx.query("run_command", { command: "git commit -m 'fix: a # b'" }))).toBe(
      `allow:\n  - "run_command(git commit -m 'fix: a # b')"\n`,
    );
  });

  it("round-trips: the suggested snippet, saved as a policy, allows the call", async () => {
    const query = fx.query("run_command", { command: "git commit -m 'fix: a # b' && npm test" });
    await fx.projectPolicy(suggestPolicyLine(query));
    expect(evaluatePermission(query, await fx.load()).decision).toBe("allow");
  });
});

describe("validatePolicyFiles", () => {
  it("reports file and line for every mistake", async () => {
    const user = await fx.userPolicy(
      "user.yaml",
      [
        "allow:", // 1
        "  - run_command(npm test)", // 2
        "  - run_comand(ls)", // 3 unknown tool
        "  - run_command(ls && rm x)", // 4 compound
        "deny: write_file", // 5 not a list
        "asks:", // 6 unknown key
        "  - read_file", // 7
        "roots:", // 8
        "  - relative/dir", // 9 relative root in user policy
        "ask:", // 10
        "  - run_command(", // 11 bad syntax
        "",
      ].join("\n"),
    );
    const project = await fx.projectPolicy("allow:\n  - read_file\n    - nested: [\n");
    const problems = await validatePolicyFiles({ home: fx.home, cwd: fx.project });
    const at = (file: string) => problems.filter((problem) => problem.file === file).map((problem) => problem.line);
    expect(at(user)).toEqual([3, 4, 5, 6, 9, 11]);
    const message = (line: number) =>
      problems.find((problem) => problem.file === user && problem.line === line)?.message;
    expect(message(3)).toContain('unknown tool "run_comand"');
    expect(message(4)).toContain("compound");
    expect(message(5)).toContain("must be a list");
    expect(message(6)).toContain('unknown key "asks"');
    expect(message(9)).toContain("must be absolute");
    expect(message(11)).toContain("is not a rule");
    const projectProblems = problems.filter((problem) => problem.file === project);
    expect(projectProblems[0]?.message).toContain("YAML syntax error");
    expect(projectProblems[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it("accepts valid files, empty files and an empty list", async () => {
    await fx.userPolicy("empty.yaml", "");
    await fx.userPolicy("comments.yml", "# nothing yet\nallow:\n");
    await fx.projectPolicy(
      "version: 1\nallow:\n  - read_file\n  - github__*\ndeny:\n  - run_command(rm -rf)\nroots:\n  - lib\n",
    );
    expect(await validatePolicyFiles({ home: fx.home, cwd: fx.project })).toEqual([]);
  });
});
