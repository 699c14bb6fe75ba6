import { realpathSync, statSync } from "node:fs";
import type { Socket } from "node:net";
import { isAbsolute } from "node:path";
import {
  CreateSessionRequest,
  EventsQuery,
  ExportQuery,
  isSafeId,
  LogsQuery,
  PermissionDecisionRequest,
  ResumeTurnRequest,
  SessionListQuery,
  SubmitTurnRequest,
} from "@opta/protocol";
import express, { type NextFunction, type Request, type Response } from "express";
import type { z } from "zod";
import { peekSeq } from "../event-log/session-file.js";
import type { ModelDetail } from "../provider/types.js";
import { toSessionInfo } from "../session/session-state.js";
import { ApiError, toApiError } from "./api-error.js";
import { grantRoutes, publicAuthRoutes } from "./auth-routes.js";
import type { DaemonContext } from "./context.js";
import { doctorRoutes } from "./doctor-routes.js";
import { sessionToMarkdown } from "./export.js";
import { BODY_LIMITS, declaredLengthError, declaresBody, jsonBody } from "./json-body.js";
import { mcpRoutes } from "./mcp-routes.js";
import {
  allowedOrigins,
  bearerToken,
  isAllowedHost,
  originRefusal,
  repeatedHeader,
  requestTargetProblem,
  tokenMatches,
} from "./security.js";
import { sessionLifecycleRoutes } from "./session-routes.js";

/** The WebSocket endpoints (websocket.ts); plain HTTP to them is a client mistake. */
export const WEBSOCKET_PATHS = ["/v3/events", "/v3/sessions/:id/stream", "/v3/daemon/logs/stream"];

