import { homedir } from "node:os";
import { isAbsolute } from "node:path";
import { DoctorQuery } from "@opta/protocol";
import express from "express";
import { ApiError } from "./api-error.js";
import type { DaemonContext } from "./context.js";
import { validate } from "./http.js";

/**
 * `GET /v3/doctor`: what `opta doctor` prints while the daemon runs. The daemon answers for itself
 * because its environment, config and vault are the ones turns use, not those of the shell that
 * runs the CLI.
 */
export function doctorRoutes(context: DaemonContext): express.Router {
  const router = express.Router();
  router.get("/doctor", async (request, response) => {
    const query = validate(DoctorQuery, request.query, "query");
    if (query.cwd !== undefined && !isAbsolute(query.cwd)) {
      throw new ApiError("VALIDATION_FAILED", `Invalid query field 'cwd': '${query.cwd}' is not an absolute path`);
    }
    // Without a cwd only user-level policies apply: the daemon's own working directory is no project.
    const report = await context.doctor({ cwd: query.cwd ?? homedir(), policyOnly: query.policy === "true" });
    response.json(report);
  });
  return router;
}
