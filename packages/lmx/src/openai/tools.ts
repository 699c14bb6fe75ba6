import type { LmxApp, RequestScope } from "../server/context.js";
import { LmxError } from "../server/errors.js";
import type { ToolPlan } from "./generate.js";
import { toChatFunctions } from "./messages.js";
import type { ChatTool } from "./schemas.js";

/** A resolved `tool_choice`, whatever API it came from. */
export type ToolChoiceKind = "auto" | "none" | "required" | { name: string };

/**
 * Which functions the model sees and whether a call is forced; `param` names the request's
 * tool_choice field in errors. Unenforceable schema keywords of non-strict tools are dropped,
 * reported in the `x-lmx-schema-dropped` response header and logged.
 */
export async function planTools(
  app: LmxApp,
  scope: RequestScope,
  tools: readonly ChatTool[],
  requested: ToolChoiceKind | undefined,
  param = "tool_choice",
): Promise<ToolPlan> {
  const choice = requested ?? (tools.length > 0 ? "auto" : "none");
  if (choice === "none") return { functions: undefined, forced: false };
  if (tools.length === 0) {
    throw new LmxError("invalid_request", `${param} requires a non-empty tools list`, { param });
  }
  let offered = tools;
  if (typeof choice === "object") {
    offered = tools.filter((tool) => tool.function.name === choice.name);
    if (offered.length === 0) {
      throw new LmxError("invalid_request", `${param} names '${choice.name}', which is not in tools`, {
        param: `${param}.${param === "tool_choice" ? "function.name" : "name"}`,
      });
    }
  }
  const dropped: string[] = [];
  const functions = toChatFunctions(offered, dropped);
  for (const [name, fn] of Object.entries(functions)) {
    if (fn.params) await app.grammars.forSchema(fn.params, `tools[${name}].function.parameters`);
  }
  if (dropped.length > 0) reportDropped(app, scope, dropped);
  return { functions, forced: choice !== "auto" };
}

/** The header and log line for dropped schema keywords (header value: printable ASCII, bounded). */
function reportDropped(app: LmxApp, scope: RequestScope, dropped: string[]): void {
  app.log({ event: "tools.schema_dropped", requestId: scope.requestId, keywords: dropped });
  let value = dropped.join(", ").replace(/[^\x20-\x7e]/g, "?");
  if (value.length > 2000) value = `${value.slice(0, 1990)}, ...`;
  if (!scope.response.headersSent) scope.response.setHeader("x-lmx-schema-dropped", value);
}
