import { z } from "zod";
import { defineTool } from "./define.js";
import { ToolError, toToolError } from "./errors.js";
import { assertNotProtected, displayPath, openInWorkspace, resolveInWorkspace, workspaceRoots } from "./path.js";
import { writeFileAtomically } from "./safe-write.js";
import { looksBinary } from "./text.js";

/** Files bigger than this are not edited in memory. */
export const EDIT_MAX_FILE_BYTES = 10 * 1024 * 1024;

const EditFileArgs = z.object({
  path: z.string().min(1).describe("File to edit, relative to the working directory."),
  old_string: z
    .string()
    .min(1)
    .describe(
      "Exact text to replace, including whitespace and indentation; must occur exactly once unless replace_all.",
    ),
  new_string: z.string().describe("Text to put in its place."),
  replace_all: z.boolean().default(false).describe("Replace every occurrence instead of requiring exactly one."),
});

function countOccurrences(haystack: string, needle: string): number[] {
  const positions: number[] = [];
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) {
    positions.push(at);
  }
  return positions;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let at = text.indexOf("\n"); at !== -1 && at < index; at = text.indexOf("\n", at + 1)) line++;
  return line;
}

export const editFileTool = defineTool({
  name: "edit_file",
  description:
    "Replace an exact string in a file. old_string must match the file byte for byte and occur exactly once " +
    "(add surrounding lines to make it unique), or set replace_all to replace every occurrence.",
  kind: "write",
  risk: "write",
  schema: EditFileArgs,
  async execute(args, ctx) {
    const real = await resolveInWorkspace(args.path, ctx);
    const shown = displayPath(real, await workspaceRoots(ctx));
    await assertNotProtected(real, ctx, args.path); // before reading, so this is the error the model sees
    // Read and written through handles opened without following symlinks (see openInWorkspace).
    const reader = await openInWorkspace(real, ctx, "read", args.path);
    let bytes: Buffer;
    let read: { dev: number; ino: number };
    try {
      const info = await reader.stat();
      read = { dev: info.dev, ino: info.ino };
      if (info.size > EDIT_MAX_FILE_BYTES) {
        throw new ToolError(
          "FILE_TOO_LARGE",
          `"${args.path}" is ${info.size} bytes; edit_file handles up to ${EDIT_MAX_FILE_BYTES}`,
        );
      }
      bytes = await reader.readFile();
    } catch (error) {
      throw toToolError(error, args.path);
    } finally {
      await reader.close().catch(() => undefined);
    }
    if (looksBinary(bytes)) throw new ToolError("BINARY_FILE", `"${args.path}" looks like a binary file`);
    const text = bytes.toString("utf8");
    if (args.old_string === args.new_string) {
      throw new ToolError("NO_CHANGE", "old_string and new_string are identical; nothing to change");
    }
    const positions = countOccurrences(text, args.old_string);
    if (positions.length === 0) {
      throw new ToolError(
        "NO_MATCH",
        `old_string was not found in "${shown}"; read the file again and copy the exact text, including whitespace`,
      );
    }
    if (positions.length > 1 && !args.replace_all) {
      const lines = positions.slice(0, 10).map((position) => lineOf(text, position));
      throw new ToolError(
        "NOT_UNIQUE",
        `old_string occurs ${positions.length} times in "${shown}" (lines ${lines.join(", ")}${positions.length > 10 ? ", …" : ""}); ` +
          "include more surrounding text to make it unique, or set replace_all to true",
      );
    }
    const updated = args.replace_all
      ? text.split(args.old_string).join(args.new_string)
      : text.slice(0, positions[0]) + args.new_string + text.slice((positions[0] ?? 0) + args.old_string.length);
    // Written through a temp file renamed over the one that was read, and only if it is still that file.
    await writeFileAtomically(real, updated, ctx, { shownAs: args.path, createParents: false, expect: read });
    const replacements = positions.length;
    const firstLine = lineOf(text, positions[0] ?? 0);
    return {
      result: { path: shown, replacements, line: firstLine },
      summary: `${replacements} replacement${replacements === 1 ? "" : "s"} in ${shown}`,
    };
  },
});
