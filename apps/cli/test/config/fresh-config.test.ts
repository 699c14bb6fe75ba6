import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  type DaemonProcess,
  spawnDaemon,
  tempHome,
} from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import { runCli } from "../fixtures/run-cli.js";

let home: string;
let cleanup: () => Promise<void>;
let daemon: DaemonProcess;

beforeAll(async () => {
  ({ home, cleanup } = await tempHome("opta-fresh-config-"));
  // A dead LMX: creating a session needs no provider.
  daemon = await spawnDaemon(home, { OPTA_VAULT: "file", OPTA_LMX_HOST: "127.0.0.1:9" });
});
afterAll(async () => {
  await daemon?.stop();
  await cleanup?.();
});

async function createSession(): Promise<{ model: string }> {
  const response = await api(daemon)("/v3/sessions", { method: "POST", json: { cwd: home } });
  expect(response.status).toBe(201);
  return (await response.json()) as { model: string };
}

async function set(key: string, value: string): Promise<void> {
  const result = await runCli(["config", "set", key, value], { home, env: { OPTA_VAULT: "file" } });
  expect(result.code, result.stderr).toBe(0);
}

describe("the daemon's config after 'opta config set'", () => {
  it("is the new value for the very next request, every time", async () => {
    // The daemon has read config.yaml (no default model) before the change.
    expect((await createSession()).model).toBe("");
    await set("default-model", "first-model");
    expect((await createSession()).model).toBe("first-model");
    // A second change straight after the first (same second, same file size) is seen too.
    await set("default-model", "other-model");
    expect((await createSession()).model).toBe("other-model");
  });
});

describe("the CLI's imports", () => {
  it("reach the daemon only through its entry script, never its internals", async () => {
    const src = fileURLToPath(new URL("../../src", import.meta.url));
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (/\.tsx?$/.test(entry.name)) {
          const text = await readFile(path, "utf8");
          for (const match of text.matchAll(/["'](@opta\/daemon(?:\/[^"']*)?)["']/g)) {
            // Spawning the daemon needs the path of its entry script, nothing else.
            if (match[1] !== "@opta/daemon/main") offenders.push(`${path}: ${match[1]}`);
          }
        }
      }
    };
    await walk(src);
    expect(offenders).toEqual([]);
  });
});
