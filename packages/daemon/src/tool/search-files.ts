import { stat } from "node:fs/promises";
import picomatch from "picomatch";
import { z } from "zod";
import { defineTool } from "./define.js";
import { ToolError, toToolError } from "./errors.js";
import { displayPath, resolveInWorkspace, workspaceRoots } from "./path.js";
import { walkFiles } from "./walk.js";

/** Default and maximum number of paths returned by search_files. */
export const SEARCH_DEFAULT_LIMIT = 200;
export const SEARCH_MAX_LIMIT = 1000;

const SearchFilesArgs = z.object({
  pattern: z
    .string()
    .min(1)
    .describe('Glob, e.g. "**/*.ts" or "src/**/test_*.py". A pattern without "/" matches file names at any depth.'),
  path: z.string().min(1).default(".").describe('Directory to search in (default "."); the glob is relative to it.'),
  limit: z
    .number()
    .int()
    .min(1)
    .max(SEARCH_MAX_LIMIT)
    .default(SEARCH_DEFAULT_LIMIT)
    .describe(`Maximum number of paths to return (default ${SEARCH_DEFAULT_LIMIT}).`),
});

export const searchFilesTool = defineTool({
  name: "search_files",
  description:
    "Find files by glob under a directory. Returns matching file paths relative to the working directory, " +
    "sorted. node_modules and .git are skipped; symlinked directories are not followed.",
  kind: "read",
  risk: "read",
  schema: SearchFilesArgs,
  async execute(args, ctx) {
    const base = await resolveInWorkspace(args.path, ctx);
    const roots = await workspaceRoots(ctx);
    const info = await stat(base).catch((error) => {
      throw toToolError(error, args.path);
    });
    if (!info.isDirectory()) throw new ToolError("NOT_A_DIRECTORY", `"${args.path}" is not a directory`);
    let isMatch: (path: string) => boolean;
    try {
      const pattern = args.pattern.replace(/^\.\//, "");
      isMatch = picomatch(pattern, { dot: true, basename: !pattern.includes("/") });
    } catch (error) {
      throw new ToolError("INVALID_GLOB", `invalid glob "${args.pattern}": ${(error as Error).message}`);
    }
    const files: string[] = [];
    const state = { exhausted: false, entries: 0 };
    let truncated = false;
    for await (const file of walkFiles(base, ctx.signal, state)) {
      if (!isMatch(file.relative)) continue;
      if (files.length >= args.limit) {
        truncated = true;
        break;
      }
      files.push(displayPath(file.path, roots));
    }
    const result: Record<string, unknown> = { path: displayPath(base, roots), pattern: args.pattern, files };
    if (truncated) result.truncated = true;
    if (state.exhausted) result.note = "stopped early: the directory tree is very large; narrow the path";
    const summary = `${files.length}${truncated ? "+" : ""} file${files.length === 1 ? "" : "s"}`;
    return { result, summary };
  },
});
