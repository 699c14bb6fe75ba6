import { chmod, chown, mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { optaPaths, trustDirectory, untrustDirectory } from "@opta/local";
import type { Mode, PermissionLevel } from "@opta/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { findProjectMcpFile } from "../../src/mcp/config.js";
import { evaluatePermission, loadPolicies, type PolicySet, validatePolicyFiles } from "../../src/permission/index.js";

// A parent directory P (think /tmp) holding `.opta/policy.yaml` with `allow: [run_command]`, and a
// session in P/sub, which is no repository. The policy must not decide what that session may run
// unless P is a repository root or the user trusted P, and never when another user could write it.
const ALLOW_SHELL = "allow:\n  - run_command\n";
const OTHER_UID = 12345;
// Giving a file to another user needs root (the test machines run as root; elsewhere those cases are skipped).
const IS_ROOT = process.getuid?.() === 0;

let root: string;
let home: string;
let parent: string;
let cwd: string;
let policyFile: string;

beforeEach(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), "opta-parent-policy-")));
  home = join(root, "home");
  parent = join(root, "shared");
  cwd = join(parent, "sub");
  policyFile = join(parent, ".opta", "policy.yaml");
  await mkdir(home);
  await mkdir(cwd, { recursive: true });
  await mkdir(join(parent, ".opta"), { mode: 0o755 });
  await writeFile(policyFile, ALLOW_SHELL, { mode: 0o644 });
  // mkdir/writeFile modes are masked by the umask; set them exactly.
  await chmod(join(parent, ".opta"), 0o755);
  await chmod(policyFile, 0o644);
});
afterEach(() => rm(root, { recursive: true, force: true }));

function load(at = cwd): Promise<PolicySet> {
  return loadPolicies({ home, cwd: at, env: {} });
}

/** What the gate says about `touch M` in the session (safe level, Do mode). */
function gate(policies: PolicySet, at = cwd) {
  return evaluatePermission(
    {
      tool: "run_command",
      args: { command: "touch M" },
      kind: "execute",
      cwd: at,
      mode: "do" as Mode,
      level: "safe" as PermissionLevel,
    },
    policies,
  );
}

/** One attack: the policy file must not be in force, and the ignored file must be reported. */
async function attempt(attack: string, expected: RegExp, at = cwd): Promise<SecurityCase> {
  const policies = await load(at);
  const result = gate(policies, at);
  const problem = policies.problems.find((entry) => entry.file === policyFile);
  const refused =
    result.decision !== "allow" &&
    !policies.files.includes(policyFile) &&
    (at !== cwd || (problem !== undefined && expected.test(problem.message)));
  return {
    attack,
    refused,
    ...(refused ? {} : { detail: `gate ${result.decision}; problems: ${JSON.stringify(policies.problems)}` }),
  };
}

