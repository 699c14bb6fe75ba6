import { type FSWatcher, readFileSync, statSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { parseConfig } from "@opta/local";
import type { OptaConfig } from "@opta/protocol";

/** What the daemon does when config.yaml changes. */
export interface LiveConfigHooks {
  /** A new valid config is in force (also called once by the first read). */
  changed(config: OptaConfig, previous: OptaConfig | undefined): void;
  /** config.yaml could not be used; the last valid config stays in force. */
  invalid(message: string): void;
}

/**
 * config.yaml as it is on disk now. Every read stats the file (inode, size, mtime and ctime in
 * nanoseconds: the CLI replaces it by rename, so a new inode) and re-reads it when any of them
 * changed, so a command right after `opta config set` sees the new value — a background reload
 * would let that first command run on the old one. An fs.watch on the directory applies a change
 * to providers even when nothing reads the config for a while. A file that does not parse keeps
 * the last valid config in force and is reported once per change.
 */
export class LiveConfig {
  private current: OptaConfig | undefined;
  private stamp: string | undefined;
  private watcher: FSWatcher | undefined;

  constructor(
    readonly path: string,
    private readonly hooks: LiveConfigHooks,
  ) {}

  /** The current config; a stat per call, a parse only when the file changed. */
  get(): OptaConfig {
    const stamp = this.stampOf();
    if (stamp !== this.stamp) this.load(stamp);
    return this.current ?? {};
  }

  /** Re-reads the file even if it looks unchanged (an in-process restart). */
  reload(): OptaConfig {
    this.stamp = undefined;
    return this.get();
  }

  /** Watches config.yaml's directory (renames replace the file) and applies changes as they land. */
  watch(): void {
    if (this.watcher) return;
    const name = basename(this.path);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.get();
      });
      // A watcher that fails later (the directory removed) must not take the daemon down: reads still stat.
      this.watcher.on("error", () => this.unwatch());
    } catch {
      // No watch where the platform refuses one (the directory missing, inotify limits): reads still stat.
      this.watcher = undefined;
    }
  }

  /** Stops watching. */
  unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private stampOf(): string {
    try {
      const info = statSync(this.path, { bigint: true });
      return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (error) {
      return `missing:${(error as NodeJS.ErrnoException).code ?? "error"}`;
    }
  }

  private load(stamp: string): void {
    this.stamp = stamp;
    let next: OptaConfig;
    try {
      next = stamp.startsWith("missing:ENOENT") ? {} : parseConfig(readFileSync(this.path, "utf8"), this.path);
    } catch (error) {
      this.hooks.invalid(`${(error as Error).message}; the daemon keeps the last valid config`);
      if (this.current === undefined) {
        this.current = {};
        this.hooks.changed(this.current, undefined);
      }
      return;
    }
    const previous = this.current;
    this.current = next;
    this.hooks.changed(next, previous);
  }
}
