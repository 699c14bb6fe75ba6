/**
 * The runnable docs: every fenced block of docs/api.md and docs/sdk.md whose info string carries
 * `runnable` (```sh runnable, ```ts runnable) runs here as written against a real daemon (its own
 * process, a scripted model behind it), so the docs cannot drift from what the daemon does.
 * `sh` blocks run in bash with OPTA_HOME, PORT and TOKEN set; `ts` blocks are stripped of their
 * types and run as ES modules inside this checkout (so `@opta/daemon-client` resolves to the
 * workspace package) with OPTA_HOME, OPTA_URL and OPTA_TOKEN set. A block fails its test when it
 * exits non-zero or its output lacks a text it names on a `# → TEXT` (or `// → TEXT`) line.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { transformWithOxc } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DaemonProcess, spawnDaemon, tempHome } from "./fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "./fixtures/scripted-openai-server.js";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../../../", import.meta.url));

interface RunnableBlock {
  file: string;
  line: number;
  lang: string;
  code: string;
}

/** The fenced blocks of a Markdown file whose info string has the word `runnable`. */
export function runnableBlocks(file: string, markdown: string): RunnableBlock[] {
  const blocks: RunnableBlock[] = [];
  for (const match of markdown.matchAll(/^```(\S*)([^\n]*)\n([\s\S]*?)^```$/gm)) {
    if (!(match[2] ?? "").split(/\s+/).includes("runnable")) continue;
    const line = markdown.slice(0, match.index).split("\n").length;
    blocks.push({ file, line, lang: match[1] ?? "", code: match[3] ?? "" });
  }
  return blocks;
}

/** Texts a block says its output contains (`# → …` in shell, `// → …` in TypeScript). */
const expectedTexts = (code: string) =>
  [...code.matchAll(/^\s*(?:#|\/\/) → (.+)$/gm)].map((match) => (match[1] ?? "").trimEnd());

const DOCS = ["docs/api.md", "docs/sdk.md"];
const blocks: RunnableBlock[] = [];
for (const file of DOCS) blocks.push(...runnableBlocks(file, await readFile(join(REPO, file), "utf8")));
// A block that stops the daemon runs last, so the others find it running.
blocks.sort((a, b) => Number(a.code.includes("stopDaemon(")) - Number(b.code.includes("stopDaemon(")));

let home: { home: string; cleanup: () => Promise<void> };
let model: ScriptedServer;
let daemon: DaemonProcess;
let work: string;

beforeAll(async () => {
  home = await tempHome("opta-docs-runnable-");
  // Inside the checkout (ignored by git: .opta-test-*), so the examples' imports resolve here.
  work = await mkdtemp(join(REPO, ".opta-test-docs-"));
  model = await startScriptedServer({ replies: () => ({ chunks: ["Hello ", "from ", "the model."] }) });
  daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: model.host });
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await model?.close();
  await home?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

async function runBlock(block: RunnableBlock, index: number): Promise<{ code: number; output: string }> {
  const env = {
    ...process.env,
    OPTA_HOME: daemon.home,
    PORT: String(daemon.port),
    TOKEN: daemon.token,
    OPTA_URL: daemon.url,
    OPTA_TOKEN: daemon.token,
    NO_COLOR: "1",
  };
  let command: string;
  let args: string[];
  if (block.lang === "sh" || block.lang === "bash") {
    command = "bash";
    args = ["-euo", "pipefail", "-c", block.code];
  } else if (block.lang === "ts" || block.lang === "js") {
    const { code } = await transformWithOxc(block.code, `example-${index}.ts`);
    const path = join(work, `example-${index}.mjs`);
    await writeFile(path, code);
    command = process.execPath;
    args = [path];
  } else {
    throw new Error(`${block.file}:${block.line}: a runnable block must be sh, bash, ts or js, not '${block.lang}'`);
  }
  return run(command, args, { env, cwd: work, timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: `${stdout}${stderr}` }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof error.code === "number" ? error.code : 1,
      output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
    }),
  );
}

describe("runnable blocks of docs/api.md and docs/sdk.md against a real daemon", () => {
  it("finds runnable blocks in both files, and every TypeScript example of sdk.md is one", async () => {
    expect(blocks.filter((block) => block.file === "docs/api.md").length).toBeGreaterThanOrEqual(3);
    const sdk = await readFile(join(REPO, "docs/sdk.md"), "utf8");
    const unmarked = [...sdk.matchAll(/^```(ts|typescript|js)\s*$/gm)].map(
      (match) => `docs/sdk.md:${sdk.slice(0, match.index).split("\n").length}`,
    );
    expect(unmarked, "TypeScript blocks of sdk.md not marked runnable").toEqual([]);
  });

  it("a runnable block that fails is caught (exit status and a missing `# →` text)", async () => {
    const failing = await runBlock(
      {
        file: "test",
        line: 1,
        lang: "sh",
        code: `curl -fsS "http://127.0.0.1:$PORT/v3/nope" -H "Authorization: Bearer $TOKEN"\n`,
      },
      900,
    );
    expect(failing.code).not.toBe(0);
    const lying = {
      file: "test",
      line: 1,
      lang: "sh",
      code: `curl -fsS "http://127.0.0.1:$PORT/v3/health" -H "Authorization: Bearer $TOKEN"\n# → "ok":false\n`,
    };
    const result = await runBlock(lying, 901);
    expect(result.code).toBe(0);
    expect(expectedTexts(lying.code).every((text) => result.output.includes(text))).toBe(false);
  });

  for (const [index, block] of blocks.entries()) {
    it(`${block.file}:${block.line} (${block.lang}) runs and prints what it says`, async () => {
      const result = await runBlock(block, index);
      expect(result.code, result.output).toBe(0);
      for (const text of expectedTexts(block.code)) expect(result.output).toContain(text);
    }, 40_000);
  }
});
