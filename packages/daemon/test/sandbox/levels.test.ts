import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkSandbox } from "../../src/doctor/index.js";
import type { GateResult } from "../../src/permission/index.js";
import {
  bwrapArguments,
  detectSandbox,
  gateCommand,
  planSandbox,
  type SandboxPlan,
  type SandboxSupport,
  seatbeltArguments,
  seatbeltProfile,
} from "../../src/sandbox/index.js";
import { policyFixture } from "../permission/setup.js";
import { sandboxWorkspace } from "./fixture.js";

const MISSING = { OPTA_SANDBOX_BWRAP: "/nonexistent/bwrap" };
const unavailable = async (): Promise<SandboxSupport> => detectSandbox({ env: { ...process.env, ...MISSING } });

describe("where no sandbox works (OPTA_SANDBOX_BWRAP=/nonexistent/bwrap)", () => {
  it("detection reports it with the fix", async () => {
    const support = await unavailable();
    expect(support).toMatchObject({ available: false, kind: "none" });
    if (!support.available) {
      expect(support.reason).toContain("/nonexistent/bwrap");
      expect(support.fix).toContain("apt install bubblewrap");
      console.warn(`[sandbox] fallback reported: ${support.reason}; ${support.fix}`);
    }
  });

  it("opta doctor warns that commands run unsandboxed", async () => {
    const fixture = await policyFixture();
    try {
      const check = await checkSandbox(fixture.home, fixture.project, { ...process.env, ...MISSING });
      expect(check.status).toBe("warn");
      expect(check.detail).toContain("commands run unsandboxed");
      expect(check.fix).toContain("apt install bubblewrap");
      await fixture.userPolicy("me.yaml", "sandbox: off\n");
      const off = await checkSandbox(fixture.home, fixture.project, process.env);
      expect(off).toMatchObject({ status: "warn" });
      expect(off.detail).toContain("sandbox: off in");
    } finally {
      await fixture.cleanup();
    }
  });

  it("an allowed command asks, saying it runs unsandboxed; a deny stays a deny; sandbox: off allows", async () => {
    const allow: GateResult = { decision: "allow", reason: "`echo hi` allowed by a rule" };
    const asked = await gateCommand(allow, "workspace-write", unavailable);
    expect(asked.gate.decision).toBe("ask");
    expect(asked.gate.reason).toContain("runs unsandboxed");
    expect(asked.sandbox).toBe("unavailable");
    const deny: GateResult = { decision: "deny", reason: "denied by a rule" };
    expect((await gateCommand(deny, "network", unavailable)).gate.decision).toBe("deny");
    const off = await gateCommand(allow, "off", unavailable);
    expect(off).toMatchObject({ gate: { decision: "allow" }, sandbox: "off" });
    const offAsk = await gateCommand({ decision: "ask", reason: "needs approval" }, "off", unavailable);
    expect(offAsk.gate.reason).toContain("runs unsandboxed (sandbox: off)");
  });

  it("run_command still runs, and its result says it was unsandboxed", async () => {
    const ws = await sandboxWorkspace(tmpdir());
    const saved = process.env.OPTA_SANDBOX_BWRAP;
    process.env.OPTA_SANDBOX_BWRAP = MISSING.OPTA_SANDBOX_BWRAP;
    try {
      const run = await ws.run("echo hi");
      expect(run).toMatchObject({ ok: true, stdout: "hi\n", sandbox: "unavailable" });
    } finally {
      if (saved === undefined) delete process.env.OPTA_SANDBOX_BWRAP;
      else process.env.OPTA_SANDBOX_BWRAP = saved;
      await ws.cleanup();
    }
  });
});

describe("sandbox levels in policy files", () => {
  let fixture: Awaited<ReturnType<typeof policyFixture>>;
  beforeEach(async () => {
    fixture = await policyFixture();
  });
  afterEach(() => fixture.cleanup());

  it("project beats user, and the default is none (workspace-write)", async () => {
    expect((await fixture.load()).sandbox).toBeUndefined();
    await fixture.userPolicy("me.yaml", "sandbox: network\n");
    expect((await fixture.load()).sandbox).toMatchObject({ level: "network", line: 1 });
    const project = await fixture.projectPolicy("sandbox: read-only\nallow:\n  - run_command(npm test)\n");
    expect((await fixture.load()).sandbox).toEqual({ level: "read-only", source: project, line: 1 });
  });

  it("an invalid level, and off in a project policy, are problems and change nothing", async () => {
    await fixture.userPolicy("me.yaml", "sandbox: none\n");
    let set = await fixture.load();
    expect(set.sandbox).toBeUndefined();
    expect(set.problems.map((problem) => problem.message)).toEqual([
      "sandbox must be one of workspace-write, read-only, network, off",
    ]);
    await fixture.userPolicy("me.yaml", "sandbox: off\n");
    await fixture.projectPolicy("sandbox: off\n");
    set = await fixture.load();
    expect(set.sandbox?.level).toBe("off"); // the user's off counts, the project's does not
    expect(set.problems[0]?.message).toContain("sandbox: off is only honoured in a user policy");
    // OPTA_POLICY=unrestricted lifts prompts, not the sandbox.
    await fixture.userPolicy("me.yaml", "");
    const unrestricted = await fixture.load({ OPTA_POLICY: "unrestricted" });
    expect(unrestricted.unrestricted).toBe(true);
    expect(unrestricted.sandbox).toBeUndefined();
  });
});

