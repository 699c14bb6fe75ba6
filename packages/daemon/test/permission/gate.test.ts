import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  evaluatePermission,
  type GateDecision,
  type PermissionQuery,
  persistAlwaysRule,
  validatePolicyFiles,
} from "../../src/permission/index.js";
import { type PolicyFixture, policyFixture } from "./setup.js";

let fx: PolicyFixture;
beforeEach(async () => {
  fx = await policyFixture();
});
afterEach(() => fx.cleanup());

const CALLS: Array<[string, Record<string, unknown>]> = [
  ["read_file", { path: "src/a.ts" }],
  ["list_dir", {}],
  ["search_files", { pattern: "*.ts" }],
  ["grep", { pattern: "x" }],
  ["write_file", { path: "src/a.ts", content: "" }],
  ["edit_file", { path: "src/a.ts", old_string: "a", new_string: "b" }],
  ["run_command", { command: "npm test" }],
  ["browser_navigate", { url: "https://example.com" }],
  ["github__create_issue", { title: "x" }],
];

describe("defaults, levels and modes (no policy files)", () => {
  const expected: Record<string, Record<string, GateDecision[]>> = {
    // tool: { "level/mode": decisions in CALLS order }
    safe: {
      do: ["allow", "allow", "allow", "allow", "ask", "ask", "deny", "ask", "ask"],
      chat: ["ask", "ask", "ask", "ask", "ask", "ask", "deny", "ask", "ask"],
    },
    standard: {
      do: ["allow", "allow", "allow", "allow", "ask", "ask", "ask", "ask", "ask"],
      chat: ["ask", "ask", "ask", "ask", "ask", "ask", "ask", "ask", "ask"],
    },
    unrestricted: {
      do: Array(9).fill("allow"),
      chat: Array(9).fill("allow"),
    },
  };
  for (const level of ["safe", "standard", "unrestricted"] as const) {
    for (const mode of ["do", "chat"] as const) {
      it(`${level} level, ${mode} mode`, async () => {
        const policies = await fx.load();
        const decisions = CALLS.map(([tool, args]) => {
          const kind = tool === "browser_navigate" ? "mcp" : undefined;
          return evaluatePermission(fx.query(tool, args, { level, mode, ...(kind ? { kind } : {}) }), policies)
            .decision;
        });
        expect(decisions).toEqual(expected[level]?.[mode]);
      });
    }
  }

  it("explains a default decision and names the defaults as its rule", async () => {
    const result = evaluatePermission(fx.query("run_command", { command: "npm test" }), await fx.load());
    expect(result).toMatchObject({ decision: "deny", rule: { source: "defaults", text: "run_command: deny" } });
    expect(result.reason).toContain("`npm test`");
    expect(result.reason).toContain("safe default for run_command is deny");
    const chat = evaluatePermission(fx.query("read_file", { path: "a" }, { mode: "chat" }), await fx.load());
    expect(chat.reason).toContain("chat mode");
  });

  it("OPTA_POLICY=unrestricted allows everything", async () => {
    const policies = await fx.load({ OPTA_POLICY: "unrestricted" });
    expect(policies.unrestricted).toBe(true);
    for (const [tool, args] of CALLS) {
      const result = evaluatePermission(fx.query(tool, args, { mode: "chat" }), policies);
      expect(result.decision, tool).toBe("allow");
    }
    expect(evaluatePermission(fx.query("run_command", { command: "rm -rf build" }), policies).reason).toContain(
      "OPTA_POLICY=unrestricted",
    );
    const unknown = await fx.load({ OPTA_POLICY: "yolo" });
    expect(unknown.unrestricted).toBe(false);
    expect(unknown.problems[0]?.message).toContain("unknown value");
  });
});

