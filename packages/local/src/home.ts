import { homedir } from "node:os";
import { join } from "node:path";

/**
 * The Opta home: `$OPTA_HOME`, else `$XDG_CONFIG_HOME/opta`, else `~/.config/opta`
 * (`%APPDATA%\opta` on Windows). Every test sets OPTA_HOME to a temporary directory.
 */
export function resolveOptaHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OPTA_HOME) return env.OPTA_HOME;
  if (process.platform === "win32" && env.APPDATA) return join(env.APPDATA, "opta");
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "opta");
  return join(homedir(), ".config", "opta");
}

/** Every well-known path under one Opta home. */
export function optaPaths(home: string) {
  const daemonDir = join(home, "daemon");
  return {
    home,
    config: join(home, "config.yaml"),
    daemonDir,
    token: join(daemonDir, "token"),
    state: join(daemonDir, "state.json"),
    /** Client grants of signed-in Code Desktop windows (hashes only, mode 0600). */
    grants: join(daemonDir, "grants.json"),
    log: join(daemonDir, "daemon.log"),
    sessions: join(daemonDir, "sessions"),
    policies: join(home, "policies"),
    /** Directories the user trusts with a project policy above a session's cwd (`opta trust DIR`). */
    trusted: join(home, "trusted.json"),
    commands: join(home, "commands"),
    browserSnapshots: join(home, "browser-snapshots"),
    lmxModels: join(home, "lmx", "models"),
  };
}
export type OptaPaths = ReturnType<typeof optaPaths>;
