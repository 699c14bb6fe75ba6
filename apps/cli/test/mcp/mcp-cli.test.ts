import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { CLI_LAUNCHER, type CliResult, runCli } from "../fixtures/run-cli.js";

const TEST_SERVER = fileURLToPath(
  new URL("../../../../packages/daemon/test/mcp/fixtures/test-server.mjs", import.meta.url),
);

let home: string;
let project: string;
let httpServer: ChildProcess;
let httpUrl: string;

const CHROMIUM = "/usr/bin/chromium";

/** The built `opta` launcher, run as users run it, against a temporary home. */
function opta(args: string[]): Promise<CliResult> {
  return runCli(args, {
    home,
    cwd: project,
    bin: CLI_LAUNCHER,
    noStdin: true,
    env: { OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: "127.0.0.1:9" },
  });
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-mcp-cli-"));
  project = await realpath(await mkdtemp(join(tmpdir(), "opta-mcp-project-")));
  httpServer = spawn(process.execPath, [TEST_SERVER, "--http"], { stdio: ["ignore", "pipe", "inherit"] });
  httpUrl = await new Promise<string>((resolve) => {
    httpServer.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
  });
});

afterAll(async () => {
  await opta(["daemon", "stop"]);
  httpServer?.kill();
  await rm(home, { recursive: true, force: true });
  await rm(project, { recursive: true, force: true });
});

describe("opta mcp", { timeout: 60_000 }, () => {
  it("adds stdio, HTTP and project servers, and refuses bad ones", async () => {
    const stdio = await opta(["mcp", "add", "fix", "--", process.execPath, TEST_SERVER]);
    expect(stdio.stderr).toBe("");
    expect(stdio).toMatchObject({ code: 0 });
    expect(stdio.stdout).toContain("Added fix");
    const web = await opta(["mcp", "add", "web", "--url", httpUrl]);
    expect(web.code).toBe(0);
    const local = await opta(["mcp", "add", "proj", "--project", "--", process.execPath, TEST_SERVER]);
    expect(local.code).toBe(0);

    const config = YAML.parse(await readFile(join(home, "config.yaml"), "utf8"));
    expect(config.mcp.servers).toEqual({ fix: { command: [process.execPath, TEST_SERVER] }, web: { url: httpUrl } });
    const projectFile = YAML.parse(await readFile(join(project, ".opta", "mcp.yaml"), "utf8"));
    expect(projectFile.servers.proj.command).toEqual([process.execPath, TEST_SERVER]);

    expect((await opta(["mcp", "add", "bad__name", "--", "x"])).code).toBe(2);
    expect((await opta(["mcp", "add", "nothing"])).code).toBe(2);
    const again = await opta(["mcp", "add", "fix", "--", "x"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
  });

  it("lists status and tool counts, tests a server, and removes servers without a daemon restart", async () => {
    const listed = await opta(["mcp", "list"]);
    expect(listed.code).toBe(0);
    const rows = listed.stdout.split("\n").map((line) => line.split(/\s{2,}/));
    expect(rows.find((row) => row[0] === "fix")).toEqual(["fix", "user", "ready", "5", expect.any(String)]);
    expect(rows.find((row) => row[0] === "web")).toEqual(["web", "user", "ready", "5", httpUrl]);
    expect(rows.find((row) => row[0] === "proj")?.slice(0, 4)).toEqual(["proj", "project", "ready", "5"]);

    const tested = await opta(["mcp", "test", "fix"]);
    expect(tested.code).toBe(0);
    expect(tested.stdout).toMatch(/✓ fix \(opta-test-server 1\.0\.0\) · 5 tools/);
    expect(tested.stdout).toContain("fix__echo");
    const missing = await opta(["mcp", "test", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No MCP server 'nope'");

    expect((await opta(["mcp", "remove", "fix"])).code).toBe(0);
    const wrongScope = await opta(["mcp", "remove", "proj"]);
    expect(wrongScope.code).toBe(1);
    expect(wrongScope.stderr).toContain("--project");
    expect((await opta(["mcp", "remove", "proj", "--project"])).code).toBe(0);

    const after = JSON.parse((await opta(["mcp", "list", "--json"])).stdout) as Array<{ name: string }>;
    expect(after.map((server) => server.name)).toEqual(["web"]);
  });

  it("test connects and lists tools but calls none (a server that records every request)", async () => {
    const record = join(home, "counted-requests.txt");
    expect((await opta(["mcp", "add", "counted", "--", process.execPath, TEST_SERVER, "--record", record])).code).toBe(
      0,
    );
    const tested = await opta(["mcp", "test", "counted"]);
    expect(tested.code).toBe(0);
    expect(tested.stdout).toMatch(/✓ counted .*· 5 tools/);
    const requests = (await readFile(record, "utf8")).trim().split("\n");
    // The daemon's own connection and the test's fresh one each initialize and list…
    expect(requests.filter((method) => method === "initialize").length).toBeGreaterThanOrEqual(1);
    expect(requests).toContain("tools/list");
    // …and nothing ever calls a tool.
    expect(requests.filter((method) => method.startsWith("tools/call"))).toEqual([]);
    expect((await opta(["mcp", "remove", "counted"])).code).toBe(0);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    "test peekaboo shows the same tools as list (never the hidden browser_close)",
    async () => {
      expect((await opta(["config", "set", "mcp.peekaboo", "true"])).code).toBe(0);
      try {
        const tested = await opta(["mcp", "test", "peekaboo"]);
        expect(tested.code).toBe(0);
        const listed = JSON.parse((await opta(["mcp", "list", "--json"])).stdout) as Array<{
          name: string;
          tools: string[];
        }>;
        const peekaboo = listed.find((server) => server.name === "peekaboo");
        expect(peekaboo?.tools).toContain("browser_navigate");
        expect(peekaboo?.tools).not.toContain("browser_close");
        const shown = tested.stdout
          .split("\n")
          .slice(1)
          .map((line) => line.trim().split(/\s+/)[0])
          .filter(Boolean);
        expect(tested.stdout).toMatch(new RegExp(`· ${peekaboo!.tools.length} tools`));
        expect(shown.sort()).toEqual([...peekaboo!.tools].sort());
        expect(tested.stdout).not.toContain("browser_close");
      } finally {
        await opta(["config", "unset", "mcp.peekaboo"]);
      }
    },
  );
});
