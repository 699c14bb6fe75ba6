import { lstat, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { defineTool } from "./define.js";
import { ToolError, toToolError } from "./errors.js";
import { displayPath, openInWorkspace, replaceContent, resolveInWorkspace, workspaceRoots } from "./path.js";

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
    const existing = await lstat(real).catch(() => undefined);
    if (existing?.isDirectory()) throw new ToolError("NOT_A_FILE", `"${args.path}" is a directory`);
    try {
      await mkdir(dirname(real), { recursive: true });
    } catch (error) {
      throw toToolError(error, args.path);
    }
    // Checked above, then opened without following a symlink that may have appeared since.
    const handle = await openInWorkspace(real, ctx, "create", args.path);
    try {
      await replaceContent(handle, args.content);
    } catch (error) {
      throw toToolError(error, args.path);
    } finally {
      await handle.close().catch(() => undefined);
    }
    const bytes = Buffer.byteLength(args.content, "utf8");
    const created = existing === undefined;
    return {
      result: { path: shown, bytes, created },
      summary: `${created ? "created" : "wrote"} ${shown} (${bytes} bytes)`,
    };
  },
});