describe("policy rules", () => {
  it("allows a command by word-wise prefix and names the policy line", async () => {
    const file = await fx.userPolicy("dev.yaml", "allow:\n  - run_command(npm test)\n  - run_command(git status)\n");
    const policies = await fx.load();
    const allowed = evaluatePermission(fx.query("run_command", { command: "npm test -- --watch=false" }), policies);
    expect(allowed).toMatchObject({
      decision: "allow",
      rule: { source: file, line: 2, text: "allow: run_command(npm test)" },
    });
    expect(allowed.reason).toContain(`${file}:2`);
    expect(evaluatePermission(fx.query("run_command", { command: "npm testing" }), policies).decision).toBe("deny");
    expect(evaluatePermission(fx.query("run_command", { command: "npm" }), policies).decision).toBe("deny");
    expect(evaluatePermission(fx.query("run_command", { command: "npm install" }), policies).decision).toBe("deny");
  });

  it("requires every part of a compound command to be allowed: cd /x && rm -rf / does not pass allow cd", async () => {
    await fx.userPolicy("dev.yaml", "allow:\n  - run_command(cd)\n  - run_command(echo)\n  - run_command(ls)\n");
    const policies = await fx.load();
    const check = (command: string) => evaluatePermission(fx.query("run_command", { command }), policies);
    // A cd inside the workspace is the rule's business; one that leaves it asks (see the gate tests).
    await mkdir(join(fx.project, "sub"));
    expect(check("cd sub").decision).toBe("allow");
    expect(check("cd /x").decision).toBe("ask");
    expect(check("cd /x").reason).toContain("outside the workspace");
    const compound = check("cd /x && rm -rf /");
    expect(compound.decision).toBe("deny");
    expect(compound.reason).toContain("`rm -rf /`");
    expect(compound.reason).toContain("strictest of 3 parts"); // cd, rm, and the cd leaving the workspace
    expect(check("cd sub && ls | echo done").decision).toBe("allow");
    for (const sneaky of [
      "echo $(rm -rf /)",
      "echo `rm -rf /`",
      "ls; rm -rf /",
      "ls || rm -rf /",
      "ls & rm -rf /",
      "(cd /; rm -rf /)",
      "bash -c 'rm -rf /'",
      'sh -c "ls && rm -rf /"',
      "env X=1 rm -rf /",
      "timeout 5 rm -rf /",
      "nohup rm -rf /",
      "ls | xargs rm",
      "echo hi\nrm -rf /",
      "eval 'rm -rf /'",
      "cd x && sudo ls",
    ]) {
      expect(check(sneaky).decision, sneaky).toBe("deny");
    }
  });

  it("treats equivalent spellings and wrappers as the same command", async () => {
    await fx.userPolicy("dev.yaml", "allow:\n  - run_command(npm test)\n");
    const policies = await fx.load();
    for (const command of [
      "npm test",
      "  npm    test  ",
      "'npm' test",
      "env CI=1 npm test",
      "timeout 60 npm test",
      "CI=1 npm test",
    ]) {
      expect(evaluatePermission(fx.query("run_command", { command }), policies).decision, command).toBe("allow");
    }
  });

  it("matches /usr/bin/rm against a rule for rm, and deny catches any path to rm", async () => {
    await fx.userPolicy("dev.yaml", "allow:\n  - run_command(ls)\ndeny:\n  - run_command(rm)\n");
    const policies = await fx.load({}, fx.project);
    const check = (command: string) =>
      evaluatePermission(fx.query("run_command", { command }, { level: "standard" }), policies).decision;
    expect(check("/bin/ls")).toBe("allow");
    expect(check("./ls")).toBe("ask"); // a local script named ls is not the system ls
    expect(check("/usr/bin/rm x")).toBe("deny");
    expect(check("./rm x")).toBe("deny");
  });

  it("deny beats ask beats allow within a level", async () => {
    await fx.userPolicy(
      "a.yaml",
      "allow:\n  - run_command(git)\n  - write_file(src/**)\nask:\n  - write_file(src/secret/**)\n",
    );
    const file = await fx.userPolicy("b.yaml", "deny:\n  - run_command(git push)\n");
    const policies = await fx.load();
    const push = evaluatePermission(fx.query("run_command", { command: "git push origin main" }), policies);
    expect(push).toMatchObject({ decision: "deny", rule: { source: file, line: 2 } });
    expect(evaluatePermission(fx.query("run_command", { command: "git status" }), policies).decision).toBe("allow");
    expect(evaluatePermission(fx.query("write_file", { path: "src/a.ts" }), policies).decision).toBe("allow");
    expect(evaluatePermission(fx.query("write_file", { path: "src/secret/k.ts" }), policies).decision).toBe("ask");
  });

  it("project rules win over user rules", async () => {
    await fx.userPolicy("user.yaml", "deny:\n  - run_command(npm publish)\nallow:\n  - run_command(make)\n");
    const projectFile = await fx.projectPolicy("allow:\n  - run_command(npm publish)\nask:\n  - run_command(make)\n");
    const policies = await fx.load();
    const publish = evaluatePermission(fx.query("run_command", { command: "npm publish" }), policies);
    expect(publish).toMatchObject({ decision: "allow", rule: { source: projectFile, line: 2 } });
    expect(evaluatePermission(fx.query("run_command", { command: "make" }), policies).decision).toBe("ask");
    // the user rule still applies where the project says nothing
    await fx.userPolicy("more.yaml", "allow:\n  - run_command(ls)\n");
    expect(evaluatePermission(fx.query("run_command", { command: "ls" }), await fx.load()).decision).toBe("allow");
  });

  it("finds the project policy from a subdirectory and resolves its globs against the project root", async () => {
    await fx.projectPolicy("allow:\n  - write_file(src/**)\n");
    const sub = join(fx.project, "src");
    const policies = await fx.load({}, sub);
    const query = (path: string) => fx.query("write_file", { path }, { cwd: sub });
    expect(evaluatePermission(query("a.ts"), policies).decision).toBe("allow"); // <project>/src/a.ts
    expect(evaluatePermission(query("../README.md"), policies).decision).toBe("ask");
  });

  it("matches path globs relative to the cwd or absolute, for every file tool", async () => {
    await fx.userPolicy(
      "paths.yaml",
      `allow:\n  - edit_file(docs/*.md)\n  - write_file(${join(fx.project, "generated")}/**)\ndeny:\n  - read_file(.env)\n  - "*(secrets/**)"\n`,
    );
    const policies = await fx.load();
    const decide = (tool: string, args: Record<string, unknown>, extra: Partial<PermissionQuery> = {}) =>
      evaluatePermission(fx.query(tool, args, extra), policies).decision;
    expect(decide("edit_file", { path: "docs/guide.md" })).toBe("allow");
    expect(decide("edit_file", { path: "./docs/guide.md" })).toBe("allow");
    expect(decide("edit_file", { path: "docs/deep/guide.md" })).toBe("ask");
    expect(decide("write_file", { path: "generated/x/y.ts" })).toBe("allow");
    expect(decide("read_file", { path: ".env" })).toBe("deny");
    expect(decide("read_file", { path: "sub/.env" })).toBe("allow");
    expect(decide("read_file", { path: "secrets/key.pem" })).toBe("deny");
    expect(decide("grep", { pattern: "x", path: "secrets" })).toBe("deny");
    expect(decide("list_dir", { path: "secrets/a" })).toBe("deny");
    // explicit deny holds even when unrestricted
    expect(decide("read_file", { path: ".env" }, { level: "unrestricted" })).toBe("deny");
    expect(decide("write_file", { path: "anything" }, { level: "unrestricted" })).toBe("allow");
  });

  it("an explicit allow is honoured in chat mode; a default allow is not", async () => {
    await fx.userPolicy("chat.yaml", "allow:\n  - read_file\n");
    const policies = await fx.load();
    expect(evaluatePermission(fx.query("read_file", { path: "a" }, { mode: "chat" }), policies).decision).toBe("allow");
    expect(evaluatePermission(fx.query("list_dir", {}, { mode: "chat" }), policies).decision).toBe("ask");
  });

  it("matches MCP tools by name glob and other tools by key=glob", async () => {
    await fx.userPolicy(
      "mcp.yaml",
      "allow:\n  - github__*\n  - browser_navigate(url=https://docs.example.com/**)\ndeny:\n  - github__delete_*\n",
    );
    const policies = await fx.load();
    const mcp = (tool: string, args: Record<string, unknown> = {}) =>
      evaluatePermission(fx.query(tool, args, { kind: "mcp" }), policies).decision;
    expect(mcp("github__create_issue")).toBe("allow");
    expect(mcp("github__delete_repo")).toBe("deny");
    expect(mcp("gitlab__create_issue")).toBe("ask");
    expect(mcp("browser_navigate", { url: "https://docs.example.com/a/b" })).toBe("allow");
    expect(mcp("browser_navigate", { url: "https://evil.example.com/" })).toBe("ask");
  });

  it("checks files written by redirection like write_file", async () => {
    await fx.userPolicy("redirect.yaml", "allow:\n  - run_command(npm test)\n  - write_file(logs/**)\n");
    const policies = await fx.load();
    const check = (command: string) => evaluatePermission(fx.query("run_command", { command }), policies);
    expect(check("npm test > logs/out.txt 2>&1").decision).toBe("allow");
    expect(check("npm test 2>/dev/null").decision).toBe("allow");
    const outside = check("npm test > /etc/profile");
    expect(outside.decision).toBe("ask");
    expect(outside.reason).toContain("/etc/profile");
  });

  it("follows cd for redirections, and asks when the directory is only known at run time", async () => {
    await fx.userPolicy("cd.yaml", "allow:\n  - run_command(cd)\n  - run_command(echo)\n  - write_file(**)\n");
    const policies = await fx.load();
    const check = (command: string) => evaluatePermission(fx.query("run_command", { command }), policies);
    expect(check("cd sub && echo x > f.txt").decision).toBe("allow");
    expect(check("cd /etc && echo x > profile").decision).toBe("ask"); // /etc/profile is outside <cwd>/**
    const dynamic = check("cd $HOME && echo x > .bashrc");
    expect(dynamic.decision).toBe("ask");
    expect(dynamic.reason).toContain("only known at run time");
  });

  it("grants extra roots", async () => {
    await fx.userPolicy("roots.yaml", "roots:\n  - /opt/shared\n  - ~/notes\n  - /\n");
    await fx.projectPolicy("roots:\n  - packages/shared\n");
    const policies = await fx.load();
    expect(policies.extraRoots).toEqual([
      join(fx.project, "packages", "shared"),
      "/opt/shared",
      expect.stringMatching(/notes$/),
      "/", // a user policy may grant anything
    ]);
    expect(policies.problems).toEqual([]);
  });
});