/** Builds the Express app: security first, then the v3 routes, then one error handler. */
export function createHttpApp(context: DaemonContext): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");

  app.use((request, response, next) => {
    if (!checkWire(request, response, context)) next();
  });

  // Static assets (Code Desktop) are public; everything under /v3 needs the token.
  context.mountStatic?.(app);

  // Plain HTTP to a WebSocket endpoint (an `Upgrade` header without `Connection: Upgrade`, or none).
  app.get(WEBSOCKET_PATHS, () => {
    throw new ApiError(
      "BAD_REQUEST",
      "This is a WebSocket endpoint: open it with a WebSocket client (Upgrade: websocket, Connection: Upgrade).",
    );
  });

  // The routes that take no bearer token: a single-use code from `opta app`, or a client grant.
  app.use(publicAuthRoutes(context));

  app.use("/v3", (request, _response, next) => {
    if (!tokenMatches(bearerToken(request.headers.authorization), context.token())) {
      throw new ApiError(
        "UNAUTHORIZED",
        "Missing or wrong bearer token. Send 'Authorization: Bearer <token>' with the token in $OPTA_HOME/daemon/token (it changes on every daemon start and restart).",
      );
    }
    if (context.stopping()) throw new ApiError("DAEMON_STOPPING", "The daemon is shutting down.");
    next();
  });
  app.use("/v3", (request, _response, next) => {
    if (
      (request.method === "POST" || request.method === "PATCH") &&
      declaresBody(request) &&
      !request.is("application/json")
    ) {
      throw new ApiError(
        "UNSUPPORTED_MEDIA_TYPE",
        "Send the request body as JSON with 'Content-Type: application/json'.",
      );
    }
    next();
  });
  app.use("/v3", jsonBody(BODY_LIMITS));

  const router = express.Router();
  const { store, turns, logger, providers } = context;

  router.get("/health", (_request, response) => {
    response.json({ ok: true, version: context.version });
  });

  router.get("/daemon", async (_request, response) => {
    response.json({
      pid: process.pid,
      port: context.port(),
      version: context.version,
      startedAt: context.startedAt(),
      uptime: Math.round((Date.now() - Date.parse(context.startedAt())) / 1000),
      sessions: store.counts(),
      providers: providers.cachedHealth(),
      rss: process.memoryUsage.rss(),
    });
  });

  router.post("/daemon/stop", (_request, response) => {
    response.json({ ok: true, action: "stop" });
    response.on("finish", () => context.requestStop("stopped through the API"));
  });

  router.post("/daemon/restart", (_request, response) => {
    response.json({ ok: true, action: "restart", token: context.requestRestart() });
  });

  router.post("/auth/codes", (_request, response) => {
    response.setHeader("cache-control", "no-store");
    response.status(201).json(context.authCodes.issue());
  });

  router.get("/daemon/logs", (request, response) => {
    const query = validate(LogsQuery, request.query, "query");
    response.json({ lines: logger.tail(query.limit, query.level) });
  });

  router.get("/sessions", (request, response) => {
    const query = validate(SessionListQuery, request.query, "query");
    response.json({ sessions: store.list(query) });
  });

  router.post("/sessions", (request, response) => {
    const body = validate(CreateSessionRequest, request.body ?? {}, "body");
    const cwd = resolveCwd(body.cwd ?? process.cwd());
    const config = context.config();
    const record = store.create({
      ...(body.title !== undefined ? { title: body.title } : {}),
      cwd,
      mode: body.mode ?? "chat",
      model: body.model ?? config["default-model"] ?? "",
    });
    logger.info("session", `Session ${record.id} created`, { cwd });
    context.publishDaemonEvent({
      event: "session.created",
      ts: new Date().toISOString(),
      sessionId: record.id,
      title: record.title,
    });
    response.status(201).json(toSessionInfo(record));
  });

  router.get("/sessions/:id", (request, response) => {
    response.json(toSessionInfo(requireSession(context, request.params.id)));
  });

  router.get("/sessions/:id/events", async (request, response) => {
    const session = requireSession(context, request.params.id);
    const query = validate(EventsQuery, request.query, "query");
    let lines = await store.readLines(session.id, query.afterSeq);
    if (query.limit) lines = lines.slice(0, query.limit);
    // lastSeq is what this response covers, so `afterSeq=lastSeq` on the next call misses nothing.
    const lastSeq = lines.length > 0 ? peekSeq(lines.at(-1)!) : Math.min(query.afterSeq, session.writtenSeq);
    // Stored lines are already the envelopes' JSON: splice them in rather than re-serialising.
    response.type("application/json").send(`{"events":[${lines.join(",")}],"lastSeq":${lastSeq}}`);
  });

  router.get("/sessions/:id/system", async (request, response) => {
    const session = requireSession(context, request.params.id);
    response.json(await context.systemPrompt(session.id));
  });

  router.post("/sessions/:id/turns", (request, response) => {
    const session = requireSession(context, request.params.id);
    const body = validate(SubmitTurnRequest, request.body, "body");
    const started = turns.submit(session.id, body);
    response.status(202).json({ sessionId: session.id, ...started });
  });

  router.post("/sessions/:id/stop", async (request, response) => {
    const session = requireSession(context, request.params.id);
    response.json(await turns.stop(session.id));
  });

  router.post("/sessions/:id/pause", async (request, response) => {
    const session = requireSession(context, request.params.id);
    response.json(await turns.pause(session.id));
  });

  router.post("/sessions/:id/resume", async (request, response) => {
    const session = requireSession(context, request.params.id);
    const body = validate(ResumeTurnRequest, request.body ?? {}, "body");
    response.status(202).json(await turns.resume(session.id, body));
  });

  router.post("/sessions/:id/permissions/:requestId", (request, response) => {
    const session = requireSession(context, request.params.id);
    const body = validate(PermissionDecisionRequest, request.body, "body");
    const resolved = context.resolvePermission(session.id, request.params.requestId, body.decision, "user");
    if (!resolved) {
      throw new ApiError(
        "PERMISSION_REQUEST_NOT_FOUND",
        `No pending permission request '${request.params.requestId}' in session ${session.id}; it may already be resolved.`,
      );
    }
    response.json({ ok: true });
  });

  router.post("/sessions/:id/compact", async (request, response) => {
    const session = requireSession(context, request.params.id);
    response.json(await turns.compact(session.id, (signal) => context.compact(session.id, signal)));
  });

  router.get("/sessions/:id/export", async (request, response) => {
    const session = requireSession(context, request.params.id);
    const query = validate(ExportQuery, request.query, "query");
    const events = await store.readEvents(session.id);
    const info = toSessionInfo(session);
    const fileName = `${session.id}.${query.format === "md" ? "md" : "json"}`;
    response.setHeader("content-disposition", `attachment; filename="${fileName}"`);
    if (query.format === "md") {
      response.type("text/markdown; charset=utf-8").send(sessionToMarkdown(info, events));
    } else {
      response.json({ session: info, events, exportedAt: new Date().toISOString() });
    }
  });

  router.get("/models", async (_request, response) => {
    const health = await providers.checkAll();
    // Load state and memory where a provider reports them (Opta LMX), fetched alongside, never guessed.
    const details = new Map<string, ModelDetail>();
    await Promise.all(
      providers.list().map(async (provider) => {
        const checked = health.find((entry) => entry.name === provider.name);
        if (!checked?.healthy || !provider.modelDetails) return;
        for (const detail of await provider.modelDetails()) details.set(`${provider.name}/${detail.id}`, detail);
      }),
    );
    const models = health.flatMap((provider) =>
      provider.models.map((id) => {
        const ref = `${provider.name}/${id}`;
        const detail = details.get(ref);
        return {
          id,
          provider: provider.name,
          ref,
          ...(detail ? { loaded: detail.loaded } : {}),
          ...(detail?.contextLength !== undefined ? { contextLength: detail.contextLength } : {}),
          ...(detail?.memoryBytes !== undefined ? { memoryBytes: detail.memoryBytes } : {}),
        };
      }),
    );
    const defaultModel = context.config()["default-model"] ?? models[0]?.id;
    response.json({
      models,
      providers: health.map(({ models: _models, ...rest }) => rest),
      ...(defaultModel ? { defaultModel } : {}),
    });
  });

  app.use("/v3", sessionLifecycleRoutes(context));
  app.use("/v3", router);
  app.use("/v3", grantRoutes(context));
  app.use("/v3/mcp", mcpRoutes(context));
  app.use("/v3", doctorRoutes(context));
  app.use("/v3", () => {
    throw new ApiError("NOT_FOUND", "No such route; see docs/api.md for the v3 API.");
  });
  app.use((error: unknown, request: Request, response: Response, _next: NextFunction) => {
    const apiError = toApiError(error);
    if (apiError.code === "INTERNAL") {
      logger.error("server", `${request.method} ${request.path} failed: ${(error as Error).message}`, {
        stack: (error as Error).stack,
      });
    } else if (apiError.status >= 500) {
      // A known failure outside the daemon (a provider down, a broken config): no stack, it is no bug.
      logger.warn(
        "server",
        `${request.method} ${request.path} → ${apiError.status} ${apiError.code}: ${apiError.message}`,
      );
    } else if (apiError.code !== "UNAUTHORIZED") {
      logger.debug("server", `${request.method} ${request.path} → ${apiError.status} ${apiError.code}`);
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(apiError.status).json(apiError.toBody());
  });
  return app;
}

