import { editFileTool } from "./edit-file.js";
import { toToolError } from "./errors.js";
import { grepTool } from "./grep.js";
import { listDirTool } from "./list-dir.js";
import { readFileTool } from "./read-file.js";
import { runCommandTool } from "./run-command.js";
import { searchFilesTool } from "./search-files.js";
import type { ToolContext, ToolDefinition, ToolOutcome } from "./types.js";
import { writeFileTool } from "./write-file.js";

export { defineTool } from "./define.js";
export { ToolError, type ToolErrorCode } from "./errors.js";
export { GREP_DEFAULT_MAX_RESULTS, GREP_MAX_FILE_BYTES, GREP_MAX_RESULTS } from "./grep.js";
export { openInWorkspace, resolveInWorkspace } from "./path.js";
export { READ_DEFAULT_LIMIT, READ_MAX_LINE_CHARS, READ_MAX_OUTPUT_CHARS } from "./read-file.js";
export {
  commandEnvironment,
  RUN_DEFAULT_TIMEOUT_SECONDS,
  RUN_OUTPUT_HEAD_BYTES,
  RUN_OUTPUT_TAIL_BYTES,
  RUN_SECRET_ENV,
} from "./run-command.js";
export type { ToolContext, ToolDefinition, ToolOutcome } from "./types.js";

/** The built-in tools, in the order they are offered to the model. */
export const builtinTools: readonly ToolDefinition[] = Object.freeze([
  readFileTool,
  listDirTool,
  searchFilesTool,
  grepTool,
  writeFileTool,
  editFileTool,
  runCommandTool,
]);

const byName = new Map(builtinTools.map((tool) => [tool.name, tool]));

/** The built-in tool with this exact name, if any. */
export function getBuiltinTool(name: string): ToolDefinition | undefined {
  return byName.get(name);
}

/**
 * Runs one tool call and never throws: arguments are parsed (a JSON string is accepted) and
 * validated, and every failure — bad arguments, a refused path, a crash — becomes an error outcome
 * that the model can read and correct.
 */
export async function executeTool(tool: ToolDefinition, rawArgs: unknown, ctx: ToolContext): Promise<ToolOutcome> {
  let args = rawArgs ?? {};
  if (typeof args === "string") {
    try {
      args = args.trim() === "" ? {} : JSON.parse(args);
    } catch (error) {
      return {
        ok: false,
        code: "INVALID_ARGS",
        error: `arguments for ${tool.name} are not valid JSON: ${(error as Error).message}`,
      };
    }
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    return { ok: false, code: "INVALID_ARGS", error: `arguments for ${tool.name} must be a JSON object` };
  }
  if (ctx.signal.aborted) return { ok: false, code: "ABORTED", error: "cancelled before it started" };
  try {
    const outcome = await tool.run(args, ctx);
    return outcome;
  } catch (error) {
    const failure = toToolError(error);
    return { ok: false, code: failure.code, error: failure.message };
  }
}
