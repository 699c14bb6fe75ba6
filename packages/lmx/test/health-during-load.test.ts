import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LmxServer, writeTestModel } from "../src/index.js";
import { blockProbe, post, startTestLmx } from "./helpers.js";

// A load is native work off the event loop, but node-llama-cpp also does synchronous JavaScript
// on the way (choosing the chat wrapper alone took 0.6–0.8 s on these models). /health must keep
// answering, with 200, throughout.

let dir: string;
let server: LmxServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "opta-lmx-health-"));
  await writeTestModel(join(dir, "small.gguf"), { size: "small", seed: 1 });
  server = await startTestLmx({ modelsDir: dir, threads: 2 });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("/health while a model loads", () => {
  it("answers 200 'loading' throughout, and the event loop is never blocked for 100 ms", async () => {
    const probe = blockProbe();
    let done = false;
    const load = post(server, "/api/v1/models/load", { model: "small" }).finally(() => {
      done = true;
    });
    const answers: string[] = [];
    while (!done) {
      const health = await fetch(`${server.url}/health`);
      answers.push(`${health.status} ${((await health.json()) as { status: string }).status}`);
      // A poll every ~20 ms, not a busy loop: the probe measures LMX's work, not the test's.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const longest = probe.stop();
    console.log(`longest event-loop block during the load: ${longest.toFixed(1)} ms, ${answers.length} health answers`);
    expect((await load).status).toBe(200);
    expect(answers).toContain("200 loading");
    expect(answers.filter((answer) => !answer.startsWith("200 "))).toEqual([]);
    expect(longest).toBeLessThan(100);
  });
});
