// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell text, where ${…} is the shell's own syntax
/**
 * The command gate against attacks, replayed for real. Every case runs under each shell the
 * agent's commands may meet (/bin/dash is /bin/sh on Debian; /bin/bash): in a fresh workspace with
 * a canary (`M` in the workspace, or a file outside it), the gate judges the command; only if it
 * says allow does the command run. A case is refused only if the canary is untouched. Each attack
 * also runs unguarded in a scratch copy, to show that it really reaches the canary under at least
 * one shell: a table that cannot fail proves nothing.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { evaluatePermission, loadPolicies, loadShellGrammar } from "../../src/permission/index.js";

const SHELLS = ["/bin/dash", "/bin/bash"].filter((shell) => existsSync(shell));

/** One attack: the command, the file it reaches (relative to the layout root) and any extra setup. */
interface Attack {
  command: string;
  /** The file the attack creates when it gets through: `work/M` (shell-gate) or `outside/f` (redirect-escape). */
  canary?: string;
  setup?: (root: string) => void;
  /** Point 1 or 2 of the issue: the unguarded run must reach the canary under some shell. */
  mustWork?: boolean;
}

/** Point 1 of issue 18, then the forms the old lexer already refused, each aiming at `touch M`. */
const SHELL_GATE: Attack[] = [
  { command: "echo a\r# ; touch M", mustWork: true },
  { command: "echo ${x:-{}; touch M; echo }", mustWork: true },
  { command: 'echo "${x:-\'}"; touch M; echo "\'}"', mustWork: true },
  { command: "echo $'\\\\'; touch M #'", mustWork: true },
  { command: "cat <<E\\ F\nx\nE F\ntouch M\nE\\ F\n", mustWork: true },
  { command: "ls <<E\\ F\nx\nE F\ntouch M\nE\\ F\n", mustWork: true },
  { command: "echo a\f# ; touch M", mustWork: true },
  { command: "echo a\v# ; touch M", mustWork: true },
  // A line continuation inside a word: dash joins `a` and `#` into one word, the grammar starts a comment.
  { command: "echo a\\\n# ; touch M", mustWork: true },
  { command: "echo a\\ \\\n# ; touch M", mustWork: true },
  { command: "ls &\\\n& touch M" },
  // /usr/bin/time (dash has no `time` keyword) writes its report where -o says.
  { command: "time -o M ls", mustWork: true },
  { command: "time --output=M ls", mustWork: true },
  { command: "timeout 5 time -f x -o M ls", mustWork: true },
  { command: "ls\r\ntouch M" },
  { command: "ls && touch M" },
  { command: "ls; touch M" },
  { command: "ls /nonexistent || touch M" },
  { command: "ls & touch M" },
  { command: "ls | touch M" },
  { command: "echo hi\ntouch M" },
  { command: "echo $(touch M)" },
  { command: "echo `touch M`" },
  { command: 'echo "$(touch M)"' },
  { command: "ls $(touch M)" },
  { command: "echo ${x:-$(touch M)}" },
  { command: "X=$(touch M) ls" },
  { command: "echo $(echo)$(touch M)" },
  { command: "echo touch M | sh" },
  { command: "echo touch M | bash" },
  { command: "env touch M" },
  { command: "env X=1 touch M" },
  { command: "env -i touch M" },
  { command: "bash -c 'touch M'" },
  { command: "sh -c 'touch M'" },
  { command: 'sh -c "ls; touch M"' },
  { command: "eval touch M" },
  { command: "eval 'ls; touch M'" },
  { command: "exec touch M" },
  { command: "echo M | xargs touch" },
  { command: "ls | xargs -I{} touch M" },
  { command: "find . -maxdepth 0 -exec touch M \\;" },
  { command: "find . -maxdepth 0 -execdir touch M +" },
  { command: "IFS=,; X=touch,M; $X" },
  { command: "IFS=, X=touch,M; $X" },
  { command: "ls <<EOF\n$(touch M)\nEOF" },
  { command: "echo <<EOF\n`touch M`\nEOF" },
  { command: "ls <<'EOF'\nx\nEOF\ntouch M" },
  { command: "ls <(touch M)" },
  { command: "echo >(touch M)" },
  { command: "alias ls='touch M'\nls" },
  { command: "ls() { touch M; }; ls" },
  { command: "echo() { touch M; }; echo" },
  { command: "/usr/bin/touc? M" },
  { command: "/usr/bin/tou* M" },
  { command: "/usr/bin/to[u]ch M" },
  { command: "$(echo touch) M" },
  { command: "`echo touch` M" },
  { command: "${T:-touch} M" },
  {
    command: "PATH=./bin:$PATH ls",
    setup: (root) => fakeLs(root),
  },
  {
    command: "PATH=./bin:$PATH; ls",
    setup: (root) => fakeLs(root),
  },
  {
    command: "PATH=bin ls",
    setup: (root) => fakeLs(root),
  },
  {
    command: "./bin/ls",
    setup: (root) => fakeLs(root),
  },
  {
    command: ". ./bin/ls",
    setup: (root) => fakeLs(root),
  },
  { command: "timeout 5 touch M" },
  { command: "nohup touch M" },
  { command: "command touch M" },
  { command: "t\\ouch M" },
  { command: "'touch' M" },
  { command: "(touch M)" },
  { command: "{ touch M; }" },
  { command: "if ls; then touch M; fi" },
  { command: "ls #\\\ntouch M" },
  { command: "echo $((0))$(touch M)" },
  { command: "echo {a,b}; touch M" },
  { command: "echo x > M" },
  { command: "ls > M" },
  { command: "trap 'touch M' EXIT; ls" },
];

