import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { loadOptionalPlatform } from "../../src/commands/platform.js";

describe("the platform server is an optional part of the CLI", () => {
  it("is an optional peer, so installing the CLI does not bring PGlite, better-auth or pg", async () => {
    const manifest = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
      dependencies: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    expect(manifest.dependencies["@opta/platform"]).toBeUndefined();
    expect(manifest.peerDependencies?.["@opta/platform"]).toBeDefined();
    expect(manifest.peerDependenciesMeta?.["@opta/platform"]?.optional).toBe(true);
  });

  it("says how to add it when it is missing, instead of a module-resolution stack", async () => {
    const missing = loadOptionalPlatform("@opta/platform-not-installed/control");
    await expect(missing).rejects.toMatchObject({ name: "CliError", exitCode: 1 });
    await expect(missing).rejects.toThrow(/npm install -g @opta\/platform-not-installed'/);
  });

  it("loads it when it is there", async () => {
    const control = await loadOptionalPlatform();
    expect(typeof control.startPlatformProcess).toBe("function");
  });
});