/** How long, and for how many bytes, a refused body's connection drains before it is cut. */
const LINGER_MS = 1000;
const LINGER_BYTES = 4 * 1024 * 1024;

/**
 * A body that no one will read must not hold the connection open: Node would read and discard the
 * whole declared length (999,999,999,999 bytes) before the next request. So when the answer leaves
 * before the body was read to its end (refused, or a route that reads none), it says
 * `Connection: close` and the connection closes after it. Bodies read to their end keep it alive.
 */
function closeIfAnsweredUnread(request: Request, response: Response): void {
  const writeHead = response.writeHead;
  response.writeHead = ((...args: Parameters<typeof writeHead>) => {
    if (!request.complete) {
      response.setHeader("connection", "close");
      lingeringClose(request.socket);
    }
    return writeHead.apply(response, args);
  }) as typeof writeHead;
}

/**
 * Closes like nginx's lingering_close: FIN after the answer, then drain what the client is still
 * sending for a moment (at most LINGER_MS and LINGER_BYTES) before the socket is destroyed. A socket
 * closed with unread input is reset at once, and the reset discards the answer (the 413) still on
 * its way to a client that is busy writing its body.
 */
function lingeringClose(socket: Socket): void {
  // Node's server calls destroySoon() once the last response has been written.
  socket.destroySoon = function drainThenDestroy(this: Socket) {
    this.end();
    let drained = 0;
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.on("data", (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > LINGER_BYTES) this.destroy();
    });
    this.once("close", () => clearTimeout(timer));
  };
}

/**
 * What every request passes before anything reads its body or looks at its token: a plain path as
 * the target, no repeated single-valued header, a loopback Host, a declared length within the body
 * limit (413 at once, before the body is read), then the CORS decision for its Origin. True when
 * it has answered the request itself (a CORS preflight).
 */
