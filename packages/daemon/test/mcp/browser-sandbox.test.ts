import { afterEach, describe, expect, it, vi } from "vitest";

// Playwright is replaced so the launch options can be read without starting a browser.
const launches: Array<{ profileDir: string; options: Record<string, unknown> }> = [];
vi.mock("playwright-core", () => {
  const page = { isClosed: () => false };
  const context = {
    pages: () => [page],
    newPage: async () => page,
    setDefaultTimeout: () => {},
    setDefaultNavigationTimeout: () => {},
    close: async () => {},
  };
  return {
    chromium: {
      launchPersistentContext: async (profileDir: string, options: Record<string, unknown>) => {
        launches.push({ profileDir, options });
        return context;
      },
    },
  };
});

const { chromiumLaunchArgs, noSandboxReason, CHROMIUM_ARGS } = await import("../../src/browser/sandbox.js");
const { LoopBrowsers } = await import("../../src/browser/loop-browsers.js");
const { peekabooCommand } = await import("../../src/mcp/manager.js");

afterEach(() => {
  launches.length = 0;
});

describe("Chromium's sandbox", () => {
  it("is switched off only as root or with OPTA_BROWSER_NO_SANDBOX=1", () => {
    expect(noSandboxReason({ uid: 1000, env: {} })).toBeUndefined();
    expect(noSandboxReason({ uid: 0, env: {} })).toBe("root");
    expect(noSandboxReason({ uid: 1000, env: { OPTA_BROWSER_NO_SANDBOX: "1" } })).toBe("OPTA_BROWSER_NO_SANDBOX");
    expect(noSandboxReason({ uid: 1000, env: { OPTA_BROWSER_NO_SANDBOX: "0" } })).toBeUndefined();
    expect(noSandboxReason({ uid: 1000, env: { OPTA_BROWSER_NO_SANDBOX: "" } })).toBeUndefined();
    // Windows has no uid: only the variable counts.
    expect(noSandboxReason({ uid: undefined, env: {} })).toBeUndefined();
    expect(noSandboxReason({ uid: undefined, env: { OPTA_BROWSER_NO_SANDBOX: "1" } })).toBe("OPTA_BROWSER_NO_SANDBOX");
    // Without options it looks at this process.
    const expected = process.getuid?.() === 0 || process.env.OPTA_BROWSER_NO_SANDBOX === "1";
    expect(noSandboxReason() !== undefined).toBe(expected);
  });

  it("stays on unless asked: --no-sandbox is passed, and Playwright's own default is overridden", () => {
    expect(CHROMIUM_ARGS).not.toContain("--no-sandbox");
    expect(chromiumLaunchArgs(false)).toEqual({ args: [...CHROMIUM_ARGS], chromiumSandbox: true });
    expect(chromiumLaunchArgs(true)).toEqual({ args: [...CHROMIUM_ARGS, "--no-sandbox"], chromiumSandbox: false });
  });

  it("reaches Playwright's launch options", async () => {
    for (const noSandbox of [false, true]) {
      const browsers = new LoopBrowsers({
        executablePath: "/bin/true",
        idleMs: 60_000,
        actionTimeoutMs: 1000,
        noSandbox,
      });
      await browsers.get("loop");
      await browsers.closeAll();
    }
    expect(launches.map((launch) => [launch.options.chromiumSandbox, launch.options.args])).toEqual([
      [true, [...CHROMIUM_ARGS]],
      [false, [...CHROMIUM_ARGS, "--no-sandbox"]],
    ]);
    // By default the choice follows this process (root here in CI: no sandbox).
    const browsers = new LoopBrowsers({ executablePath: "/bin/true", idleMs: 60_000, actionTimeoutMs: 1000 });
    await browsers.get("loop");
    await browsers.closeAll();
    expect(launches[2]?.options.chromiumSandbox).toBe(noSandboxReason() === undefined);
  });

  it("the daemon forwards OPTA_BROWSER_NO_SANDBOX to peekaboo as a flag (stdio servers get a minimal env)", () => {
    const base = { browser: "/usr/bin/chromium", outputDir: "/tmp/shots" };
    expect(peekabooCommand({ ...base, env: {} })).not.toContain("--no-sandbox");
    expect(peekabooCommand({ ...base, env: { OPTA_BROWSER_NO_SANDBOX: "1" } }).at(-1)).toBe("--no-sandbox");
    expect(peekabooCommand({ ...base, env: {} }).slice(2)).toEqual([
      "--browser",
      "/usr/bin/chromium",
      "--output-dir",
      "/tmp/shots",
    ]);
  });
});
