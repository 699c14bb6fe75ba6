import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SessionEvent } from "@opta/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { api, type DaemonProcess, spawnDaemon } from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import {
  type RecordedRequest,
  type ScriptedReply,
  type ScriptedServer,
  startScriptedServer,
} from "../../../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { ApprovalPrompts } from "../../src/agent-view/approvals.js";
import { Timeline } from "../../src/agent-view/timeline.js";
import { CLI_BIN, runCli } from "../fixtures/run-cli.js";
import { hasTmux, startPane, type TmuxPane } from "../fixtures/tmux.js";

let root: string;
let home: string;
let workspace: string;
let model: ScriptedServer;
let daemon: DaemonProcess;

/** By the last message: a tool result gets an answer; "write three" asks for three writes, "look" for one listing. */
function reply(request: RecordedRequest): ScriptedReply {
  const messages = request.body.messages as Array<{ role: string; content: string | null }>;
  const last = messages.at(-1);
  if (last?.role === "tool") return { chunks: ["Done", " here."] };
  const text = last?.content ?? "";
  if (text.includes("write three")) {
    return {
      toolCalls: ["a", "b", "c"].map((name) => ({
        name: "write_file",
        arguments: { path: `${name}.txt`, content: `${name}\n` },
      })),
    };
  }
  if (text.includes("look")) return { toolCalls: [{ name: "list_dir", arguments: { path: "." } }] };
  return { chunks: ["plain"] };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "opta-chat-"));
  home = join(root, "home");
  workspace = join(root, "workspace"); // a sibling of the home: file tools refuse writes under it
  await mkdir(home, { mode: 0o700 });
  await mkdir(workspace);
  model = await startScriptedServer({ replies: reply });
  daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
});

afterAll(async () => {
  await daemon?.stop();
  await model?.close();
  await rm(root, { recursive: true, force: true });
});

describe("opta chat", () => {
  it("counts steps per turn: every turn's second step is '· step 2' again", async () => {
    const result = await runCli(["chat"], {
      home,
      cwd: workspace,
      input: "look once\nlook twice\nlook three times\n",
      env: { OPTA_LMX_HOST: model.host },
    });
    expect(result.code).toBe(0);
    const steps = result.stderr.split("\n").filter((line) => line.startsWith("· step"));
    expect(steps).toEqual(["· step 2", "· step 2", "· step 2"]);
    expect(result.stdout.split("Done here.").length - 1).toBe(3);
  });
});

describe("approval prompts", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("hold what the turn prints while a question is open, and print it after the answer", async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const timeline = new Timeline({ live: false, thinking: false });
    let answer: (value: string) => void = () => {};
    const asked = new Promise<void>((resolveAsked) => {
      const ask = () =>
        new Promise<string | undefined>((resolve) => {
          answer = resolve;
          resolveAsked();
        });
      const client = { resolvePermission: async () => ({ ok: true }) } as never;
      const prompts = new ApprovalPrompts(client, "s-1", timeline, ask);
      const base = { seq: 1, ts: "", sessionId: "s-1", turnId: "t-1" };
      const call = (callId: string, path: string) =>
        ({ ...base, event: "tool.call", callId, name: "write_file", args: { path } }) as SessionEvent;
      timeline.handle(call("c-1", "a.txt"));
      timeline.handle(call("c-2", "b.txt"));
      prompts.request({
        ...base,
        event: "permission.request",
        requestId: "p-2",
        callId: "c-2",
        name: "write_file",
        args: { path: "b.txt" },
        risk: "write",
      } as never);
    });
    await asked;
    const beforeResult = written.length;
    // The first call's result arrives while the question for the second is open.
    timeline.handle({
      seq: 2,
      ts: "",
      sessionId: "s-1",
      turnId: "t-1",
      event: "tool.result",
      callId: "c-1",
      name: "write_file",
      ok: true,
      elapsedMs: 1,
      summary: "wrote 2 bytes",
    } as SessionEvent);
    expect(written.slice(beforeResult)).toEqual([]);
    answer("a");
    await vi.waitFor(() => expect(written.join("")).toContain("a.txt"));
    vi.restoreAllMocks();
  });
});

describe.skipIf(!hasTmux)("opta chat in a terminal", () => {
  let pane: TmuxPane | undefined;
  afterAll(() => pane?.kill());

  it("asks three approvals of one step one after another, each on a clean line, results after the answers", async () => {
    if (!hasTmux) return;
    pane = startPane({
      dir: root,
      script: CLI_BIN,
      args: ["chat"],
      cwd: workspace,
      env: { OPTA_HOME: home, OPTA_LMX_HOST: model.host, NO_COLOR: "1" },
      columns: 120,
      rows: 50,
    });
    const question = "[a]llow / [d]eny / a[l]ways ›";
    await pane.waitFor((text) => /^›\s*$/m.test(text), "the chat prompt");
    pane.keys("write three", "Enter");
    const count = (text: string, needle: string) => text.split(needle).length - 1;
    const sessions = (await (await api(daemon)("/v3/sessions")).json()) as { sessions: Array<{ id: string }> };
    const sessionId = sessions.sessions[0]!.id;
    const results = async () => {
      const body = (await (await api(daemon)(`/v3/sessions/${sessionId}/events`)).json()) as {
        events: SessionEvent[];
      };
      return body.events.filter((event) => event.event === "tool.result").length;
    };
    for (let answered = 0; answered < 3; answered++) {
      await pane.waitFor((text) => count(text, question) === answered + 1, `question ${answered + 1}`);
      // Before the second and third answers: the earlier call's result is in (it printed, or was held).
      if (answered > 0) await vi.waitFor(async () => expect(await results()).toBe(answered), { timeout: 10_000 });
      pane.keys("a", "Enter");
    }
    const screen = await pane.waitFor(
      (text) =>
        text.includes("Done here.") && /tokens ·/.test(text) && /^›\s*$/m.test(text.split("Done here.").at(-1) ?? ""),
      "the answer and the next prompt",
    );
    const lines = screen.split("\n");
    const questions = lines.filter((line) => line.includes(question));
    expect(questions).toHaveLength(3);
    for (const line of questions) expect(line.trimEnd()).toMatch(/a\[l\]ways › a$/);
    const resultLines = lines.filter((line) => /write_file\(.*✓/.test(line));
    expect(resultLines).toHaveLength(3);
    for (const line of resultLines) expect(line).toMatch(/^▸ /);
    expect(await readFile(join(workspace, "c.txt"), "utf8")).toBe("c\n");
    pane.keys("C-d");
  });
});
