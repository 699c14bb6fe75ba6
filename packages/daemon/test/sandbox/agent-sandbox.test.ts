import { mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { startScriptedServer } from "../fixtures/scripted-openai-server.js";
import { hasBwrap, leaks, readOrMissing } from "./fixture.js";

type Event = Record<string, unknown> & { event: string; seq: number };

/** One daemon with its model script, home and workspace, and the calls the tests make. */
async function startDaemon(env: Record<string, string>, policy: string) {
  const model = await startScriptedServer();
  const homeDir = await tempHome("opta-home-");
  const work = await tempHome("opta-work-");
  await mkdir(join(homeDir.home, "policies"), { recursive: true });
  await writeFile(join(homeDir.home, "policies", "user.yaml"), policy);
  const workspace = await realpath(work.home);
  const daemon: DaemonProcess = await spawnDaemon(homeDir.home, { OPTA_LMX_HOST: model.host, ...env });
  const call = api(daemon);
  const events = async (id: string) =>
    ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  return {
    model,
    workspace,
    home: homeDir.home,
    events,
    async turn(command: string, body: Record<string, unknown> = {}) {
      model.setReplies([{ toolCalls: [{ name: "run_command", arguments: { command } }] }, { chunks: ["done"] }]);
      const created = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
      const id = ((await created.json()) as { id: string }).id;
      const submitted = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "run it", ...body } });
      expect(submitted.status).toBe(202);
      return id;
    },
    answer: (id: string, requestId: unknown) =>
      call(`/v3/sessions/${id}/permissions/${requestId}`, { method: "POST", json: { decision: "allow" } }),
    async end(id: string) {
      return waitFor(async () => {
        const all = await events(id);
        return all.some((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event))
          ? all
          : undefined;
      }, 15_000);
    },
    async stop() {
      await daemon.stop();
      await model.close();
      await homeDir.cleanup();
      await work.cleanup();
    },
  };
}

const commandResult = (all: Event[]) =>
  all.find((event) => event.event === "tool.result" && event.name === "run_command");

describe("the agent loop where no sandbox works", () => {
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  beforeAll(async () => {
    daemon = await startDaemon({ OPTA_SANDBOX_BWRAP: "/nonexistent/bwrap" }, "allow:\n  - run_command(echo)\n");
  });
  afterAll(() => daemon?.stop());

  it("asks before a command a policy allows, saying it runs unsandboxed", async () => {
    const id = await daemon.turn("echo hi");
    const request = await waitFor(async () =>
      (await daemon.events(id)).find((event) => event.event === "permission.request"),
    );
    expect(request).toMatchObject({ name: "run_command", sandbox: "unavailable" });
    expect(String(request.reason)).toContain("runs unsandboxed");
    expect(String(request.reason)).toContain("bubblewrap");
    expect((await daemon.answer(id, request.requestId)).status).toBe(200);
    const result = commandResult(await daemon.end(id));
    expect(result).toMatchObject({ ok: true, allowedBy: "user", result: { stdout: "hi\n", sandbox: "unavailable" } });
  });

  it("denies it when nobody can answer, and the error says why", async () => {
    const id = await daemon.turn("echo hi", { interactive: false });
    const all = await daemon.end(id);
    expect(all.some((event) => event.event === "permission.request")).toBe(false);
    const result = commandResult(all);
    expect(result).toMatchObject({ ok: false, code: "PERMISSION_DENIED" });
    expect(String(result?.error)).toContain("runs unsandboxed");
    expect(String(result?.error)).toContain("--sandbox off");
  });

  it("runs it without asking when the user chose sandbox: off for the turn, and records the choice", async () => {
    const id = await daemon.turn("echo hi", { sandbox: "off", interactive: false });
    const all = await daemon.end(id);
    expect(all.find((event) => event.event === "turn.start")).toMatchObject({ sandbox: "off" });
    expect(commandResult(all)).toMatchObject({ ok: true, allowedBy: "policy", result: { sandbox: "off" } });
  });
});

describe.skipIf(!hasBwrap)("the agent loop with bubblewrap", () => {
  const SECRET = "lmx-agent-secret-Hq8Wz2Xc";
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  beforeAll(async () => {
    // OPTA_POLICY=unrestricted: no prompts, but still the sandbox.
    daemon = await startDaemon({ OPTA_POLICY: "unrestricted", OPTA_LMX_API_KEY: SECRET }, "");
  });
  afterAll(() => daemon?.stop());

  it("runs an unrestricted turn's commands sandboxed: no writes outside, no daemon environ", async () => {
    const outside = join(daemon.workspace, "..", `opta-agent-outside-${process.pid}`);
    const id = await daemon.turn(
      `echo pwned > ${outside}; base64 -w0 /proc/$PPID/environ; cat /proc/1/environ; echo x > .opta/policy.yaml; echo end`,
      { interactive: false },
    );
    const all = await daemon.end(id);
    expect(all.some((event) => event.event === "permission.request")).toBe(false);
    const result = commandResult(all);
    expect(result).toMatchObject({ ok: true, result: { sandbox: "workspace-write" } });
    const text = JSON.stringify(result);
    expect(text).toContain("end");
    expect(leaks(text, SECRET)).toBe(false);
    expect(await readOrMissing(outside)).toBeUndefined();
    expect(await readOrMissing(join(daemon.workspace, ".opta", "policy.yaml"))).toBeUndefined();
  });

  it("a policy's sandbox level applies, and a turn's level beats it", async () => {
    await writeFile(join(daemon.home, "policies", "user.yaml"), "sandbox: read-only\n");
    const id = await daemon.turn("echo x > file.txt", { interactive: false });
    const all = await daemon.end(id);
    expect(all.find((event) => event.event === "turn.start")).not.toHaveProperty("sandbox");
    expect(commandResult(all)).toMatchObject({ ok: true, result: { sandbox: "read-only", exitCode: 2 } });
    expect(await readOrMissing(join(daemon.workspace, "file.txt"))).toBeUndefined();

    const override = await daemon.turn("echo x > file.txt", { sandbox: "workspace-write", interactive: false });
    const again = await daemon.end(override);
    expect(again.find((event) => event.event === "turn.start")).toMatchObject({ sandbox: "workspace-write" });
    expect(commandResult(again)).toMatchObject({ ok: true, result: { sandbox: "workspace-write", exitCode: 0 } });
    expect(await readOrMissing(join(daemon.workspace, "file.txt"))).toBe("x\n");
  });
});