describe("broken policy files", () => {
  it("are ignored with a reason instead of crashing, while valid files still apply", async () => {
    const broken = await fx.userPolicy("broken.yaml", "allow:\n  - run_command(ls)\n  bad: [\n");
    await fx.userPolicy("good.yaml", "allow:\n  - run_command(npm test)\n");
    const policies = await fx.load();
    expect(policies.problems.some((problem) => problem.file === broken)).toBe(true);
    const ok = evaluatePermission(fx.query("run_command", { command: "npm test" }), policies);
    expect(ok.decision).toBe("allow");
    const denied = evaluatePermission(fx.query("run_command", { command: "ls" }), policies);
    expect(denied.decision).toBe("deny");
    expect(denied.reason).toContain("ignored a broken policy entry");
    expect(denied.reason).toContain(broken);
  });

  it("skip a bad rule but keep the good ones in the same file", async () => {
    await fx.userPolicy("mixed.yaml", "allow:\n  - run_command(ls\n  - 42\n  - run_command(make)\n");
    const policies = await fx.load();
    expect(policies.rules.map((rule) => rule.text)).toEqual(["run_command(make)"]);
    expect(policies.problems.map((problem) => problem.line)).toEqual([2, 3]);
  });
});

describe("inline variable assignments", () => {
  it("do not slip past command rules: only harmless variables are ignored", async () => {
    await fx.userPolicy(
      "dev.yaml",
      "allow:\n  - run_command(git status)\n  - run_command(git log)\n  - run_command(npm test)\n  - run_command(*)\n",
    );
    const policies = await fx.load();
    const check = (command: string, level: PermissionQuery["level"] = "safe") =>
      evaluatePermission(fx.query("run_command", { command }, { level }), policies);
    for (const command of [
      "git status",
      "CI=1 NODE_ENV=test git status",
      "LC_ALL=C LANG=C.UTF-8 TZ=UTC git log",
      "env FORCE_COLOR=0 NO_COLOR=1 npm test",
      "DEBUG=* npm test",
      "CI=1; npm test",
    ]) {
      expect(check(command).decision, command).toBe("allow");
    }
    for (const command of [
      "GIT_DIR=/ git status",
      "GIT_PAGER='rm -rf ~' git log",
      "LD_PRELOAD=./x.so npm test",
      "env LD_PRELOAD=./x.so npm test",
      "env -i NODE_OPTIONS='--require ./evil.js' npm test",
      "CI=1 GIT_DIR=/ git status",
      "PATH=./bin:$PATH; git status",
      "GIT_DIR=/ sh -c 'git status'",
    ]) {
      const result = check(command);
      expect(result.decision, command).toBe("deny");
      expect(check(command, "standard").decision, command).toBe("ask");
    }
    expect(check("GIT_DIR=/ git status").reason).toContain("`GIT_DIR=/ git status`");
    expect(check("GIT_PAGER='rm -rf ~' git log").reason).toContain("`GIT_PAGER='rm -rf ~' git log`");
  });

  it("can be allowed by naming them in the rule, exactly", async () => {
    await fx.userPolicy(
      "env.yaml",
      "allow:\n  - run_command(GIT_DIR=/srv/repo.git git status)\n  - run_command(NODE_OPTIONS=--max-old-space-size=4096 npm test)\n  - run_command(GREETING='hello world')\n",
    );
    const policies = await fx.load();
    const check = (command: string) => evaluatePermission(fx.query("run_command", { command }), policies).decision;
    expect(check("GIT_DIR=/srv/repo.git git status --short")).toBe("allow");
    expect(check("CI=1 GIT_DIR=/srv/repo.git git status")).toBe("allow"); // harmless extras are fine
    expect(check("env NODE_OPTIONS=--max-old-space-size=4096 npm test")).toBe("allow");
    expect(check('GREETING="hello world"; echo')).toBe("deny"); // echo itself is not allowed
    expect(check('GREETING="hello world"')).toBe("allow");
    expect(check("GREETING='hello world' rm -rf /")).toBe("deny"); // a rule of assignments only is no prefix
    expect(check("GIT_DIR=/other git status")).toBe("deny");
    expect(check("GIT_DIR=/srv/repo.git GIT_WORK_TREE=/ git status")).toBe("deny");
    expect(check("git status")).toBe("deny"); // the rule allows that assignment, not the bare command
  });

  it("never hide a command from a deny or ask rule", async () => {
    await fx.userPolicy(
      "deny.yaml",
      "allow:\n  - run_command\ndeny:\n  - run_command(rm)\n  - run_command(LD_PRELOAD=./x.so)\nask:\n  - run_command(git push)\n",
    );
    const policies = await fx.load();
    const check = (command: string) => evaluatePermission(fx.query("run_command", { command }), policies).decision;
    expect(check("GIT_DIR=/ git status")).toBe("allow"); // a bare `run_command` allows everything
    expect(check("FOO=1 rm -rf x")).toBe("deny");
    expect(check("env FOO=1 BAR=2 rm x")).toBe("deny");
    expect(check("LD_PRELOAD=./x.so FOO=1 ls")).toBe("deny");
    expect(check("GIT_SSH_COMMAND=x git push")).toBe("ask");
  });

  it("are recorded by an always answer exactly as approved", async () => {
    const query = fx.query("run_command", { command: "CI=1 GIT_DIR=/srv/repo.git git status" });
    const written = await persistAlwaysRule({ home: fx.home, query });
    expect(written.rules).toEqual(["run_command(GIT_DIR=/srv/repo.git git status)"]);
    const policies = await fx.load();
    expect(evaluatePermission(query, policies).decision).toBe("allow");
    expect(evaluatePermission(fx.query("run_command", { command: "GIT_DIR=/ git status" }), policies).decision).toBe(
      "deny",
    );
  });
});

