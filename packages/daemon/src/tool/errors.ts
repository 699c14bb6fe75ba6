/** Codes a tool failure carries; the model reads them next to the message. */
export type ToolErrorCode =
  | "INVALID_ARGS"
  | "PATH_OUTSIDE_WORKSPACE"
  | "PATH_TOO_LONG"
  | "PROTECTED_PATH"
  | "FILE_CHANGED"
  | "NOT_FOUND"
  | "NOT_A_FILE"
  | "NOT_A_DIRECTORY"
  | "PERMISSION_DENIED"
  | "BINARY_FILE"
  | "FILE_TOO_LARGE"
  | "NO_MATCH"
  | "NOT_UNIQUE"
  | "NO_CHANGE"
  | "INVALID_REGEX"
  | "INVALID_GLOB"
  | "TIMEOUT"
  | "ABORTED"
  | "SPAWN_FAILED"
  | "SANDBOX_FAILED"
  | "UNKNOWN_TOOL"
  | "TOOL_FAILED";

/** A failure of a tool call that stays in-process and becomes an error outcome for the model. */
export class ToolError extends Error {
  override readonly name = "ToolError";
  constructor(
    /** Machine-readable code. */
    readonly code: ToolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Turns any thrown value into a ToolError with a readable message (file-system errors included). */
export function toToolError(error: unknown, path?: string): ToolError {
  if (error instanceof ToolError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = path ? `"${path}"` : "the path";
  switch (errno) {
    case "ENOENT":
      return new ToolError("NOT_FOUND", `${where} does not exist`);
    case "EISDIR":
      return new ToolError("NOT_A_FILE", `${where} is a directory, not a file`);
    case "ENOTDIR":
      return new ToolError("NOT_A_DIRECTORY", `a component of ${where} is not a directory`);
    case "EACCES":
    case "EPERM":
      return new ToolError("PERMISSION_DENIED", `the operating system refused access to ${where}`);
    case "ELOOP":
      return new ToolError("TOOL_FAILED", `${where} has too many levels of symbolic links`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ToolError("TOOL_FAILED", message);
}
