import { isAbsolute } from "node:path";
import { McpListQuery, McpTestRequest } from "@opta/protocol";
import express from "express";
import { ApiError } from "./api-error.js";
import type { DaemonContext } from "./context.js";
import { validate } from "./http.js";

/**
 * `/v3/mcp`: what `opta mcp list` and `opta mcp test` show. Adding and removing servers is a config
 * edit (config.yaml or .opta/mcp.yaml) that the daemon picks up by itself.
 */
export function mcpRoutes(context: DaemonContext): express.Router {
  const router = express.Router();

  router.get("/servers", async (request, response) => {
    const query = validate(McpListQuery, request.query, "query");
    response.json({ servers: await context.mcp.list(checkCwd(query.cwd)) });
  });

  router.post("/servers/:name/test", async (request, response) => {
    const body = validate(McpTestRequest, request.body ?? {}, "body");
    const name = request.params.name;
    const result = await context.mcp.test(name, checkCwd(body.cwd));
    if (!result) {
      throw new ApiError(
        "MCP_SERVER_NOT_FOUND",
        `No MCP server '${name}' in config.yaml${body.cwd ? " or this project's .opta/mcp.yaml" : ""}; see 'opta mcp list'.`,
      );
    }
    response.json(result);
  });

  return router;
}

function checkCwd(cwd: string | undefined): string | undefined {
  if (cwd !== undefined && !isAbsolute(cwd)) {
    throw new ApiError("VALIDATION_FAILED", `Invalid field 'cwd': '${cwd}' is not an absolute path`);
  }
  return cwd;
}