/** Point 2 of issue 18 and its relatives: a redirection (or cd) that writes outside the workspace. */
const REDIRECT_ESCAPE: Attack[] = [
  { command: "echo x > $PWD/../outside/f", mustWork: true },
  { command: "echo x >> $HOME/.bashrc", canary: "userhome/.bashrc", mustWork: true },
  { command: "echo x > ${HOME}/f", canary: "userhome/f", mustWork: true },
  { command: "echo x > $(echo ..)/outside/f", mustWork: true },
  { command: "echo x > linkdir/f", mustWork: true },
  { command: "echo x > ../outside/f", mustWork: true },
  { command: "time -o ../outside/f ls", mustWork: true },
  { command: "time -a --output=$HOME/.bashrc ls", canary: "userhome/.bashrc", mustWork: true },
  { command: "echo x > linkdir/../outside/f" },
  {
    command: "echo x > dangling",
    setup: (root) => symlinkSync(join(root, "outside", "f"), join(root, "work", "dangling")),
  },
  { command: 'echo x > "../outside/f"' },
  { command: "echo x > ..\\/outside/f" },
  { command: "echo x 2> ../outside/f" },
  { command: "ls &> ../outside/f" },
  { command: "echo x >| ../outside/f" },
  { command: "echo x 1<> ../outside/f" },
  { command: "echo x > ../outsid?/f" },
  { command: "echo x > `echo ..`/outside/f" },
  { command: "echo x > ~/f", canary: "userhome/f", setup: () => undefined },
  { command: "echo x > $OLDPWD/../outside/f" },
  { command: "cd .. && echo x > outside/f" },
  { command: "cd linkdir && echo x > f" },
  { command: "cd ../outside; echo x > f" },
  { command: "cd $HOME && echo x > f", canary: "userhome/f" },
  { command: "cd && echo x > f", canary: "userhome/f" },
  { command: "echo x > /dev/null; echo x > ../outside/f" },
  { command: "{ echo x; } > ../outside/f" },
  { command: "(echo x) > linkdir/f" },
  { command: "ls && echo x > ../outside/f" },
  { command: "echo x | ls > ../outside/f" },
];

/**
 * Options of prefix-allowed programs (`run_command(npm test)`, `run_command(git log)`) that run
 * code the command line does not name. The workspace is a package with a harmless test script and
 * a git repository with one commit.
 */
// NODE_OPTIONS drops bare double quotes; the data: URL decodes %22 back into them.
const IMPORT_TOUCH =
  "--node-options=--import=data:text/javascript,import{writeFileSync}from%22fs%22;writeFileSync(%22M%22,%22%22)";
