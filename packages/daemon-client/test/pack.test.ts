/**
 * The SDK as a third-party developer meets it: its tarball (scripts/pack.mjs) installed into a
 * fresh project outside this repository, with nothing but the npm registry for its dependencies,
 * and every example of docs/sdk.md compiled there against the published .d.ts and run against a
 * real daemon process.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DaemonProcess, spawnDaemon } from "../../daemon/test/fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../../daemon/test/fixtures/scripted-openai-server.js";

const run = promisify(execFile);
const SDK_DIR = fileURLToPath(new URL("..", import.meta.url));
const DOCS = fileURLToPath(new URL("../../../docs/sdk.md", import.meta.url));
const require = createRequire(import.meta.url);
const TSC = join(dirname(require.resolve("typescript/package.json")), require("typescript/package.json").bin.tsc);

/** A fenced code block of docs/sdk.md: its language, its marker name (if any) and its code. */
interface DocBlock {
  line: number;
  lang: string;
  name?: string;
  code: string;
}

/** Every fenced block, with the `<!-- example: NAME -->` marker that precedes it, if any. */
export function docBlocks(markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const pattern = /(?:<!-- example: ([a-z-]+) -->\s*\n\s*)?^```(\w*)[^\n]*\n([\s\S]*?)^```$/gm;
  for (const match of markdown.matchAll(pattern)) {
    const line = markdown.slice(0, match.index).split("\n").length;
    blocks.push({ line, lang: match[2] ?? "", name: match[1], code: match[3] ?? "" });
  }
  return blocks;
}

/** What each example must print (it also has to exit 0); the lifecycle example stops the daemon, so it runs last. */
const EXPECTED: Record<string, RegExp[]> = {
  "local-client": [/Hello from the model\./, /\n\d+ tokens at [\d.]+ tok\/s/],
  client: [/ok: true/, /version: '/],
  errors: [/^404 SESSION_NOT_FOUND$/m],
  subscribe: [/status: connected/, /replayed up to \d+/, /^1 session\.start$/m, /turn\.done$/m],
  stream: [/^Hello from the model\.$/m],
  "subscribe-all": [/^session\.created seen by subscribeAll$/m],
  ws: [/^session\.start$/m],
  lifecycle: [/^reused http:\/\/127\.0\.0\.1:\d+ \d+$/m, /wasRunning: true/],
};

const markdown = await readFile(DOCS, "utf8");
const examples = docBlocks(markdown).filter((block) => block.name !== undefined);
const order = [...examples].sort((a, b) => Number(a.name === "lifecycle") - Number(b.name === "lifecycle"));

let work: string;
let project: string;
let tarball: string;
let model: ScriptedServer;
let daemon: DaemonProcess;
let home: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "opta-sdk-pack-test-"));
  const packed = await run(process.execPath, [join(SDK_DIR, "scripts/pack.mjs"), "--pack-destination", work]);
  tarball = packed.stdout.trim().split("\n").at(-1)!;
  project = join(work, "app");
  await mkdir(join(project, "src"), { recursive: true });
  await run("npm", ["init", "-y"], { cwd: project });
  await run("npm", ["pkg", "set", "type=module"], { cwd: project });
  await run(
    "npm",
    ["install", tarball, "ws", "@types/ws", "@types/node@20", "--prefer-offline", "--no-audit", "--no-fund"],
    { cwd: project },
  );
  await writeFile(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        // The SDK's own declarations are checked too: the point is that the published .d.ts resolves.
        skipLibCheck: false,
        types: ["node"],
        rootDir: "src",
        outDir: "dist",
      },
      include: ["src"],
    }),
  );
  for (const example of examples) await writeFile(join(project, "src", `${example.name}.ts`), example.code);

  home = await mkdtemp(join(tmpdir(), "opta-sdk-pack-home-"));
  model = await startScriptedServer({ replies: [{ chunks: ["Hello ", "from ", "the model."] }] });
  daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
  await model?.close();
  await rm(home, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe("the packed SDK in a fresh project", () => {
  it("is self-contained: no workspace package left to fetch", async () => {
    const manifest = JSON.parse(
      await readFile(join(project, "node_modules/@opta/daemon-client/package.json"), "utf8"),
    ) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(["ws", "zod"]);
    const { stdout } = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'const p = await import("@opta/daemon-client/protocol"); console.log(typeof p.SessionEvent.parse)',
      ],
      { cwd: project },
    );
    expect(stdout.trim()).toBe("function");
  });

  it("marks every TypeScript block of docs/sdk.md as an example with an expected output", () => {
    const unmarked = docBlocks(markdown)
      .filter((block) => ["ts", "js", "typescript", "javascript"].includes(block.lang) && !block.name)
      .map((block) => `docs/sdk.md:${block.line}`);
    expect(unmarked, "code blocks without <!-- example: NAME --> (add one, and its output to EXPECTED)").toEqual([]);
    expect(examples.map((example) => example.name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it("compiles every example with the published types", async () => {
    const result = await run(process.execPath, [TSC, "-p", project]).catch((error: { stdout: string }) => error);
    expect("stdout" in result ? result.stdout : "").toBe("");
  }, 120_000);

  it.each(order.map((example) => [example.name!, example] as const))(
    "runs the %s example",
    async (name, example) => {
      const env = {
        PATH: process.env.PATH ?? "",
        HOME: home,
        OPTA_HOME: home,
        OPTA_URL: daemon.url,
        OPTA_TOKEN: await daemon.readToken(),
      };
      const result = await run(process.execPath, [join(project, "dist", `${name}.js`)], {
        cwd: project,
        env,
        timeout: 30_000,
      }).catch((error: { code: number; stdout: string; stderr: string }) => error);
      const output = `${result.stdout}${result.stderr}`;
      expect("code" in result ? `exit ${result.code}: ${output}` : "exit 0", `docs/sdk.md:${example.line}`).toBe(
        "exit 0",
      );
      for (const pattern of EXPECTED[name] ?? []) expect(output).toMatch(pattern);
      if (name === "lifecycle") expect(daemon.child.exitCode !== null || daemon.child.signalCode !== null).toBe(true);
    },
    60_000,
  );
});
