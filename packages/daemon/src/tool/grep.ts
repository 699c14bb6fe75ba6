import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import picomatch from "picomatch";
import { z } from "zod";
import { defineTool } from "./define.js";
import { ToolError, toToolError } from "./errors.js";
import { displayPath, resolveInWorkspace, workspaceRoots } from "./path.js";
import { RegexWorker } from "./regex-worker.js";
import { capLine, looksBinary, splitLines } from "./text.js";
import { type WalkedFile, walkFiles } from "./walk.js";

/** Default and maximum number of matching lines returned. */
export const GREP_DEFAULT_MAX_RESULTS = 100;
export const GREP_MAX_RESULTS = 1000;
/** Files bigger than this are skipped (and counted). */
export const GREP_MAX_FILE_BYTES = 1024 * 1024;
/** Characters kept of a matching line. */
export const GREP_MAX_LINE_CHARS = 300;

const GrepArgs = z.object({
  pattern: z.string().min(1).describe("JavaScript regular expression searched for in each line."),
  path: z.string().min(1).default(".").describe('File or directory to search (default ".").'),
  glob: z.string().min(1).optional().describe('Only search files whose path matches this glob, e.g. "*.ts".'),
  ignore_case: z.boolean().default(false).describe("Match case-insensitively."),
  max_results: z
    .number()
    .int()
    .min(1)
    .max(GREP_MAX_RESULTS)
    .default(GREP_DEFAULT_MAX_RESULTS)
    .describe(`Maximum number of matching lines to return (default ${GREP_DEFAULT_MAX_RESULTS}).`),
});

interface GrepMatch {
  file: string;
  line: number;
  text: string;
}

export const grepTool = defineTool({
  name: "grep",
  description:
    "Search file contents with a regular expression. Returns matching lines as {file, line, text}. " +
    `Skips binary files, files over ${GREP_MAX_FILE_BYTES / 1024} KiB, node_modules and .git.`,
  kind: "read",
  risk: "read",
  schema: GrepArgs,
  async execute(args, ctx) {
    const flags = args.ignore_case ? "i" : "";
    try {
      new RegExp(args.pattern, flags);
    } catch (error) {
      throw new ToolError("INVALID_REGEX", `invalid regular expression: ${(error as Error).message}`);
    }
    let filter: ((path: string) => boolean) | undefined;
    if (args.glob) {
      const glob = args.glob.replace(/^\.\//, "");
      filter = picomatch(glob, { dot: true, basename: !glob.includes("/") });
    }
    const base = await resolveInWorkspace(args.path, ctx);
    const roots = await workspaceRoots(ctx);
    const info = await stat(base).catch((error) => {
      throw toToolError(error, args.path);
    });

    const files: AsyncIterable<WalkedFile> | WalkedFile[] = info.isDirectory()
      ? walkFiles(base, ctx.signal)
      : [{ path: base, relative: basename(base), symlink: false }];
    const matches: GrepMatch[] = [];
    const skipped = { binary: 0, tooLarge: 0, outsideWorkspace: 0 };
    let filesSearched = 0;
    let truncated = false;
    const filesWithMatches = new Set<string>();

    const regex = new RegexWorker(args.pattern, flags);
    try {
      outer: for await (const file of files) {
        if (filter && !filter(file.relative)) continue;
        let path = file.path;
        if (file.symlink) {
          try {
            path = await resolveInWorkspace(file.path, ctx);
          } catch {
            skipped.outsideWorkspace++;
            continue;
          }
        }
        const fileInfo = await stat(path).catch(() => undefined);
        if (!fileInfo?.isFile()) continue;
        if (fileInfo.size > GREP_MAX_FILE_BYTES) {
          skipped.tooLarge++;
          continue;
        }
        const bytes = await readFile(path).catch(() => undefined);
        if (!bytes) continue;
        if (looksBinary(bytes)) {
          skipped.binary++;
          continue;
        }
        filesSearched++;
        const shown = displayPath(file.path, roots);
        const lines = splitLines(bytes.toString("utf8"));
        for (const index of await regex.match(lines, shown, ctx.signal)) {
          if (matches.length >= args.max_results) {
            truncated = true;
            break outer;
          }
          matches.push({ file: shown, line: index + 1, text: capLine(lines[index] ?? "", GREP_MAX_LINE_CHARS) });
          filesWithMatches.add(shown);
        }
      }
    } finally {
      await regex.close();
    }
    const result: Record<string, unknown> = { pattern: args.pattern, matches, filesSearched };
    if (skipped.binary + skipped.tooLarge + skipped.outsideWorkspace > 0) result.skipped = skipped;
    if (truncated) result.truncated = true;
    const summary = `${matches.length}${truncated ? "+" : ""} match${matches.length === 1 ? "" : "es"} in ${filesWithMatches.size} file${filesWithMatches.size === 1 ? "" : "s"}`;
    return { result, summary };
  },
});