const PROGRAM_OPTIONS: Attack[] = [
  { command: `npm test '${IMPORT_TOUCH}'`, mustWork: true },
  { command: `for o in '${IMPORT_TOUCH}'; do npm test $o; done`, mustWork: true },
  { command: "npm test --script-shell=./bin/ls", setup: (root) => fakeLs(root), mustWork: true },
  {
    command: "npm test --prefix ../outside",
    setup: (root) => writePackage(join(root, "outside"), "touch ../work/M"),
    mustWork: true,
  },
  {
    command: "git log -1 --format='[core]%n\tfsmonitor = touch M' --output=.git/config; git status",
    mustWork: true,
  },
  { command: "git status -c core.fsmonitor='touch M'" },
];

function writePackage(dir: string, test: string): void {
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "p", version: "1.0.0", scripts: { test } }));
}

/** A real repository with one commit, and a package whose test script only prints. */
function packageAndRepository(root: string): void {
  const work = join(root, "work");
  rmSync(join(work, ".git"), { recursive: true, force: true });
  const git = (...args: string[]) =>
    spawnSync("git", ["-c", "user.email=t@t", "-c", "user.name=t", ...args], { cwd: work, encoding: "utf8" });
  git("init", "-q");
  git("commit", "-q", "--allow-empty", "-m", "init");
  writePackage(work, "node -e \"console.log('tests ok')\"");
}

/** A `bin/ls` in the workspace that touches M (PATH tricks and sourcing). */
function fakeLs(root: string): void {
  mkdirSync(join(root, "work", "bin"));
  writeFileSync(join(root, "work", "bin", "ls"), "#!/bin/sh\ntouch M\n");
  chmodSync(join(root, "work", "bin", "ls"), 0o755);
}

let scratch: string;
beforeAll(async () => {
  await loadShellGrammar();
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "opta-shell-attacks-")));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let layouts = 0;
/**
 * root/work (the workspace, a repository, with linkdir → ../outside), root/outside,
 * root/userhome (the shell's $HOME), root/opta (OPTA_HOME with the policy).
 */
function layout(attack: Attack, prepare?: (root: string) => void): string {
  const root = join(scratch, `l${layouts++}`);
  for (const dir of ["work/.git", "work/src", "outside", "userhome", "opta/policies"])
    mkdirSync(join(root, dir), { recursive: true });
  symlinkSync("../outside", join(root, "work", "linkdir"));
  prepare?.(root);
  attack.setup?.(root);
  return root;
}

function run(shell: string, command: string, root: string) {
  return spawnSync(shell, ["-c", command], {
    cwd: join(root, "work"),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(root, "userhome") },
    timeout: 10_000,
    encoding: "utf8",
  });
}

/** Replays each attack under each shell: unguarded (does it work?) and through the gate (is it refused?). */
async function replay(attacks: readonly Attack[], policy: string, target: string, prepare?: (root: string) => void) {
  const cases: SecurityCase[] = [];
  const ineffective: string[] = [];
  for (const attack of attacks) {
    const canary = attack.canary ?? target;
    let works = false;
    for (const shell of SHELLS) {
      const bare = layout(attack, prepare);
      run(shell, attack.command, bare);
      if (existsSync(join(bare, canary))) works = true;

      const root = layout(attack, prepare);
      writeFileSync(join(root, "opta", "policies", "dev.yaml"), policy);
      const cwd = join(root, "work");
      const policies = await loadPolicies({ home: join(root, "opta"), cwd, env: {} });
      const query = {
        tool: "run_command",
        args: { command: attack.command },
        kind: "execute" as const,
        cwd,
        mode: "do" as const,
        level: "safe" as const,
      };
      const gate = evaluatePermission(query, policies);
      // ask: a non-interactive run denies it, an interactive one waits for the user; neither runs it now.
      if (gate.decision === "allow") run(shell, attack.command, root);
      const reached = existsSync(join(root, canary));
      cases.push({
        attack: `${JSON.stringify(attack.command)} under ${shell}`,
        refused: !reached,
        ...(reached ? { detail: `gate: ${gate.decision}: ${gate.reason}` } : {}),
      });
    }
    if (attack.mustWork && !works) ineffective.push(attack.command);
  }
  return { cases, ineffective };
}

const ECHO_LS = "allow:\n  - run_command(echo)\n  - run_command(ls)\n";
const ECHO_LS_WRITE = `${ECHO_LS}  - write_file\n`;

