import { z } from "zod";
import { defineTool } from "./define.js";
import { displayPath, resolveInWorkspace, workspaceRoots } from "./path.js";
import { writeFileAtomically } from "./safe-write.js";

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
    const { created } = await writeFileAtomically(real, args.content, ctx, {
      shownAs: args.path,
      createParents: true,
    });
    const bytes = Buffer.byteLength(args.content, "utf8");
    return {
      result: { path: shown, bytes, created },
      summary: `${created ? "created" : "wrote"} ${shown} (${bytes} bytes)`,
    };
  },
});
