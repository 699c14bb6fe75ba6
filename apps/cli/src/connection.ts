import { fileURLToPath } from "node:url";
import type { DaemonClient } from "@opta/daemon-client";
import { createLocalClient, ensureDaemon, resolveOptaHome } from "@opta/daemon-client/node";
import { notice } from "./output/terminal.js";

/** The Opta home this invocation uses ($OPTA_HOME, else the platform default). */
export function optaHome(): string {
  return resolveOptaHome();
}

/** Path of the daemon's entry script, resolved from this package's dependency on @opta/daemon. */
export function daemonEntry(): string {
  return fileURLToPath(import.meta.resolve("@opta/daemon/main"));
}

/**
 * A client for the local daemon. With `autostart` (the default) a daemon that is not running is
 * started in the background first, and a one-line notice says so.
 */
export async function connect(options: { autostart?: boolean } = {}): Promise<DaemonClient> {
  const home = optaHome();
  if (options.autostart !== false) {
    const result = await ensureDaemon({ home, entry: daemonEntry() });
    if (result.started) {
      notice(`Started the Opta daemon on ${result.connection.baseUrl} (pid ${result.pid})`);
    }
  }
  return createLocalClient({ home });
}
