import { unifiedDiff } from "@opta/protocol";
import { z } from "zod";
import { defineTool } from "./define.js";
import { displayPath, openInWorkspace, resolveInWorkspace, workspaceRoots } from "./path.js";
import { writeFileAtomically } from "./safe-write.js";
import { looksBinary } from "./text.js";
import type { ToolContext } from "./types.js";

/** Files up to this size are diffed against what replaces them (bigger ones get no diff). */
export const WRITE_DIFF_MAX_FILE_BYTES = 1024 * 1024;
/** The `diff` a result carries is cut at this many characters (`diffTruncated` says so). */
export const WRITE_DIFF_MAX_CHARS = 16_000;

/** The text a write replaces, when there is a small text file there; undefined otherwise. */
async function previousText(real: string, ctx: ToolContext, shownAs: string): Promise<string | undefined> {
  try {
    const handle = await openInWorkspace(real, ctx, "read", shownAs);
    try {
      if ((await handle.stat()).size > WRITE_DIFF_MAX_FILE_BYTES) return undefined;
      const bytes = await handle.readFile();
      return looksBinary(bytes) ? undefined : bytes.toString("utf8");
    } finally {
      await handle.close().catch(() => undefined);
    }
  } catch {
    return undefined; // missing (a new file) or unreadable: the write itself reports real problems
  }
}

const WriteFileArgs = z.object({
  path: z.string().min(1).describe("File to write, relative to the working directory. Parent directories are created."),
  content: z.string().describe("The complete new content of the file."),
});

export const writeFileTool = defineTool({
  name: "write_file",
  description:
    "Create a file or replace its whole content. Creates missing parent directories. " +
    "To change part of an existing file, prefer edit_file.",
  kind: "write",
  risk: "write",
  schema: WriteFileArgs,
  async execute(args, ctx) {
    const real = await resolveInWorkspace(args.path, ctx);
    const shown = displayPath(real, await workspaceRoots(ctx));
    const before = await previousText(real, ctx, args.path);
    const { created } = await writeFileAtomically(real, args.content, ctx, {
      shownAs: args.path,
      createParents: true,
    });
    const bytes = Buffer.byteLength(args.content, "utf8");
    const result: Record<string, unknown> = { path: shown, bytes, created };
    // What changed, for UIs' diff cards (a new file's diff is its content: the call's arguments hold it).
    if (!created && before !== undefined) {
      const diff = unifiedDiff(before, args.content, { maxChars: WRITE_DIFF_MAX_CHARS });
      Object.assign(result, { diff: diff.text, added: diff.added, removed: diff.removed });
      if (diff.truncated) result.diffTruncated = true;
    }
    return {
      result,
      summary: `${created ? "created" : "wrote"} ${shown} (${bytes} bytes)`,
    };
  },
});