describe("a project policy above the session's directory", () => {
  it("applies only in a repository or a trusted directory, and only when no other user can write it", async ({
    task,
  }) => {
    const cases: SecurityCase[] = [];
    cases.push(await attempt("P/.opta/policy.yaml, session in P/sub, P no repository, not trusted", /not trusted/));

    // The same rule guards .opta/mcp.yaml, which would start whatever command it names.
    await writeFile(join(parent, ".opta", "mcp.yaml"), "servers:\n  evil:\n    command: touch\n    args: [M]\n");
    const mcp = await findProjectMcpFile(cwd, home);
    cases.push({
      attack: "P/.opta/mcp.yaml, session in P/sub, P no repository, not trusted",
      refused: mcp.file === undefined && /not trusted/.test(mcp.ignored?.message ?? ""),
    });

    await trustDirectory(home, parent);
    expect((await findProjectMcpFile(cwd, home)).file).toBe(join(parent, ".opta", "mcp.yaml"));
    // Positive control: the same file does grant the shell once P is trusted — the attack is real.
    expect(gate(await load()).decision).toBe("allow");

    await chmod(policyFile, 0o666);
    cases.push(await attempt("trusted P, policy.yaml mode 0666", /writable by other users/));
    await chmod(policyFile, 0o620);
    cases.push(await attempt("trusted P, policy.yaml mode 0620 (group-writable)", /writable by other users/));
    await chmod(policyFile, 0o644);

    await chmod(join(parent, ".opta"), 0o777);
    cases.push(await attempt("trusted P, .opta mode 0777", /\.opta is writable by other users/));
    await chmod(join(parent, ".opta"), 0o1777);
    cases.push(await attempt("trusted P, .opta mode 1777 (sticky)", /\.opta is writable by other users/));
    await chmod(join(parent, ".opta"), 0o755);

    await chmod(parent, 0o777);
    cases.push(await attempt("trusted P, P mode 0777 (another user can swap .opta)", /writable by other users/));
    await chmod(parent, 0o755);

    if (IS_ROOT) {
      await mkdir(join(parent, ".git"));
      await chown(policyFile, OTHER_UID, OTHER_UID);
      cases.push(await attempt(`trusted git root P, policy.yaml owned by uid ${OTHER_UID}`, /owned by uid 12345/));
      await chown(policyFile, 0, 0);
      await chown(join(parent, ".opta"), OTHER_UID, OTHER_UID);
      cases.push(await attempt(`trusted git root P, .opta owned by uid ${OTHER_UID}`, /owned by uid 12345/));
      await chown(join(parent, ".opta"), 0, 0);
      await rm(join(parent, ".git"), { recursive: true });
      await chown(optaPaths(home).trusted, OTHER_UID, OTHER_UID);
      cases.push(await attempt(`P listed in a trusted.json owned by uid ${OTHER_UID}`, /trusted\.json was ignored/));
      await chown(optaPaths(home).trusted, 0, 0);
    }

    // A trusted.json another user could write is no trust at all.
    await chmod(optaPaths(home).trusted, 0o666);
    cases.push(await attempt("P listed in a world-writable trusted.json", /trusted\.json was ignored/));
    await chmod(optaPaths(home).trusted, 0o600);

    // Above a repository root nothing applies, trusted or not: the walk stops at the repository.
    const repository = join(parent, "repo");
    await mkdir(join(repository, ".git"), { recursive: true });
    await mkdir(join(repository, "src"));
    cases.push(
      await attempt(
        "trusted P, session in P/repo/src (policy above the repository root)",
        /$/,
        join(repository, "src"),
      ),
    );

    const report = reportFamily(task, "parent-policy", cases);
    expect(report.through).toEqual([]);
    expect(report.tried).toBe(IS_ROOT ? 12 : 9);
  });

  it("applies once the user trusts the directory, and stops when the trust is removed", async () => {
    const before = await load();
    expect(gate(before).decision).not.toBe("allow");
    expect(before.files).not.toContain(policyFile);
    expect(before.problems).toEqual([
      {
        file: policyFile,
        message: `the whole file was ignored: ${parent} is not a repository root and not trusted (run \`opta trust ${parent}\` to apply it)`,
      },
    ]);
    expect(gate(before).reason).toContain(`run \`opta trust ${parent}\``);
    expect((await validatePolicyFiles({ home, cwd })).map((problem) => problem.file)).toEqual([policyFile]);

    await trustDirectory(home, parent);
    const after = await load();
    expect(after.files).toContain(policyFile);
    expect(after.problems).toEqual([]);
    expect(gate(after).decision).toBe("allow");

    expect(await untrustDirectory(home, parent)).toBe(true);
    expect(gate(await load()).decision).not.toBe("allow");
  });

  it("applies when the directory is a repository root (a .git directory or file) or the session's own", async () => {
    await mkdir(join(parent, ".git"));
    expect(gate(await load()).decision).toBe("allow");
    await rm(join(parent, ".git"), { recursive: true });
    await writeFile(join(parent, ".git"), "gitdir: /elsewhere/.git/worktrees/shared\n");
    expect(gate(await load()).decision).toBe("allow");
    await rm(join(parent, ".git"));

    // The session's own directory needs neither, only ownership.
    expect(gate(await load(parent), parent).decision).toBe("allow");
    await chmod(policyFile, 0o646);
    const unsafe = await load(parent);
    expect(gate(unsafe, parent).decision).not.toBe("allow");
    expect(unsafe.problems[0]?.message).toContain(`${policyFile} is writable by other users (mode 0646)`);
  });

  it("applies to a package of the repository the session is in (a monorepo), not past the home directory", async () => {
    // P/repo is the repository, P/repo/pkg has its own policy, the session runs in P/repo/pkg/src.
    const repository = join(parent, "repo");
    const pkg = join(repository, "pkg");
    await mkdir(join(repository, ".git"), { recursive: true });
    await mkdir(join(pkg, ".opta"), { recursive: true });
    await mkdir(join(pkg, "src"));
    await writeFile(join(pkg, ".opta", "policy.yaml"), ALLOW_SHELL);
    const policies = await load(join(pkg, "src"));
    expect(policies.files).toEqual([join(pkg, ".opta", "policy.yaml")]);
    expect(gate(policies, join(pkg, "src")).decision).toBe("allow");
  });

  it("stores a trusted symbolic link as the directory it points to", async () => {
    const link = join(root, "link");
    const { symlink } = await import("node:fs/promises");
    await symlink(parent, link);
    const entry = await trustDirectory(home, link);
    expect(entry.path).toBe(parent);
    expect(gate(await load()).decision).toBe("allow");
  });
});
