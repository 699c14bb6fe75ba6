import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { defineTool } from "./define.js";
import { ToolError, toToolError } from "./errors.js";
import { displayPath, resolveInWorkspace, workspaceRoots } from "./path.js";

/** Entries returned by one list_dir call. */
export const LIST_MAX_ENTRIES = 1000;

const ListDirArgs = z.object({
  path: z.string().min(1).default(".").describe('Directory to list, relative to the working directory (default ".").'),
});

type EntryType = "file" | "dir" | "symlink" | "other";

export const listDirTool = defineTool({
  name: "list_dir",
  description:
    "List one directory (not recursive): each entry's name, type (file, dir, symlink, other) and size in bytes " +
    `for files. Directories come first, then files, each sorted by name; at most ${LIST_MAX_ENTRIES} entries.`,
  kind: "read",
  risk: "read",
  schema: ListDirArgs,
  async execute(args, ctx) {
    const real = await resolveInWorkspace(args.path, ctx);
    const shown = displayPath(real, await workspaceRoots(ctx));
    const dirents = await readdir(real, { withFileTypes: true }).catch((error) => {
      if ((error as NodeJS.ErrnoException).code === "ENOTDIR") {
        throw new ToolError("NOT_A_DIRECTORY", `"${args.path}" is a file; use read_file`);
      }
      throw toToolError(error, args.path);
    });
    const entries: Array<{ name: string; type: EntryType; size?: number }> = [];
    for (const dirent of dirents) {
      const type: EntryType = dirent.isDirectory()
        ? "dir"
        : dirent.isFile()
          ? "file"
          : dirent.isSymbolicLink()
            ? "symlink"
            : "other";
      entries.push({ name: dirent.name, type });
    }
    const rank = (type: EntryType) => (type === "dir" ? 0 : 1);
    entries.sort((a, b) => rank(a.type) - rank(b.type) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const kept = entries.slice(0, LIST_MAX_ENTRIES);
    await Promise.all(
      kept.map(async (entry) => {
        if (entry.type !== "file") return;
        const info = await lstat(join(real, entry.name)).catch(() => undefined);
        if (info) entry.size = info.size;
      }),
    );
    const result: Record<string, unknown> = { path: shown, entries: kept };
    if (entries.length > kept.length) {
      result.truncated = true;
      result.totalEntries = entries.length;
    }
    const summary = `${entries.length} entr${entries.length === 1 ? "y" : "ies"}${result.truncated ? ` (first ${kept.length} shown)` : ""}`;
    return { result, summary };
  },
});
