import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { z } from "zod";
import { defineTool } from "./define.js";
import { ToolError, toToolError } from "./errors.js";
import { displayPath, resolveInWorkspace, workspaceRoots } from "./path.js";
import { capLine, fileLooksBinary, splitLines } from "./text.js";

/** Lines returned when the model gives no limit, and the most it may ask for. */
export const READ_DEFAULT_LIMIT = 2000;
/** Characters kept of one line. */
export const READ_MAX_LINE_CHARS = 2000;
/** Characters of numbered output returned by one call; the rest is reached with `offset`. */
export const READ_MAX_OUTPUT_CHARS = 100_000;
/** Files up to this size are read whole (and their line count reported); bigger ones are streamed. */
export const READ_WHOLE_FILE_BYTES = 10 * 1024 * 1024;

const ReadFileArgs = z.object({
  path: z.string().min(1).describe("File to read, relative to the working directory (or absolute inside it)."),
  offset: z.number().int().min(1).optional().describe("1-based line number to start at (default 1)."),
  limit: z
    .number()
    .int()
    .min(1)
    .max(READ_DEFAULT_LIMIT)
    .optional()
    .describe(`Maximum number of lines to return (default and maximum ${READ_DEFAULT_LIMIT}).`),
});

function numbered(lineNumber: number, text: string): string {
  return `${String(lineNumber).padStart(6)}\t${capLine(text, READ_MAX_LINE_CHARS)}`;
}

/** Collects numbered lines [offset, offset+limit) until the output cap; `more` is true if lines remain. */
class Window {
  readonly lines: string[] = [];
  chars = 0;
  capped = false;
  constructor(
    readonly offset: number,
    readonly limit: number,
  ) {}
  /** Returns false once the window is full. */
  add(lineNumber: number, text: string): boolean {
    if (lineNumber < this.offset) return true;
    if (this.lines.length >= this.limit) return false;
    const line = numbered(lineNumber, text);
    if (this.lines.length > 0 && this.chars + line.length + 1 > READ_MAX_OUTPUT_CHARS) {
      this.capped = true;
      return false;
    }
    this.lines.push(line);
    this.chars += line.length + 1;
    return true;
  }
}

export const readFileTool = defineTool({
  name: "read_file",
  description:
    "Read a text file. Returns its lines prefixed with 1-based line numbers and a tab. " +
    `Reads at most ${READ_DEFAULT_LIMIT} lines or ${READ_MAX_OUTPUT_CHARS} characters per call; ` +
    "use offset and limit to page through longer files.",
  kind: "read",
  risk: "read",
  schema: ReadFileArgs,
  async execute(args, ctx) {
    const real = await resolveInWorkspace(args.path, ctx);
    const shown = displayPath(real, await workspaceRoots(ctx));
    const info = await stat(real).catch((error) => {
      throw toToolError(error, args.path);
    });
    if (info.isDirectory()) throw new ToolError("NOT_A_FILE", `"${args.path}" is a directory; use list_dir`);
    if (!info.isFile()) throw new ToolError("NOT_A_FILE", `"${args.path}" is not a regular file`);
    if (await fileLooksBinary(real)) {
      throw new ToolError("BINARY_FILE", `"${args.path}" looks like a binary file (${info.size} bytes); not shown`);
    }
    const offset = args.offset ?? 1;
    const window = new Window(offset, args.limit ?? READ_DEFAULT_LIMIT);
    let totalLines: number | undefined;
    if (info.size <= READ_WHOLE_FILE_BYTES) {
      const lines = splitLines(await readFile(real, "utf8"));
      totalLines = lines.length;
      for (let index = offset - 1; index < lines.length; index++) {
        if (!window.add(index + 1, lines[index] ?? "")) break;
      }
    } else {
      const stream = createReadStream(real, { encoding: "utf8" });
      const reader = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
      let lineNumber = 0;
      try {
        for await (const line of reader) {
          if (ctx.signal.aborted) throw new ToolError("ABORTED", "cancelled");
          if (!window.add(++lineNumber, line)) break;
        }
      } finally {
        reader.close();
        stream.destroy();
      }
    }
    const startLine = window.lines.length > 0 ? offset : 0;
    const endLine = window.lines.length > 0 ? offset + window.lines.length - 1 : 0;
    const more =
      totalLines === undefined
        ? window.lines.length > 0 && (window.capped || window.lines.length >= window.limit)
        : endLine < totalLines;
    if (totalLines !== undefined && offset > totalLines && totalLines > 0) {
      throw new ToolError("INVALID_ARGS", `offset ${offset} is past the end of "${args.path}" (${totalLines} lines)`);
    }
    const result: Record<string, unknown> = { path: shown, content: window.lines.join("\n"), startLine, endLine };
    if (totalLines !== undefined) result.totalLines = totalLines;
    if (more) {
      result.truncated = true;
      result.nextOffset = endLine + 1;
    }
    const of = totalLines !== undefined ? ` of ${totalLines}` : "";
    const summary =
      window.lines.length === 0
        ? "empty file"
        : startLine === 1 && !more
          ? `${window.lines.length} line${window.lines.length === 1 ? "" : "s"}`
          : `lines ${startLine}–${endLine}${of}`;
    return { result, summary };
  },
});
