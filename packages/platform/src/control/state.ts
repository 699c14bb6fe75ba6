import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { platformPaths } from "./paths.js";

/** What `state.json` records about the running platform server. */
export interface PlatformState {
  pid: number;
  /** The loopback port it listens on (the real one when started with --port 0). */
  port: number;
  domain: string;
  dataDir: string;
  database: "pglite" | "postgres";
  startedAt: string;
  version: string;
}

/** The recorded state, or undefined when there is none (or it is unreadable). */
export async function readPlatformState(home: string): Promise<PlatformState | undefined> {
  try {
    const state = JSON.parse(await readFile(platformPaths(home).state, "utf8")) as PlatformState;
    return Number.isInteger(state.pid) && Number.isInteger(state.port) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Writes state.json through a temp file and a rename, so a reader never sees half of it. */
export async function writePlatformState(home: string, state: PlatformState): Promise<void> {
  const path = platformPaths(home).state;
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

/** Removes state.json if it still names `pid` (a newer server's state is left alone). */
export async function clearPlatformState(home: string, pid: number): Promise<void> {
  const state = await readPlatformState(home);
  if (state && state.pid !== pid) return;
  await rm(platformPaths(home).state, { force: true });
}
