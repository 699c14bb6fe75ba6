import { join } from "node:path";

/** The platform's files under one Opta home. */
export function platformPaths(home: string) {
  const dir = join(home, "platform");
  return {
    dir,
    /** pid, port, domain, data dir and start time of the running server (mode 0600). */
    state: join(dir, "state.json"),
    /** The background server's structured log (JSON lines). */
    log: join(dir, "platform.log"),
    /** The default data dir (`--data`): the embedded database lives in `<data>/pglite`. */
    data: join(dir, "data"),
  };
}

/** Where the embedded database lives inside a data dir. */
export function pgliteDir(dataDir: string): string {
  return join(dataDir, "pglite");
}
