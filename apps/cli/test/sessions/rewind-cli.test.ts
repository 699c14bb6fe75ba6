import { mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type ScriptedReply,
  type ScriptedServer,
  startScriptedServer,
} from "../../../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { type CliResult, runCli } from "../fixtures/run-cli.js";

/** `write X`: the model writes X into note.txt in one step, then answers. */
function reply(request: RecordedRequest): ScriptedReply {
  const messages = request.body.messages as Array<{ role: string; content: string | null }>;
  const userIndex = messages.findLastIndex((message) => message.role === "user");
  const task = messages[userIndex]?.content ?? "";
  const step = messages.slice(userIndex + 1).filter((message) => message.role === "assistant").length;
  const content = /^write (\w+)/.exec(task)?.[1];
  if (content && step === 0) {
    return { toolCalls: [{ name: "write_file", arguments: { path: "note.txt", content: `${content}\n` } }] };
  }
  return { chunks: ["done"] };
}

let home: string;
let workspace: string;
let model: ScriptedServer;

function opta(args: string[]): Promise<CliResult> {
  return runCli(args, {
    home,
    cwd: workspace,
    noStdin: true,
    env: { OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: model.host, OPTA_POLICY: "unrestricted" },
  });
}
const note = () => readFile(join(workspace, "note.txt"), "utf8");

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-rewind-cli-"));
  workspace = await realpath(await mkdtemp(join(tmpdir(), "opta-rewind-work-")));
  model = await startScriptedServer({ replies: reply });
});

afterAll(async () => {
  await opta(["daemon", "stop"]);
  await model?.close();
  await rm(home, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
});

describe("opta sessions rewind and fork", { timeout: 60_000 }, () => {
  let id: string;

  it("rewinds the files of a session to before a turn", async () => {
    const first = await opta(["do", "write one"]);
    expect(first.code).toBe(0);
    id = /session (s-[0-9a-z]+)/.exec(first.stderr)?.[1] ?? "";
    expect((await opta(["do", "--session", id, "write two"])).code).toBe(0);
    expect(await note()).toBe("two\n");
    const rewound = await opta(["sessions", "rewind", id, "--to", "2", "--files"]);
    expect(rewound).toMatchObject({ code: 0, stderr: "" });
    expect(rewound.stdout).toContain("restored");
    expect(rewound.stdout).toContain(join(workspace, "note.txt"));
    expect(await note()).toBe("one\n");
  });

  it("refuses to overwrite a file edited outside the agent, says how to go on, and --force overwrites it", async () => {
    await writeFile(join(workspace, "note.txt"), "mine\n");
    const refused = await opta(["sessions", "rewind", id, "--to", "1", "--files"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Not rewound");
    expect(refused.stderr).toContain("note.txt");
    expect(refused.stderr).toContain("--force");
    expect(await note()).toBe("mine\n");
    const forced = await opta(["sessions", "rewind", id, "--to", "1", "--files", "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain("removed");
  });

  it("rejects two scopes at once", async () => {
    const both = await opta(["sessions", "rewind", id, "--to", "1", "--files", "--conversation"]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("choose one of --files, --conversation and --both");
  });

  it("forks a session at a turn", async () => {
    const forked = await opta(["sessions", "fork", id, "--at", "1", "--json"]);
    expect(forked.code).toBe(0);
    const session = JSON.parse(forked.stdout) as { id: string; turnCount: number; title: string };
    expect(session.id).not.toBe(id);
    expect(session.turnCount).toBe(1);
    expect(session.title).toContain("(fork)");
    const shown = await opta(["sessions", "show", session.id]);
    expect(shown.stdout).toContain(`[forked from ${id}, 1 turns copied]`);
    expect(shown.stdout).toContain("write one");
    expect(shown.stdout).not.toContain("write two");
  });
});
