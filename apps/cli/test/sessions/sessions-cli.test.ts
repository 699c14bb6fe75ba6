import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ScriptedServer,
  startScriptedServer,
} from "../../../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { type CliResult, runCli } from "../fixtures/run-cli.js";

const DAY = 86_400_000;
const OLD_ID = "s-0000old000000000000cli";

let home: string;
let model: ScriptedServer;

/** The built `opta` command against a temporary home and a scripted model. */
function opta(args: string[]): Promise<CliResult> {
  return runCli(args, { home, noStdin: true, env: { OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: model.host } });
}

/** A session with one turn, made the way users make them: `opta chat` with piped input. */
async function newSession(): Promise<string> {
  const chat = await runCli(["chat"], {
    home,
    input: "hello\n",
    env: { OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: model.host },
  });
  const id = /session (s-[0-9a-z]+)/.exec(chat.stderr)?.[1];
  if (!id) throw new Error(`no session id in: ${chat.stderr}`);
  return id;
}

const sessionsDir = () => join(home, "daemon", "sessions");

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-sessions-cli-"));
  model = await startScriptedServer({});
  // A session from two months ago, as an old install has them.
  await mkdir(sessionsDir(), { recursive: true });
  const ts = new Date(Date.now() - 60 * DAY).toISOString();
  await writeFile(
    join(sessionsDir(), `${OLD_ID}.jsonl`),
    `${JSON.stringify({ seq: 1, event: "session.start", ts, sessionId: OLD_ID, title: "ancient", cwd: "/tmp", mode: "chat", model: "" })}\n`,
  );
});

afterAll(async () => {
  await opta(["daemon", "stop"]);
  await model?.close();
  await rm(home, { recursive: true, force: true });
});

describe("opta sessions rename, delete, prune", { timeout: 60_000 }, () => {
  it("renames a session", async () => {
    const id = await newSession();
    const renamed = await opta(["sessions", "rename", id, "Auth refactor"]);
    expect(renamed).toMatchObject({ code: 0, stderr: "" });
    expect(renamed.stdout).toContain(`Renamed ${id} to "Auth refactor".`);
    const list = await opta(["sessions", "list"]);
    expect(list.stdout.split("\n").find((line) => line.startsWith(id))).toContain("Auth refactor");
    const empty = await opta(["sessions", "rename", id, "  "]);
    expect(empty.code).toBe(2);
    const missing = await opta(["sessions", "rename", "s-000000000000nope", "x"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("opta sessions list");
  });

  it("deletes into a gzipped archive, or purges", async () => {
    const id = await newSession();
    const stored = await readFile(join(sessionsDir(), `${id}.jsonl`), "utf8");
    const deleted = await opta(["sessions", "delete", id]);
    expect(deleted.code).toBe(0);
    const archive = join(sessionsDir(), "archive", `${id}.jsonl.gz`);
    expect(deleted.stdout).toContain(`archived to ${archive}`);
    expect(gunzipSync(await readFile(archive)).toString("utf8")).toBe(stored);
    expect((await opta(["sessions", "list"])).stdout).not.toContain(id);
    expect((await opta(["sessions", "show", id])).code).toBe(1);

    const gone = await newSession();
    const purged = await opta(["sessions", "delete", gone, "--purge"]);
    expect(purged.stdout).toContain(`Purged ${gone}`);
    expect(existsSync(join(sessionsDir(), "archive", `${gone}.jsonl.gz`))).toBe(false);
  });

  it("prunes sessions older than an age: a dry run changes nothing, a real one archives", async () => {
    const fresh = await newSession();
    const dry = await opta(["sessions", "prune", "--older-than", "30d", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("Would prune 1 session not updated for 30d:");
    expect(dry.stdout).toContain(OLD_ID);
    expect(dry.stdout).not.toContain(fresh);
    expect(existsSync(join(sessionsDir(), `${OLD_ID}.jsonl`))).toBe(true);

    const real = await opta(["sessions", "prune", "--older-than", "30d"]);
    expect(real.stdout).toContain("Archived 1 session");
    expect(existsSync(join(sessionsDir(), "archive", `${OLD_ID}.jsonl.gz`))).toBe(true);
    expect((await opta(["sessions", "list"])).stdout).toContain(fresh);
    expect((await opta(["sessions", "prune"])).stdout).toContain("No session is older than 30d.");

    const bad = await opta(["sessions", "prune", "--older-than", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("e.g. 30d");
  });
});

describe("opta sessions show --system", { timeout: 60_000 }, () => {
  it("prints the system prompt the session's turns send, and what it is made of", async () => {
    const work = await mkdtemp(join(tmpdir(), "opta-system-cli-"));
    try {
      await writeFile(join(work, "AGENTS.md"), "CLI-PROJECT-RULE: keep functions short.\n");
      const chat = await runCli(["chat"], {
        home,
        cwd: work,
        input: "hello\n",
        env: { OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: model.host },
      });
      const id = /session (s-[0-9a-z]+)/.exec(chat.stderr)?.[1];
      expect(id).toBeDefined();
      const shown = await opta(["sessions", "show", id!, "--system"]);
      expect(shown.code).toBe(0);
      // stdout is exactly the prompt the model got as its first message.
      const sent = (model.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>)[0]!;
      expect(sent.role).toBe("system");
      expect(shown.stdout).toBe(`${sent.content}\n`);
      expect(shown.stdout).toContain("CLI-PROJECT-RULE");
      expect(shown.stdout).toContain("# Mode: Chat");
      expect(shown.stderr).toContain(`project ${join(work, "AGENTS.md")} · 40 B`);
      const json = JSON.parse((await opta(["sessions", "show", id!, "--system", "--json"])).stdout) as {
        text: string;
        parts: Array<{ name: string }>;
      };
      expect(json.text).toBe(sent.content);
      expect(json.parts.map((part) => part.name)).toContain("instructions");
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
