export {
  DEFAULT_CALL_TIMEOUT_SECONDS,
  findProjectMcpFile,
  type McpServerSpec,
  parseProjectFile,
} from "./config.js";
export { McpCallError, McpConnection, type McpTimings, probeServer } from "./connection.js";
export { McpManager, type McpManagerOptions, PEEKABOO } from "./manager.js";
export { exposedToolName } from "./names.js";
export { toToolOutcome } from "./result.js";
