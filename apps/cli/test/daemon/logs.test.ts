import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnDaemon } from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import { runCli } from "../fixtures/run-cli.js";

let home: string;
const env = { OPTA_LMX_HOST: "127.0.0.1:9", OPTA_VAULT: "file" };

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-logs-"));
  await mkdir(join(home, "daemon"), { recursive: true, mode: 0o700 });
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("opta daemon logs", () => {
  it("shows the lines of earlier daemon processes, rotated files included, in order and filtered by level", async () => {
    // What an older process left in a rotated file.
    const old = { ts: "2020-01-01T00:00:00.000Z", scope: "daemon" };
    await writeFile(
      join(home, "daemon", "daemon.log.1"),
      `${JSON.stringify({ ...old, level: "info", message: "rotated info line" })}\n${JSON.stringify({ ...old, level: "warn", message: "rotated warning" })}\n`,
    );
    // First run: a broken config.yaml makes it log an error.
    await writeFile(join(home, "config.yaml"), "max-steps: [unclosed\n");
    const first = await spawnDaemon(home, env);
    const firstPid = first.child.pid;
    await first.stop();
    await writeFile(join(home, "config.yaml"), "max-steps: 5\n");
    const second = await spawnDaemon(home, env);
    try {
      const all = await runCli(["daemon", "logs", "--limit", "500"], { home, env });
      expect(all.code).toBe(0);
      const lines = all.stdout.split("\n");
      const at = (text: string) => lines.findIndex((line) => line.includes(text));
      const listening = lines.filter((line) => line.includes("Listening on"));
      expect(listening).toHaveLength(2);
      expect(listening[0]).toContain(`"pid":${firstPid}`);
      expect(listening[1]).toContain(`"pid":${second.child.pid}`);
      expect(at("rotated info line")).toBeGreaterThanOrEqual(0);
      expect(at("rotated info line")).toBeLessThan(at("Listening on"));
      expect(at("Stopped")).toBeLessThan(lines.lastIndexOf(listening[1]!));

      const errors = await runCli(["daemon", "logs", "--level", "error"], { home, env });
      expect(errors.code).toBe(0);
      const errorLines = errors.stdout.trim().split("\n");
      expect(errorLines.some((line) => /error\s+config: /.test(line))).toBe(true);
      expect(errors.stdout).not.toContain("Listening on");
      expect(errors.stdout).not.toContain("rotated warning");

      const warnings = await runCli(["daemon", "logs", "--level", "warn"], { home, env });
      expect(warnings.stdout).toContain("rotated warning");
      expect(warnings.stdout.indexOf("rotated warning")).toBeLessThan(warnings.stdout.indexOf("config: "));
    } finally {
      await second.stop();
    }
    // Stopped: read from the files alone, the same lines.
    const offline = await runCli(["daemon", "logs", "--level", "error"], { home, env });
    expect(offline.stdout).toMatch(/error\s+config: /);
    expect(offline.stdout).not.toContain("Listening on");
  });
});
