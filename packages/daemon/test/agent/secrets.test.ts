import { randomBytes } from "node:crypto";
import { readFile, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

describe("secrets in tool output", () => {
  // Shaped like no known credential, so only exact-value redaction can catch it.
  const apiKey = `zq${randomBytes(24).toString("hex")}`;
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let workspace: string;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    model = await startScriptedServer();
    const home = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    cleanups.push(home.cleanup, work.cleanup);
    workspace = await realpath(work.home);
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: model.host, OPENAI_API_KEY: apiKey });
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  it("masks the daemon's token and API keys before they reach the session log or the model", async () => {
    await writeFile(join(workspace, "leak.txt"), `key=${apiKey}\ntoken=${daemon.token}\n`);
    model.setReplies([{ toolCalls: [{ name: "read_file", arguments: { path: "leak.txt" } }] }, { chunks: ["read"] }]);
    const call = api(daemon);
    const session = (await (
      await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } })
    ).json()) as {
      id: string;
    };
    await call(`/v3/sessions/${session.id}/turns`, { method: "POST", json: { text: "read leak.txt" } });
    await waitFor(async () => {
      const { events } = (await (await call(`/v3/sessions/${session.id}/events`)).json()) as {
        events: Array<{ event: string }>;
      };
      return events.at(-1)?.event === "turn.done" ? true : undefined;
    });
    const log = await readFile(join(daemon.home, "daemon", "sessions", `${session.id}.jsonl`), "utf8");
    expect(log).toContain("key=");
    expect(log).not.toContain(apiKey);
    expect(log).not.toContain(daemon.token);
    const sentToModel = JSON.stringify(model.requests.at(-1)!.body.messages);
    expect(sentToModel).toContain("key=");
    expect(sentToModel).not.toContain(apiKey);
    expect(sentToModel).not.toContain(daemon.token);
  });
});
