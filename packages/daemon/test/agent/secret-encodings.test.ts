import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

// The leak of issue 18: `base64 -w0 /proc/$PPID/environ` printed the daemon's OPTA_LMX_API_KEY
// encoded, exact-string masking missed it, and it reached the session log, the exports and the
// next request to the model. The test does not rely on the sandbox stripping the environment: it
// prepares an environ-like file holding the key and has the scripted model print it in each
// encoding, then echo the encoded key in its own streamed answer.

/** Which bytes of `secret` a text gives away in some encoding: the longest run found, in bytes. */
function leakedBytes(text: string, secret: string): number {
  let bytes = Buffer.from(secret);
  let longest = 0;
  const check = (decoded: Buffer) => {
    // The longest window of the secret inside `decoded` (windows from 8 bytes up).
    for (let size = Math.max(8, longest + 1); size <= bytes.length; size += 1) {
      let found = false;
      for (let start = 0; start + size <= bytes.length && !found; start += 1) {
        if (decoded.includes(bytes.subarray(start, start + size))) found = true;
      }
      if (!found) break;
      longest = size;
    }
  };
  check(Buffer.from(text));
  const compact = text.replace(/\s+/g, "");
  // hex, either case, whitespace removed (od -An -tx1, xxd -p)
  for (const run of compact.match(/[0-9A-Fa-f]{16,}/g) ?? []) {
    for (const shift of [0, 1]) check(Buffer.from(run.slice(shift).replace(/[^0-9A-Fa-f]/g, ""), "hex"));
  }
  // base64 and base64url at every character offset
  for (const run of compact.match(/[A-Za-z0-9+/_=-]{12,}/g) ?? []) {
    const normal = run.replaceAll("-", "+").replaceAll("_", "/").replaceAll("=", "");
    for (const shift of [0, 1, 2, 3]) check(Buffer.from(normal.slice(shift), "base64"));
  }
  // percent-encoding
  if (compact.includes("%")) {
    try {
      check(Buffer.from(unescape(compact), "latin1"));
    } catch {
      // not percent-encoded text
    }
  }
  // the key as text, spaced out or wrapped (fold, sed 's/./& /g'), in any letter case (tr a-z A-Z)
  check(Buffer.from(compact));
  bytes = Buffer.from(secret.toLowerCase());
  check(Buffer.from(text.toLowerCase()));
  check(Buffer.from(compact.toLowerCase()));
  return longest;
}

/** Every string in a JSON document (or each line of a JSONL file), so escapes like `\n` are read as what they stand for. */
function stringsOf(json: string): string {
  const out: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === "string") out.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object")
      for (const [name, item] of Object.entries(value)) {
        out.push(name);
        walk(item);
      }
  };
  for (const line of json.split("\n")) if (line.trim()) walk(JSON.parse(line));
  return out.join("\n");
}