describe("untrusted project policies", () => {
  it("cannot grant roots outside the project, and validatePolicyFiles says which line", async () => {
    await mkdir(join(fx.project, "packages", "shared"), { recursive: true });
    await symlink("/", join(fx.project, "escape"));
    const file = await fx.projectPolicy(
      [
        "roots:", // 1
        "  - /", // 2
        "  - ../sibling", // 3
        "  - ~/notes", // 4
        "  - packages/shared", // 5
        "  - escape", // 6 a committed symlink to /
        `  - ${join(fx.project, "docs")}`, // 7 absolute, but inside
        "",
      ].join("\n"),
    );
    const policies = await fx.load();
    expect(policies.extraRoots).toEqual([join(fx.project, "packages", "shared"), join(fx.project, "docs")]);
    const problems = await validatePolicyFiles({ home: fx.home, cwd: fx.project });
    expect(problems.map((problem) => [problem.file, problem.line])).toEqual([
      [file, 2],
      [file, 3],
      [file, 4],
      [file, 6],
    ]);
    expect(problems[0]?.message).toContain("outside the project");
    expect(problems[0]?.message).toContain("user policy");
    expect(problems[3]?.message).toContain("symbolic link");
  });

  it("cannot allow paths outside the project", async () => {
    const file = await fx.projectPolicy(
      [
        "allow:", // 1
        "  - write_file(~/.bashrc)", // 2
        "  - write_file(/etc/**)", // 3
        "  - edit_file(../other/**)", // 4
        "  - write_file(src/**)", // 5
        "  - write_file", // 6 every write, but only inside the project
        "  - run_command(echo)", // 7
        "  - run_command(cd)", // 8
        "deny:", // 9
        "  - read_file(~/.ssh/**)", // 10 restricting outside is fine
        "",
      ].join("\n"),
    );
    const problems = await validatePolicyFiles({ home: fx.home, cwd: fx.project });
    expect(problems.map((problem) => problem.line)).toEqual([2, 3, 4]);
    expect(problems.every((problem) => problem.file === file)).toBe(true);
    const policies = await fx.load();
    const decide = (tool: string, args: Record<string, unknown>) =>
      evaluatePermission(fx.query(tool, args), policies).decision;
    expect(decide("write_file", { path: "src/a.ts" })).toBe("allow");
    expect(decide("write_file", { path: "README.md" })).toBe("allow");
    expect(decide("write_file", { path: "/etc/passwd" })).toBe("ask");
    expect(decide("write_file", { path: "../other/x" })).toBe("ask");
    expect(decide("run_command", { command: "echo x > ~/.bashrc" })).toBe("ask");
    expect(decide("run_command", { command: "echo x > notes.txt" })).toBe("allow");
    expect(decide("run_command", { command: "cd $HOME && echo x > .bashrc" })).toBe("ask");
    expect(decide("read_file", { path: "~/.ssh/id_rsa" })).toBe("deny");
    // the same rules in a user policy apply as written
    await fx.userPolicy("mine.yaml", "allow:\n  - write_file(/etc/**)\n");
    expect(evaluatePermission(fx.query("write_file", { path: "/etc/hosts" }), await fx.load()).decision).toBe("allow");
  });
});

