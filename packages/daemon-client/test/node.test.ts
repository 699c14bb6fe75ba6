import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  createLocalClient,
  DaemonConnectionError,
  ensureDaemon,
  readLocalConnection,
  stopDaemon,
} from "../src/node.js";

const homes: string[] = [];
async function tempHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "opta-node-"));
  homes.push(home);
  return home;
}

afterEach(async () => {
  for (const home of homes.splice(0)) {
    await stopDaemon({ home }).catch(() => {});
    await rm(home, { recursive: true, force: true });
  }
});

describe("Node helpers", () => {
  it("say how to start the daemon when none runs", async () => {
    const home = await tempHome();
    await expect(readLocalConnection(home)).rejects.toThrow(/not running.*opta daemon start/);
    await expect(createLocalClient({ home })).rejects.toBeInstanceOf(DaemonConnectionError);
  });

  it("point at daemon.log when the daemon cannot start", async () => {
    const home = await tempHome();
    const entry = join(home, "broken-daemon.mjs");
    await writeFile(entry, 'process.stderr.write("opta daemon: port 9999 is in use\\n"); process.exit(1);\n');
    const error = await ensureDaemon({ home, entry }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonConnectionError);
    expect((error as Error).message).toBe(
      `The Opta daemon did not start: it exited with code 1. See ${join(home, "daemon", "daemon.log")} (last line: opta daemon: port 9999 is in use)`,
    );
  });

  it("start one daemon when two callers race on a cold home", async () => {
    const home = await tempHome();
    const env = { OPTA_DAEMON_PORT: "0" };
    const [a, b] = await Promise.all([ensureDaemon({ home, env }), ensureDaemon({ home, env })]);
    expect(a.pid).toBe(b.pid);
    expect([a.started, b.started].filter(Boolean)).toHaveLength(1);
  });
});