function checkWire(request: Request, response: Response, context: DaemonContext): boolean {
  if (declaresBody(request)) closeIfAnsweredUnread(request, response);
  const targetProblem = requestTargetProblem(request.originalUrl);
  if (targetProblem) throw new ApiError("BAD_REQUEST", `Bad request: ${targetProblem}.`);
  const repeated = repeatedHeader(request.rawHeaders);
  if (repeated) throw new ApiError("BAD_REQUEST", `Bad request: the ${repeated} header appears more than once.`);
  if (!isAllowedHost(request.headers.host, context.port())) {
    throw new ApiError("FORBIDDEN_HOST", "Requests must address the daemon as 127.0.0.1, localhost or [::1].");
  }
  const declared = declaredLengthError(request, BODY_LIMITS.bytes);
  if (declared) throw declared;
  const origin = request.headers.origin;
  if (!origin) return false;
  if (!allowedOrigins(context.port(), context.dev).has(origin)) {
    if (request.method === "OPTIONS") throw new ApiError("FORBIDDEN_ORIGIN", originRefusal(origin, "call the daemon"));
    return false;
  }
  response.setHeader("access-control-allow-origin", origin);
  response.setHeader("vary", "Origin");
  if (request.method === "OPTIONS") {
    response.setHeader("access-control-allow-methods", "GET, POST, PATCH, DELETE, OPTIONS");
    response.setHeader("access-control-allow-headers", "authorization, content-type");
    response.setHeader("access-control-max-age", "600");
    response.status(204).end();
    return true;
  }
  return false;
}

/** The session a route names, or 404 SESSION_NOT_FOUND. */
export function requireSession(context: DaemonContext, id: string | undefined) {
  const record = id && isSafeId(id) ? context.store.get(id) : undefined;
  if (!record) throw new ApiError("SESSION_NOT_FOUND", `No session '${id}'; list sessions with 'opta sessions list'.`);
  return record;
}

/** Parses with a protocol schema; a failure becomes a 400 whose message names the bad field. */
export function validate<T extends z.ZodType>(schema: T, value: unknown, where: "body" | "query"): z.infer<T> {
  if (where === "body" && (typeof value !== "object" || value === null || Array.isArray(value))) {
    throw new ApiError("VALIDATION_FAILED", "The request body must be a JSON object.");
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length ? issue.path.join(".") : where;
  const message =
    issue.code === "unrecognized_keys"
      ? `unknown field(s) ${issue.keys
          .slice(0, 10)
          .map((k) => `'${k.slice(0, 64)}'`)
          .join(", ")}${issue.keys.length > 10 ? ` and ${issue.keys.length - 10} more` : ""}`
      : issue.message;
  throw new ApiError("VALIDATION_FAILED", `Invalid ${where} field '${field}': ${message}`, {
    // Bounded: a body of 10,000 unknown keys must not echo back a megabyte.
    issues: result.error.issues.slice(0, 20).map((each) => ({ path: each.path, message: each.message.slice(0, 500) })),
  });
}

function resolveCwd(cwd: string): string {
  if (!isAbsolute(cwd))
    throw new ApiError("VALIDATION_FAILED", `Invalid body field 'cwd': '${cwd}' is not an absolute path`);
  try {
    const real = realpathSync(cwd);
    if (!statSync(real).isDirectory()) throw new Error("not a directory");
    return real;
  } catch {
    throw new ApiError("VALIDATION_FAILED", `Invalid body field 'cwd': '${cwd}' is not an existing directory`);
  }
}

/**
 * The answer to a request Node's parser refused before the app saw it (a malformed or repeated
 * Content-Length, Content-Length with Transfer-Encoding, a header with a space before its colon, a
 * bare LF…), in the API's error format, naming what llhttp found; the connection closes after it.
 */
export function clientErrorResponse(error: NodeJS.ErrnoException & { reason?: string }): string {
  const reason =
    error.code === "HPE_HEADER_OVERFLOW"
      ? "the request headers are larger than 16 KB"
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "the request did not arrive in time"
        : (error.reason ?? error.message.replace(/^Parse Error: /, ""));
  return new ApiError("BAD_REQUEST", `Bad request: ${reason} (${error.code ?? "parse error"}).`).toHttpResponse();
}
