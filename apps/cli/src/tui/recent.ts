/**
 * What the picker and the palette put first: recently used models and commands, remembered across
 * runs in `$OPTA_HOME/tui.json`. A missing or broken file is an empty history, never an error.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

const LIMIT = 20;

/** Recently used model refs and command names, most recent first. */
export interface RecentState {
  models: string[];
  commands: string[];
}

/** Remembers recent choices; in memory when no path is given (tests). */
export class RecentStore {
  readonly state: RecentState = { models: [], commands: [] };
  readonly #path: string | undefined;

  constructor(path?: string) {
    this.#path = path;
  }

  /** The store of an Opta home. */
  static forHome(home: string): RecentStore {
    return new RecentStore(join(home, "tui.json"));
  }

  /** Reads the file (if any). */
  async load(): Promise<this> {
    if (!this.#path) return this;
    try {
      const data = JSON.parse(await readFile(this.#path, "utf8")) as Partial<RecentState>;
      if (Array.isArray(data.models)) this.state.models = data.models.filter((m) => typeof m === "string");
      if (Array.isArray(data.commands)) this.state.commands = data.commands.filter((c) => typeof c === "string");
    } catch {
      // No history yet, or unreadable: start empty.
    }
    return this;
  }

  /** Moves a model to the front. */
  rememberModel(ref: string): void {
    this.state.models = [ref, ...this.state.models.filter((m) => m !== ref)].slice(0, LIMIT);
    void this.#save();
  }

  /** Moves a command to the front. */
  rememberCommand(name: string): void {
    this.state.commands = [name, ...this.state.commands.filter((c) => c !== name)].slice(0, LIMIT);
    void this.#save();
  }

  async #save(): Promise<void> {
    if (!this.#path) return;
    try {
      await mkdir(dirname(this.#path), { recursive: true });
      const temporary = `${this.#path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(this.state, null, 2)}\n`);
      await rename(temporary, this.#path);
    } catch {
      // History is a convenience; failing to save it must not disturb the session.
    }
  }
}

/** Orders items so that those named in `recent` come first, in recent order. */
export function recentFirst<T>(items: readonly T[], recent: readonly string[], key: (item: T) => string): T[] {
  const rank = new Map(recent.map((name, index) => [name, index]));
  return [...items]
    .map((item, index) => ({ item, index, rank: rank.get(key(item)) }))
    .sort((a, b) => {
      if (a.rank !== undefined && b.rank !== undefined) return a.rank - b.rank;
      if (a.rank !== undefined) return -1;
      if (b.rank !== undefined) return 1;
      return a.index - b.index;
    })
    .map((entry) => entry.item);
}
