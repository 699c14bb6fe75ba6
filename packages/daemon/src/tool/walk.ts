import type { Dirent } from "node:fs";
import { opendir } from "node:fs/promises";
import { join } from "node:path";
import { ToolError } from "./errors.js";

/** Directories never descended into by search_files and grep. */
export const SKIPPED_DIRECTORIES: ReadonlySet<string> = new Set(["node_modules", ".git", ".hg", ".svn"]);

/** Stop walking after this many directory entries, so a huge tree cannot stall a turn. */
export const MAX_WALK_ENTRIES = 200_000;

export interface WalkedFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the walk's base, with forward slashes. */
  relative: string;
  /** The entry is a symlink (to a file or to nothing); readers must check where it points. */
  symlink: boolean;
}

/**
 * Yields the regular files under `base` depth-first in name order. Symlinked directories are not
 * followed (no loops, no escapes); node_modules and VCS directories are skipped.
 * `state.exhausted` is set when MAX_WALK_ENTRIES stopped the walk early.
 */
export async function* walkFiles(
  base: string,
  signal: AbortSignal,
  state: { exhausted: boolean; entries: number } = { exhausted: false, entries: 0 },
  prefix = "",
): AsyncGenerator<WalkedFile> {
  let entries: Dirent[] = [];
  try {
    const dir = await opendir(base);
    for await (const entry of dir) entries.push(entry);
  } catch {
    return; // unreadable directories are skipped, not fatal
  }
  entries = entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (signal.aborted) throw new ToolError("ABORTED", "cancelled");
    if (++state.entries > MAX_WALK_ENTRIES) {
      state.exhausted = true;
      return;
    }
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    const path = join(base, entry.name);
    if (entry.isDirectory()) {
      if (SKIPPED_DIRECTORIES.has(entry.name)) continue;
      yield* walkFiles(path, signal, state, relative);
      if (state.exhausted) return;
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      yield { path, relative, symlink: entry.isSymbolicLink() };
    }
  }
}