describe("default-deny guidance", () => {
  it("a run_command refused by the default rule carries the policy line that would allow it", async () => {
    await fx.userPolicy("dev.yaml", "allow:\n  - run_command(cd)\ndeny:\n  - run_command(git push)\n");
    const policies = await fx.load();
    const check = (command: string, extra: Partial<PermissionQuery> = {}) =>
      evaluatePermission(fx.query("run_command", { command }, extra), policies);
    const denied = check("npm test");
    expect(denied.decision).toBe("deny");
    expect(denied.suggestion).toBe("allow:\n  - run_command(npm test)\n");
    expect(check("cd pkg && make").suggestion).toBe("allow:\n  - run_command(cd pkg)\n  - run_command(make)\n");
    expect(check("git push").suggestion).toBeUndefined(); // an explicit deny: no way around it
    expect(check("make && git push").suggestion).toBeUndefined();
    expect(check("make && git push").reason).toContain("git push");
    expect(check("cd x").suggestion).toBeUndefined(); // allowed
    expect(check("npm test", { level: "standard" }).suggestion).toBeUndefined(); // asks instead
    expect(evaluatePermission(fx.query("write_file", { path: "a" }), policies).suggestion).toBeUndefined();
  });
});

describe("commands the gate cannot read", () => {
  it("are marked uncertain and carry no policy suggestion, while a readable one does", async () => {
    await fx.projectPolicy("allow:\n  - run_command(echo)\n");
    const policies = await fx.load();
    const doubtful = evaluatePermission(fx.query("run_command", { command: "echo a\r# ; touch M" }), policies);
    expect(doubtful.decision).toBe("ask");
    expect(doubtful.uncertain).toBe(true);
    expect(doubtful.suggestion).toBeUndefined();
    expect(doubtful.reason).toContain("carriage return");
    const denied = evaluatePermission(fx.query("run_command", { command: "rm -rf build" }), policies);
    expect(denied.decision).toBe("deny");
    expect(denied.uncertain).toBeUndefined();
    expect(denied.suggestion).toContain("run_command(rm -rf build)");
    expect(evaluatePermission(fx.query("run_command", { command: "echo hi" }), policies).uncertain).toBeUndefined();
  });
});