const hasXxd = (() => {
  try {
    execSync("command -v xxd", { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe("secrets in encoded form", () => {
  // Shaped like no known credential, so only masking of the known value can catch it.
  const key = `zq${randomBytes(24).toString("hex")}`;
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
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: model.host, OPTA_LMX_API_KEY: key, OPTA_VAULT: "file" });
    // What /proc/$PPID/environ of the daemon holds, at each of the three base64 alignments.
    const environ = `A=1\0OPTA_LMX_API_KEY=${key}\0B=2\0`;
    await writeFile(join(workspace, "environ"), environ);
    await writeFile(join(workspace, "environ1"), `Z${environ}`);
    await writeFile(join(workspace, "environ2"), `ZZ${environ}`);
    await writeFile(join(workspace, "token"), `${daemon.token}\n`);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  /**
   * One session: the model runs `command`, then streams its output back as its own answer (in
   * 7-character deltas, so encoded forms straddle them), optionally calling a tool whose
   * arguments carry `echoArg`; a second turn makes the daemon send the history once more. Returns
   * what every place the daemon writes or sends holds.
   */
  async function replay(command: string, echoArg?: string) {
    const output = execSync(command, { cwd: workspace, encoding: "latin1" });
    const chunks = output.match(/[\s\S]{1,7}/g) ?? [];
    const first = model.requests.length;
    model.setReplies([
      { toolCalls: [{ name: "run_command", arguments: { command } }] },
      ...(echoArg ? [{ toolCalls: [{ name: "run_command", arguments: { command: `echo ${echoArg}` } }] }] : []),
      { chunks: ["Here it is: ", ...chunks] },
      { chunks: ["ok"] },
    ]);
    const call = api(daemon);
    const session = (await (
      await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } })
    ).json()) as { id: string };
    const turn = async (text: string) => {
      await call(`/v3/sessions/${session.id}/turns`, {
        method: "POST",
        json: { text, permission: "unrestricted" },
      });
      await waitFor(async () => {
        const { events } = (await (await call(`/v3/sessions/${session.id}/events`)).json()) as {
          events: Array<{ event: string }>;
        };
        return events.at(-1)?.event === "turn.done" ? true : undefined;
      });
    };
    await turn("print it");
    await turn("thanks");
    const log = await readFile(join(daemon.home, "daemon", "sessions", `${session.id}.jsonl`), "utf8");
    const exportJson = await (await call(`/v3/sessions/${session.id}/export?format=json`)).text();
    const exportMd = await (await call(`/v3/sessions/${session.id}/export?format=md`)).text();
    const requests = model.requests.slice(first).map((request) => JSON.stringify(request.body));
    return { output, log, exportJson, exportMd, requests, ranCommand: log.includes('"event":"tool.result"') };
  }

  async function attempt(attack: string, command: string, secret = key, echoArg?: string): Promise<SecurityCase> {
    const seen = await replay(command, echoArg);
    // The attack is real: what the command prints gives the key away.
    expect(leakedBytes(seen.output, secret)).toBeGreaterThanOrEqual(Math.min(secret.length, 24));
    expect(seen.ranCommand).toBe(true);
    const places: Array<[string, string]> = [
      ["session log", seen.log],
      ["session log (strings)", stringsOf(seen.log)],
      ["export json", seen.exportJson],
      ["export json (strings)", stringsOf(seen.exportJson)],
      ["export md", seen.exportMd],
      ...seen.requests.flatMap(
        (body, index): Array<[string, string]> => [
          [`model request ${index + 1}`, body],
          [`model request ${index + 1} (strings)`, stringsOf(body)],
        ],
      ),
    ];
    const leaks = places
      .map(([where, text]) => [where, leakedBytes(text, secret)] as const)
      .filter(([, bytes]) => bytes >= 8);
    // The answer was echoed into the next request, masked (not dropped): it carries "Here it is" and a mask.
    const lastRequest = stringsOf(seen.requests.at(-1) ?? "{}");
    const sawEcho = lastRequest.includes("Here it is: ") && lastRequest.includes("••••");
    const refused = leaks.length === 0 && sawEcho;
    return {
      attack,
      refused,
      ...(refused
        ? {}
        : {
            detail: leaks.length
              ? leaks.map(([where, bytes]) => `${bytes} bytes in ${where}`).join(", ")
              : "the masked echo is missing from the next request",
          }),
    };
  }

  it("masks the key raw, in base64, hex and URL-encoded form in the log, the exports and the next model request", async ({
    task,
  }) => {
    const node = JSON.stringify(process.execPath);
    const cases: SecurityCase[] = [];
    cases.push(await attempt("tr '\\0' '\\n' < environ (raw)", "tr '\\0' '\\n' < environ"));
    cases.push(await attempt("base64 -w0 environ (offset 0)", "base64 -w0 environ"));
    cases.push(await attempt("base64 -w0 environ1 (offset 1)", "base64 -w0 environ1"));
    cases.push(await attempt("base64 -w0 environ2 (offset 2)", "base64 -w0 environ2"));
    cases.push(await attempt("base64 environ1 (wrapped at 76 columns)", "base64 environ1"));
    cases.push(await attempt("basenc --base64url environ2", "basenc --base64url environ2"));
    cases.push(await attempt("od -An -tx1 environ (hex, spaced, wrapped)", "od -An -tx1 environ"));
    cases.push(await attempt("basenc --base16 environ (upper-case hex)", "basenc --base16 environ"));
    if (hasXxd) cases.push(await attempt("xxd -p environ1", "xxd -p environ1"));
    cases.push(
      await attempt(
        "encodeURIComponent(environ)",
        `${node} -e "process.stdout.write(encodeURIComponent(require('fs').readFileSync('environ','latin1')))"`,
      ),
    );
    cases.push(
      await attempt(
        "%XX of every byte of environ",
        `${node} -e "process.stdout.write(require('fs').readFileSync('environ').toString('hex').replace(/../g,'%$&'))"`,
      ),
    );
    cases.push(await attempt("fold -w7 environ (raw, wrapped)", "tr '\\0' '\\n' < environ | fold -w7"));
    cases.push(await attempt("sed 's/./& /g' environ (raw, spaced out)", "tr '\\0' '\\n' < environ | sed 's/./& /g'"));
    cases.push(await attempt("tr a-z A-Z environ (raw, upper case)", "tr '\\0' '\\n' < environ | tr a-z A-Z"));
    cases.push(await attempt("base64 -w0 token (the daemon's own token)", "base64 -w0 token", daemon.token));
    cases.push(
      await attempt(
        "the model's tool-call arguments carry the key in base64",
        "base64 -w0 environ2",
        key,
        Buffer.from(key).toString("base64"),
      ),
    );

    // The model's arguments are masked where they are stored and sent, yet the command ran as sent.
    const report = reportFamily(task, "secret-encodings", cases);
    expect(report.through).toEqual([]);
    expect(report.tried).toBe(hasXxd ? 16 : 15);
  });

  it("runs a tool with the arguments as the model sent them, and stores and sends them masked", async () => {
    const encoded = Buffer.from(key).toString("hex");
    const seen = await replay("true", `-n ${encoded} | wc -c`);
    const events = seen.log
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { event: string; args?: { command?: string }; result?: unknown });
    const calls = events.filter((event) => event.event === "tool.call").map((event) => event.args?.command);
    expect(calls).toEqual(["true", expect.stringMatching(/^echo -n \[hex of ••••.{4}\] \| wc -c$/)]);
    // The shell got the real 100 hex digits (the gate judged and the tool ran what the model sent).
    const results = events
      .filter((event) => event.event === "tool.result")
      .map((event) => JSON.stringify(event.result));
    expect(results[1]).toMatch(/\b100\b/);
    expect(seen.log).not.toContain(encoded);
    expect(seen.requests.join("\n")).not.toContain(encoded);
  });
});