describe("the command gate, replayed under dash and bash", () => {
  it("has a shell to replay under", () => {
    expect(SHELLS.length).toBeGreaterThan(0);
  });

  it("refuses commands it could read differently from the shell (shell-gate)", async ({ task }) => {
    const { cases, ineffective } = await replay(SHELL_GATE, ECHO_LS, "work/M");
    expect(ineffective, "these attacks no longer reach their canary unguarded; fix the table").toEqual([]);
    const result = reportFamily(task, "shell-gate", cases);
    expect(result.through).toEqual([]);
  });

  it("refuses options that make an allowed program run other code (shell-gate)", async ({ task }) => {
    const policy = "allow:\n  - run_command(npm test)\n  - run_command(git status)\n  - run_command(git log)\n";
    const { cases, ineffective } = await replay(PROGRAM_OPTIONS, policy, "work/M", packageAndRepository);
    expect(ineffective, "these attacks no longer reach their canary unguarded; fix the table").toEqual([]);
    const result = reportFamily(task, "shell-gate", cases);
    expect(result.through).toEqual([]);

    // The everyday forms stay allowed.
    const root = layout({ command: "" }, packageAndRepository);
    writeFileSync(join(root, "opta", "policies", "dev.yaml"), policy);
    const cwd = join(root, "work");
    const policies = await loadPolicies({ home: join(root, "opta"), cwd, env: {} });
    for (const command of [
      "npm test",
      "npm test -- --watch=false --reporter=$R",
      "npm test -w packages/daemon",
      "git status --short",
      "git log --oneline -5",
    ]) {
      const result = evaluatePermission(
        { tool: "run_command", args: { command }, kind: "execute", cwd, mode: "do", level: "safe" },
        policies,
      );
      expect(result.decision, `${command}: ${result.reason}`).toBe("allow");
    }
  });

  it("refuses redirections and cds that leave the workspace (redirect-escape)", async ({ task }) => {
    const { cases, ineffective } = await replay(REDIRECT_ESCAPE, ECHO_LS_WRITE, "outside/f");
    expect(ineffective, "these attacks no longer reach their canary unguarded; fix the table").toEqual([]);
    const result = reportFamily(task, "redirect-escape", cases);
    expect(result.through).toEqual([]);
  });

  it("still allows the certain commands it is given rules for", async () => {
    const root = layout({ command: "" });
    writeFileSync(join(root, "opta", "policies", "dev.yaml"), ECHO_LS_WRITE);
    const cwd = join(root, "work");
    const policies = await loadPolicies({ home: join(root, "opta"), cwd, env: {} });
    const decide = (command: string) =>
      evaluatePermission(
        { tool: "run_command", args: { command }, kind: "execute", cwd, mode: "do", level: "safe" },
        policies,
      );
    for (const command of [
      "echo hi",
      "ls -la src",
      "ls \\\n  -la src", // a continuation after a blank only removes white space
      "echo a && ls",
      "time -p ls",
      "time -o timing.txt ls", // a write inside the workspace, which write_file allows
      "echo x > out.txt",
      "echo x >> src/log.txt 2>&1",
      "echo 'a; b' \"$HOME\" | ls",
      "ls > /dev/null",
      "echo x > linkdir/../work/inside.txt", // linkdir/.. is the layout root: back inside
    ]) {
      const result = decide(command);
      expect(result.decision, `${command}: ${result.reason}`).toBe("allow");
    }
    const ask = decide("echo a\r# ; touch M");
    expect(ask.decision).toBe("ask");
    expect(ask.reason).toContain("carriage return");
    // /proc/self/cwd is the gate's (the daemon's) cwd when the gate resolves it, the shell's when it runs.
    for (const target of ["/proc/self/cwd/../f", "/dev/fd/3/f", `/proc/${process.pid}/cwd/f`]) {
      const proc = decide(`ls 3<.. > ${target}`);
      expect(proc.decision, target).toBe("ask");
      expect(proc.reason, target).toContain("goes through /proc");
    }
    const outside = decide("echo x > linkdir/f");
    expect(outside.decision).toBe("ask");
    expect(outside.reason).toContain(join(root, "outside", "f"));
  });
});
