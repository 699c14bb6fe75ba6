import { realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FileVault, saveConfig, VAULT_FILE_NAME } from "@opta/local";
import type { OptaConfig } from "@opta/protocol";
import { Daemon } from "../../src/daemon.js";
import { api, tempHome, waitFor } from "../fixtures/daemon-harness.js";

/** An event as the API returns it. */
export type Event = Record<string, unknown> & { event: string; seq: number };

/** A daemon running in this process against a temporary home, a workspace and a file vault. */
export interface ProviderRig {
  daemon: Daemon;
  home: string;
  workspace: string;
  vault: FileVault;
  call: ReturnType<typeof api>;
  writeConfig(config: OptaConfig): Promise<void>;
  /** Creates a Do-mode session in the workspace. */
  session(): Promise<string>;
  /** Submits a turn and waits for its end; returns that turn's events. */
  run(id: string, body: Record<string, unknown>): Promise<Event[]>;
  events(id: string): Promise<Event[]>;
  close(): Promise<void>;
}

/** Starts the rig; `env` is the daemon's environment (OPTA_VAULT=file is always set). */
export async function startRig(options: { env: Record<string, string>; config?: OptaConfig }): Promise<ProviderRig> {
  const homeDir = await tempHome("opta-provider-home-");
  const work = await tempHome("opta-provider-work-");
  const home = homeDir.home;
  const workspace = await realpath(work.home);
  await writeFile(join(workspace, "note.txt"), "hello from the note\n");
  const writeConfig = (config: OptaConfig) => saveConfig(join(home, "config.yaml"), config);
  if (options.config) await writeConfig(options.config);
  const daemon = await Daemon.start({
    home,
    port: 0,
    env: { OPTA_HOME: home, OPTA_VAULT: "file", ...options.env },
    mountStatic: () => {},
  });
  const call = api({ url: daemon.url, token: daemon.token });
  const events = async (id: string) =>
    ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  return {
    daemon,
    home,
    workspace,
    vault: new FileVault(join(home, VAULT_FILE_NAME)),
    call,
    writeConfig,
    events,
    async session() {
      const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
      return ((await response.json()) as { id: string }).id;
    },
    async run(id, body) {
      const before = (await events(id)).length;
      const response = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: body });
      if (response.status !== 202) throw new Error(`turn refused: ${response.status} ${await response.text()}`);
      return waitFor(async () => {
        const all = (await events(id)).slice(before);
        return all.some((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event))
          ? all
          : undefined;
      }, 20_000);
    },
    async close() {
      await daemon.stop();
      await homeDir.cleanup();
      await work.cleanup();
    },
  };
}

/** An event without what differs between runs (ids, times, sequence numbers). */
export function comparable(event: Event): Record<string, unknown> {
  const {
    seq: _seq,
    ts: _ts,
    sessionId: _session,
    turnId: _turn,
    callId: _call,
    elapsed: _elapsed,
    elapsedMs: _elapsedMs,
    tokensPerSec: _rate,
    ...rest
  } = event;
  return rest;
}
