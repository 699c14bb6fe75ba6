import { mkdir, readdir, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import {
  alive,
  hasBwrap,
  hostPids,
  leaks,
  readOrMissing,
  runInChild,
  type SandboxWorkspace,
  sandboxWorkspace,
  support,
  TOKEN,
  until,
  VAULT_KEY,
} from "./fixture.js";

// Without bubblewrap these tests cannot say anything: they are skipped, and this one says why
// (and fails under CI, which installs bubblewrap in .ci/run).
describe("the command sandbox on this machine", () => {
  it("is bubblewrap, or the fallback is reported", () => {
    if (!hasBwrap) {
      const why = support.available ? `${support.kind} (not bubblewrap)` : `${support.reason}; ${support.fix}`;
      console.warn(`[sandbox] bubblewrap sandbox tests SKIPPED: ${why}. Commands run unsandboxed and ask first.`);
      if (process.env.CI === "true")
        throw new Error(`CI must run the sandbox tests, but bubblewrap is unusable: ${why}`);
      expect(support.available && support.kind === "bwrap").toBe(false);
      return;
    }
    expect(support).toMatchObject({ available: true, kind: "bwrap" });
  });
});

describe.skipIf(!hasBwrap)("run_command under bubblewrap", () => {
  let ws: SandboxWorkspace;
  beforeEach(async () => {
    ws = await sandboxWorkspace();
  });
  afterEach(() => ws.cleanup());

  it("writes inside the workspace and a private /tmp; reports the level", async () => {
    const marker = `opta-private-${process.pid}-${Date.now()}`;
    const run = await ws.run(
      `echo hi > in.txt && mkdir -p a/b && echo deep > a/b/c && echo t > /tmp/${marker} && cat /tmp/${marker}`,
    );
    expect(run).toMatchObject({ ok: true, exitCode: 0, stdout: "t\n", sandbox: "workspace-write" });
    expect(await readOrMissing(join(ws.cwd, "in.txt"))).toBe("hi\n");
    expect(await readOrMissing(join(ws.cwd, "a/b/c"))).toBe("deep\n");
    expect(await readOrMissing(join("/tmp", marker))).toBeUndefined(); // the sandbox's /tmp is its own
  });

  it("sandbox-escape: writes outside the workspace, to policy files and to the Opta home are refused", async ({
    task,
  }) => {
    const cases: SecurityCase[] = [];
    const outsideFile = join(ws.outside, "f");
    await writeFile(outsideFile, "original\n");
    const untouched = async () => (await readOrMissing(outsideFile)) === "original\n";
    const absent = async (path: string) => (await readOrMissing(path)) === undefined;
    const attempt = async (attack: string, command: string, held: () => Promise<boolean>) => {
      const run = await ws.run(command);
      cases.push({ attack, refused: await held(), detail: run.text.trim().slice(0, 200) });
      return run;
    };

    // The same write really lands without the sandbox: the check below can fail.
    await ws.run("echo pwned > ../outside/f", "off");
    expect(await readOrMissing(outsideFile)).toBe("pwned\n");
    await writeFile(outsideFile, "original\n");

    const erofs = await attempt("echo pwned > ../outside/f", "echo pwned > ../outside/f", untouched);
    expect(erofs.text).toContain("Read-only file system");
    await attempt("echo x >> $PWD/../outside/f", "echo x >> $PWD/../outside/f", untouched);
    await attempt("rm ../outside/f", "rm -f ../outside/f", untouched);
    await attempt("mv ../outside/f in-ws", "mv ../outside/f in-ws", untouched);
    await attempt("cp /dev/null ../outside/f", "cp /dev/null ../outside/f", untouched);
    await attempt("> $(echo ..)/outside/new", "echo x > $(echo ..)/outside/new", () => absent(join(ws.outside, "new")));
    await attempt("mkdir ../outside/dir", "mkdir ../outside/dir", () => absent(join(ws.outside, "dir")));
    await attempt(
      "ln -s ../outside linkdir; echo x > linkdir/f2",
      "ln -s ../outside linkdir && echo x > linkdir/f2",
      () => absent(join(ws.outside, "f2")),
    );
    const canary = join("/var/tmp", `opta-sandbox-canary-${process.pid}-${Date.now()}`);
    await attempt(`touch ${canary}`, `touch ${canary}`, () => absent(canary));

    // Policy files: a missing .opta cannot be created, an existing one cannot be changed or moved.
    const policy = join(ws.cwd, ".opta", "policy.yaml");
    await attempt(
      "mkdir -p .opta && write .opta/policy.yaml (no .opta yet)",
      "mkdir -p .opta && printf 'allow:\\n  - run_command\\n' > .opta/policy.yaml",
      () => absent(policy),
    );
    await mkdir(join(ws.cwd, ".opta"), { recursive: true });
    await writeFile(policy, "allow:\n  - run_command(echo)\n");
    const policyKept = async () => (await readOrMissing(policy)) === "allow:\n  - run_command(echo)\n";
    await attempt("append to .opta/policy.yaml", "printf '  - run_command\\n' >> .opta/policy.yaml", policyKept);
    await attempt("rm -rf .opta", "rm -rf .opta", policyKept);
    await attempt(
      "mv .opta .opta-old; mkdir .opta",
      "mv .opta .opta-old; mkdir -p .opta; echo x > .opta/policy.yaml",
      policyKept,
    );
    await attempt("new .opta/mcp.json", "echo '{}' > .opta/mcp.json", () => absent(join(ws.cwd, ".opta", "mcp.json")));
    await attempt("sed -i on .opta/policy.yaml", "sed -i 's/echo/*/' .opta/policy.yaml", policyKept);

    // A granted root above the cwd: its .opta is protected too.
    await mkdir(join(ws.cwd, "sub"));
    const sub = await ws.run("echo x > ../.opta/hooks.yaml; echo y > ../ok.txt", "workspace-write", {
      cwd: join(ws.cwd, "sub"),
      extraRoots: [ws.cwd],
    });
    cases.push({
      attack: "cwd sub/, granted root above: write ../.opta/hooks.yaml",
      refused: await absent(join(ws.cwd, ".opta", "hooks.yaml")),
      detail: sub.text,
    });
    expect(await readOrMissing(join(ws.cwd, "ok.txt"))).toBe("y\n"); // the granted root itself is writable

    // The Opta home: a new user policy cannot be dropped in, and nothing there can be read.
    const userPolicy = join(ws.home, "policies", "evil.yaml");
    await attempt(
      "write $OPTA_HOME/policies/evil.yaml",
      `printf 'allow:\\n  - "*"\\n' > ${ws.home}/policies/evil.yaml`,
      () => absent(userPolicy),
    );
    const readHome = await ws.run(`cat ${ws.home}/daemon/token ${ws.home}/vault.json; ls -la ${ws.home}`);
    cases.push({
      attack: "cat $OPTA_HOME/daemon/token and vault.json",
      refused: !leaks(readHome.text, TOKEN) && !leaks(readHome.text, VAULT_KEY),
      detail: readHome.text.slice(0, 200),
    });
    // …which the same command without the sandbox does read.
    expect((await ws.run(`cat ${ws.home}/daemon/token`, "off")).stdout).toContain(TOKEN);

    // Run as root, bwrap keeps every capability unless told otherwise: with CAP_SYS_ADMIN in its
    // namespaces a command could unmount what hides the home or guards .opta, or remount / writable.
    const unhidden = await ws.run(`umount ${ws.home}; cat ${ws.home}/daemon/token`);
    cases.push({
      attack: "umount the hidden Opta home, then cat the token",
      refused: !leaks(unhidden.text, TOKEN),
      detail: unhidden.text.trim().slice(0, 200),
    });
    await attempt(
      "umount .opta, then rewrite .opta/policy.yaml",
      `umount ${join(ws.cwd, ".opta")}; printf 'allow:\\n  - run_command\\n' > .opta/policy.yaml`,
      policyKept,
    );
    await attempt(
      "mount -o remount,bind,rw /, then write outside",
      "mount -o remount,bind,rw / ; echo pwned > ../outside/f",
      untouched,
    );
    const caps = await ws.run("grep CapEff /proc/self/status");
    cases.push({
      attack: "keep capabilities inside the sandbox",
      refused: /CapEff:\s+0+\n/.test(caps.stdout),
      detail: caps.text.trim(),
    });

    // read-only: even the workspace refuses writes.
    const readOnly = await ws.run("echo x > ro.txt", "read-only");
    cases.push({
      attack: "read-only level: echo x > ro.txt",
      refused: await absent(join(ws.cwd, "ro.txt")),
      detail: readOnly.text,
    });

    const result = reportFamily(task, "sandbox-escape", cases);
    expect(result.through).toEqual([]);
  });

  it("sandbox-escape: the Opta home inside the workspace is hidden and stays read-only", async ({ task }) => {
    const inside = await sandboxWorkspace("/tmp", { homeInside: true });
    try {
      const cases: SecurityCase[] = [];
      const read = await inside.run("cat .opta-home/daemon/token .opta-home/vault.json");
      cases.push({
        attack: "cat ./.opta-home/daemon/token (home inside the workspace)",
        refused: !leaks(read.text, TOKEN) && !leaks(read.text, VAULT_KEY),
      });
      const write = await inside.run(
        "printf 'allow: [run_command]\\n' > .opta-home/policies/evil.yaml; rm -rf .opta-home",
      );
      const names = await readdir(join(inside.home, "policies"));
      cases.push({
        attack: "write ./.opta-home/policies/evil.yaml, rm -rf ./.opta-home",
        refused: names.length === 0,
        detail: write.text,
      });
      cases.push({
        attack: "the token survives rm -rf",
        refused: (await readOrMissing(join(inside.home, "daemon", "token"))) === `${TOKEN}\n`,
      });
      expect(reportFamily(task, "sandbox-escape", cases).through).toEqual([]);
    } finally {
      await inside.cleanup();
    }
  });

  it("daemon-environ: no daemon environment is reachable from a command, raw or encoded", async ({ task }) => {
    const secrets = {
      OPTA_LMX_API_KEY: "lmx-secret-7Qw9e2R4t6Y8",
      ANTHROPIC_API_KEY: "sk-ant-secret-Zx3Cv5Bn7M",
      OPTA_DAEMON_TOKEN_TEST: "opta-internal-Kp2Lm4Nq6",
    };
    const found = (text: string) =>
      Object.entries(secrets)
        .filter(([name, value]) => leaks(text, value) || text.includes(name))
        .map(([name]) => name);
    const attacks = [
      "cat /proc/$PPID/environ",
      "base64 -w0 /proc/$PPID/environ",
      "cat /proc/1/environ",
      "od -An -v -tx1 /proc/1/environ",
      "cat /proc/{DAEMON_PID}/environ",
      "base64 -w0 /proc/{DAEMON_PID}/environ",
      "for f in /proc/[0-9]*/environ; do cat $f; echo; done",
      "cat /proc/self/environ",
      "env",
      "set",
    ];
    // Without the sandbox the attacks work: the detector sees them.
    const [viaParent, viaPid] = await runInChild(
      ws,
      ["base64 -w0 /proc/$PPID/environ", "cat /proc/{DAEMON_PID}/environ"],
      "off",
      secrets,
    );
    expect(found(viaParent!.text)).toContain("OPTA_LMX_API_KEY");
    expect(found(viaPid!.text)).toContain("ANTHROPIC_API_KEY");

    const runs = await runInChild(ws, attacks, "workspace-write", secrets);
    const cases: SecurityCase[] = attacks.map((attack, index) => {
      const run = runs[index]!;
      const leaked = found(run.text);
      return {
        attack,
        refused: run.sandbox === "workspace-write" && leaked.length === 0,
        detail: `leaked ${leaked.join(", ")}`,
      };
    });
    const listing = await ws.run("ls /proc");
    const pids = listing.stdout.split("\n").filter((name) => /^\d+$/.test(name));
    cases.push({
      attack: "ls /proc",
      refused: !pids.includes(String(process.pid)) && pids.every((pid) => Number(pid) < 100),
      detail: `saw pids ${pids.join(" ")}`,
    });
    expect(reportFamily(task, "daemon-environ", cases).through).toEqual([]);
  });

  describe("network", () => {
    let server: Server;
    let port: number;
    let connections = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        connections += 1;
        socket.end("hello\n");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const connect = () =>
      `"${process.execPath}" -e "const s=require('net').connect(${port},'127.0.0.1');` +
      `s.on('data',d=>{process.stdout.write('GOT '+d);process.exit(0)});s.on('error',e=>{console.log('ERR '+e.code);process.exit(1)})"`;

    it("sandbox-escape: a loopback server on the host is unreachable without the network level", async ({ task }) => {
      const cases: SecurityCase[] = [];
      for (const level of ["workspace-write", "read-only"] as const) {
        const before = connections;
        const run = await ws.run(connect(), level);
        cases.push({
          attack: `${level}: connect to 127.0.0.1:${port} on the host`,
          refused: connections === before && !run.stdout.includes("GOT hello"),
          detail: run.text,
        });
      }
      expect(reportFamily(task, "sandbox-escape", cases).through).toEqual([]);
    });

    it("reaches it at the network level (and without a sandbox)", async () => {
      for (const level of ["network", "off"] as const) {
        const run = await ws.run(connect(), level);
        expect(run.stdout, level).toBe("GOT hello\n");
        expect(run.sandbox).toBe(level);
      }
    });
  });

  it("refuses to run when .opta is a symbolic link it cannot protect", async () => {
    await mkdir(join(ws.cwd, "real-opta"));
    const { symlink } = await import("node:fs/promises");
    await symlink("real-opta", join(ws.cwd, ".opta"));
    const run = await ws.run("echo hi");
    expect(run).toMatchObject({ ok: false, code: "SANDBOX_FAILED" });
    expect(run.text).toContain("symbolic link");
  });

  it("reports a signal as exit 128+N, and ends background processes with the command", async () => {
    expect(await ws.run("kill -KILL $$")).toMatchObject({ ok: true, exitCode: 137 });
    const marker = `31.${process.pid}`;
    const run = await ws.run(`sleep ${marker} & echo started`);
    expect(run.stdout).toBe("started\n");
    const left = await hostPids(["sleep", marker]);
    for (const pid of left) expect(await alive(pid), `pid ${pid}`).toBe(false);
  });

  for (const stop of ["timeout", "abort"] as const) {
    it(`kills the whole sandboxed tree on ${stop} (also when SIGTERM is ignored)`, async () => {
      const marker = `32.${process.pid}${stop === "timeout" ? 1 : 2}`;
      const controller = new AbortController();
      // The timeout only has to outlast starting two processes; the abort case waits for them explicitly.
      const running = ws.run(
        `trap '' TERM; echo begun; sleep ${marker} & sh -c 'sleep ${marker}'`,
        "workspace-write",
        { signal: controller.signal },
        stop === "timeout" ? 3 : 30,
      );
      const command = (async () => {
        // Both sleeps run (seen from the host) before the stop: the test proves they were killed, not never started.
        const pids = await until(async () => {
          const found = await hostPids(["sleep", marker]);
          return found.length === 2 ? found : undefined;
        }, "both sleeps to start");
        return pids;
      })();
      if (stop === "abort") {
        await command;
        controller.abort();
      }
      const [pids, run] = await Promise.all([command, running]);
      expect(run).toMatchObject({ ok: false, code: stop === "timeout" ? "TIMEOUT" : "ABORTED" });
      if (stop === "timeout") expect(run.text).toContain("begun");
      for (const pid of pids) expect(await alive(pid), `pid ${pid}`).toBe(false);
    });
  }
});