describe("the mounts and the Seatbelt profile", () => {
  let root: string;
  beforeEach(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), "opta-plan-")));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it("bwrap: host read-only, roots writable, .opta read-only or blocked, home hidden, no network", async () => {
    const ws = join(root, "ws");
    const granted = join(root, "granted");
    const home = join(root, "home");
    await mkdir(join(ws, ".opta"), { recursive: true });
    await mkdir(granted);
    await mkdir(home);
    const plan = await planSandbox({ level: "workspace-write", cwd: ws, roots: [ws, granted], home });
    expect(plan).toMatchObject({ protect: [join(ws, ".opta")], block: [join(granted, ".opta")], hide: [home] });
    const args = bwrapArguments(plan);
    expect(args.join(" ")).toBe(
      [
        "--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp",
        `--bind ${ws} ${ws} --bind ${granted} ${granted}`,
        `--ro-bind ${ws}/.opta ${ws}/.opta`,
        `--tmpfs ${granted}/.opta --remount-ro ${granted}/.opta --tmpfs ${home} --remount-ro ${home}`,
        `--unshare-all --cap-drop ALL --die-with-parent --new-session --chdir ${ws} --`,
      ].join(" "),
    );
    const network = bwrapArguments(await planSandbox({ level: "network", cwd: ws, roots: [ws], home }));
    expect(network).toContain("--share-net");
    const readOnly = await planSandbox({ level: "read-only", cwd: ws, roots: [ws], home });
    expect(readOnly).toMatchObject({ writable: false, protect: [], block: [] });
    expect(bwrapArguments(readOnly).join(" ")).toContain(`--ro-bind ${ws} ${ws}`);
  });

  it("Seatbelt: writes only to roots and temp, policy dirs and the home denied, network denied", () => {
    const plan: SandboxPlan = {
      level: "workspace-write",
      cwd: "/Users/me/project",
      roots: ["/Users/me/project"],
      writable: true,
      protect: ["/Users/me/project/.opta"],
      block: [],
      hide: ['/Users/me/.config/op"ta'],
      network: false,
    };
    const { profile, params } = seatbeltProfile(plan, ["/private/tmp"]);
    expect(profile).toBe(
      [
        "(version 1)",
        "(allow default)",
        "(deny file-write*)",
        '(allow file-write* (subpath (param "ROOT_0")) (subpath (param "TMP_0")) (literal "/dev/null") (literal "/dev/zero") (literal "/dev/tty") (subpath "/dev/fd"))',
        '(deny file-write* (subpath (param "POLICY_0")))',
        '(deny file-read* file-write* (subpath (param "HIDE_0")))',
        "(deny network*)",
        "",
      ].join("\n"),
    );
    // A path with a quote travels as a parameter, never inside the profile text.
    expect(params).toEqual({
      ROOT_0: "/Users/me/project",
      TMP_0: "/private/tmp",
      POLICY_0: "/Users/me/project/.opta",
      HIDE_0: '/Users/me/.config/op"ta',
    });
    expect(seatbeltArguments({ profile, params }).slice(2, 4)).toEqual(["-D", "ROOT_0=/Users/me/project"]);
    const network = seatbeltProfile({ ...plan, level: "network", network: true }, []).profile;
    expect(network).not.toContain("network*");
    const readOnly = seatbeltProfile({ ...plan, level: "read-only", writable: false, protect: [] }, ["/private/tmp"]);
    expect(readOnly.profile).not.toContain("ROOT_0");
  });

  it("a missing Opta home inside the workspace cannot be created", async () => {
    const ws = join(root, "ws");
    await mkdir(ws);
    await writeFile(join(ws, "file"), "");
    const plan = await planSandbox({ level: "workspace-write", cwd: ws, roots: [ws], home: join(ws, "home") });
    expect(plan.block).toEqual([join(ws, ".opta"), join(ws, "home")]);
    expect(plan.hide).toEqual([]);
  });
});
