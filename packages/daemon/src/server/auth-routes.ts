import { AuthExchangeRequest, GrantTokenRequest, RevokeGrantsRequest } from "@opta/protocol";
import express, { type Request, type Response } from "express";
import { ApiError } from "./api-error.js";
import { grantCookie, grantCookieName, readCookie } from "./client-grants.js";
import type { DaemonContext } from "./context.js";
import { validate } from "./http.js";
import { BODY_LIMITS, jsonBody } from "./json-body.js";
import { allowedOrigins, originRefusal } from "./security.js";

const SMALL_BODY = jsonBody({ ...BODY_LIMITS, bytes: 4096 });

/**
 * The two routes that take no bearer token, mounted before the token check: a single-use code from
 * `opta app` (`/v3/auth/exchange`) or a client grant (`/v3/auth/grant/token`) is the credential.
 */
export function publicAuthRoutes(context: DaemonContext): express.Router {
  const router = express.Router();

  router.post("/v3/auth/exchange", SMALL_BODY, (request, response) => {
    const body = validate(AuthExchangeRequest, request.body ?? {}, "body");
    if (!context.authCodes.redeem(body.code)) {
      throw new ApiError(
        "INVALID_AUTH_CODE",
        "This sign-in code is unknown, expired or already used; run 'opta app' again for a new one.",
      );
    }
    response.setHeader("cache-control", "no-store");
    // Only Code Desktop, served by this daemon, gets a grant: the CLI or a script that trades a code
    // has the token file, and a page elsewhere (the Vite dev server) could not use the cookie.
    if (!isOwnOrigin(context, request)) {
      response.json({ token: context.token() });
      return;
    }
    const cookieName = grantCookieName(context.port());
    // Signing in again from the same browser replaces its grant rather than piling up another.
    const previous = context.grants.match(readCookie(request.headers.cookie, cookieName), body.grantKey);
    if (previous) context.grants.revoke({ id: previous.id });
    const grant = context.grants.issue(request.headers["user-agent"]);
    context.logger.info("auth", `Code Desktop signed in (client grant ${grant.id})`);
    response.setHeader("set-cookie", grantCookie(context.port(), grant.cookie));
    response.json({ token: context.token(), grantKey: grant.key });
  });

  router.post("/v3/auth/grant/token", SMALL_BODY, (request, response) => {
    // A grant is for the page this daemon serves: its Origin must be the daemon's own (a browser
    // always sends Origin on a POST fetch; SameSite=Strict already keeps other sites' pages from
    // sending the cookie, this also refuses same-site pages on other ports).
    const origin = request.headers.origin;
    if (!origin || !isOwnOrigin(context, request)) {
      throw new ApiError(
        "FORBIDDEN_ORIGIN",
        origin
          ? originRefusal(origin, "trade a client grant")
          : "A client grant is traded only by Code Desktop in a browser (an Origin header of the daemon's own origin).",
      );
    }
    const body = validate(GrantTokenRequest, request.body ?? {}, "body");
    const grant = context.grants.redeem(
      readCookie(request.headers.cookie, grantCookieName(context.port())),
      body.grantKey,
    );
    response.setHeader("cache-control", "no-store");
    if (!grant) {
      throw new ApiError(
        "INVALID_CLIENT_GRANT",
        "This app's sign-in was revoked, expired or never made; run 'opta app' to sign in again.",
      );
    }
    if (context.stopping()) throw new ApiError("DAEMON_STOPPING", "The daemon is shutting down.");
    // Sliding expiry: a grant in use does not lapse.
    response.setHeader(
      "set-cookie",
      grantCookie(context.port(), readCookie(request.headers.cookie, grantCookieName(context.port()))),
    );
    response.json({ token: context.token() });
  });

  return router;
}

/** `/v3/auth/grants…`, behind the bearer token: what `opta app grants` and `opta app revoke` call. */
export function grantRoutes(context: DaemonContext): express.Router {
  const router = express.Router();

  router.get("/auth/grants", (_request, response) => {
    response.json({ grants: context.grants.list() });
  });

  router.post("/auth/grants/revoke", (request: Request, response: Response) => {
    const body = validate(RevokeGrantsRequest, request.body ?? {}, "body");
    const revoked = context.grants.revoke(body);
    if ("id" in body && revoked.length === 0) {
      throw new ApiError(
        "GRANT_NOT_FOUND",
        `No client grant '${body.id.slice(0, 80)}'; list them with 'opta app grants'.`,
      );
    }
    // The revoked app still holds the current token: rotate it, so the revocation takes effect now
    // (apps with a grant, and the CLI, which reads the token file, pick up the new one by themselves).
    const tokenRotated = revoked.length > 0;
    if (tokenRotated) context.rotateToken(`revoked client grant(s) ${revoked.join(", ")}`);
    response.json({ revoked, tokenRotated });
  });

  return router;
}

function isOwnOrigin(context: DaemonContext, request: Request): boolean {
  const origin = request.headers.origin;
  return origin !== undefined && allowedOrigins(context.port(), false).has(origin);
}
