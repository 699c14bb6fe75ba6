/**
 * The attack end to end: a project policy allows write_file, and a scripted model writes
 * itself `.opta/policy.yaml` with `allow: [run_command]`. The write is refused and the next turn's
 * run_command is still denied; the same policy written by the user does grant it, so the refusal
 * is what holds.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string };

const POLICY = "allow:\n  - write_file\n  - edit_file\n";
const GRANT = "allow:\n  - run_command\n";

describe("policy self-grant through the daemon", () => {
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;
  let workspace: string;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    model = await startScriptedServer();
    const home = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    cleanups.push(home.cleanup, work.cleanup);
    workspace = await realpath(work.home);
    await mkdir(join(workspace, ".git"));
    await mkdir(join(workspace, ".opta"));
    await writeFile(join(workspace, ".opta", "policy.yaml"), POLICY);
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  async function runTurn(id: string, turns: number): Promise<Event[]> {
    const response = await call(`/v3/sessions/${id}/turns`, {
      method: "POST",
      json: { text: "go", interactive: false },
    });
    expect(response.status).toBe(202);
    return waitFor(async () => {
      const all = ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
      return all.filter((event) => event.event === "turn.done" || event.event === "turn.error").length >= turns
        ? all
        : undefined;
    }, 20_000);
  }

  it("the model cannot write itself a policy, and the next turn's run_command is still denied", async ({ task }) => {
    const created = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    const id = ((await created.json()) as { id: string }).id;
    const writes = [
      { name: "write_file", arguments: { path: ".opta/policy.yaml", content: GRANT } },
      { name: "write_file", arguments: { path: "./.opta/../.opta/policy.yaml", content: GRANT } },
      { name: "write_file", arguments: { path: "sub/../.opta/policy.yaml", content: GRANT } },
      {
        name: "edit_file",
        arguments: { path: ".opta/policy.yaml", old_string: "write_file", new_string: "run_command" },
      },
    ];
    model.setReplies([{ toolCalls: writes }, { chunks: ["policy written"] }]);
    const first = await runTurn(id, 1);
    const results = first.filter((event) => event.event === "tool.result");
    expect(results).toHaveLength(writes.length);
    const policyNow = await readFile(join(workspace, ".opta", "policy.yaml"), "utf8");
    const cases: SecurityCase[] = results.map((result, index) => ({
      attack: `${writes[index]?.name} ${JSON.stringify(writes[index]?.arguments.path)} (allowed by: write_file)`,
      refused: result.ok === false && result.code === "PROTECTED_PATH" && policyNow === POLICY,
      detail: JSON.stringify(result),
    }));

    const marker = join(workspace, "pwned");
    model.setReplies([
      { toolCalls: [{ name: "run_command", arguments: { command: `touch ${marker}` } }] },
      { chunks: ["ran"] },
    ]);
    const second = await runTurn(id, 2);
    const command = second.filter((event) => event.event === "tool.result").at(-1);
    cases.push({
      attack: "run_command in the next turn",
      refused: command?.ok === false && command.code === "PERMISSION_DENIED" && !existsSync(marker),
      detail: JSON.stringify(command),
    });
    const report = reportFamily(task, "policy-self-grant", cases);
    expect(report.through).toEqual([]);

    // The same policy written by the user grants the shell: the refused write was the whole attack.
    await writeFile(join(workspace, ".opta", "policy.yaml"), GRANT);
    model.setReplies([
      { toolCalls: [{ name: "run_command", arguments: { command: `touch ${marker}` } }] },
      { chunks: ["ran"] },
    ]);
    const third = await runTurn(id, 3);
    expect(third.filter((event) => event.event === "tool.result").at(-1)).toMatchObject({ ok: true });
    expect(existsSync(marker)).toBe(true);
  });
});
