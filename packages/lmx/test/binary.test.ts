import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { startTestLmx } from "./helpers.js";

describe("the llama.cpp binary", () => {
  it("says at start which binary decodes, and with several threads on the prebuilt one, what that costs", async () => {
    const dir = await mkdtemp(join(tmpdir(), "opta-lmx-binary-"));
    const logs: Record<string, unknown>[] = [];
    const server = await startTestLmx({ modelsDir: dir, threads: 2, log: (line) => logs.push(line as never) });
    try {
      // The binary node-llama-cpp picks with LMX's options (a native local build when there is one).
      const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false });
      const expected = llama.buildType;
      await llama.dispose();
      const started = logs.find((line) => line.event === "lmx.started");
      expect(started?.llamaBuild).toBe(expected);
      const hint = logs.find((line) => line.event === "lmx.threads_prebuilt");
      if (expected === "prebuilt") {
        expect(hint).toMatchObject({ threads: 2 });
        expect(String(hint?.hint)).toContain("opta lmx build");
      } else expect(hint).toBeUndefined();
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
