import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { loadOptionalLmx } from "../../src/commands/lmx.js";

describe("Opta LMX is an optional part of the CLI", () => {
  it("is an optional peer, so installing the CLI does not bring node-llama-cpp", async () => {
    const manifest = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
      dependencies: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    expect(manifest.dependencies["@opta/lmx"]).toBeUndefined();
    expect(manifest.peerDependencies?.["@opta/lmx"]).toBeDefined();
    expect(manifest.peerDependenciesMeta?.["@opta/lmx"]?.optional).toBe(true);
  });

  it("says how to add it when it is missing, instead of a module-resolution stack", async () => {
    const missing = loadOptionalLmx("@opta/lmx-not-installed");
    await expect(missing).rejects.toMatchObject({ name: "CliError", exitCode: 1 });
    await expect(missing).rejects.toThrow(/npm install -g @opta\/lmx-not-installed.*opta config set lmx\.host/);
  });

  it("loads it when it is there", async () => {
    const lmx = await loadOptionalLmx();
    expect(typeof lmx.startLmx).toBe("function");
  });
});
