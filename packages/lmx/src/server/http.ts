import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import {
  DASHBOARD_FILES,
  dashboardEvents,
  dashboardLoad,
  dashboardState,
  dashboardUnload,
  serveDashboardFile,
} from "../dashboard/routes.js";
import { getOpenAiModel, listModelStatus, listOpenAiModels, loadModel, unloadModel } from "../models/routes.js";
import { anthropicErrorBody, anthropicMessages } from "../openai/anthropic.js";
import { chatCompletions } from "../openai/chat.js";
import { completions } from "../openai/completions.js";
import { embeddings } from "../openai/embeddings.js";
import {
  ollamaChat,
  ollamaErrorBody,
  ollamaGenerate,
  ollamaPs,
  ollamaShow,
  ollamaTags,
  ollamaVersion,
} from "../openai/ollama.js";
import { responses } from "../openai/responses.js";
import { type LmxApp, type RequestScope, STREAMED } from "./context.js";
import { LmxError, toLmxError } from "./errors.js";
import type { RequestGuard } from "./safety.js";

const MAX_BODY_BYTES = 16 * 1024 * 1024;

type Route = {
  method: "GET" | "POST";
  /** Exact path, or a prefix ending in `/` for a trailing id. */
  path: string;
  /** Metrics label. */
  endpoint: string;
  /** Whether the route works without the API key (health checks, the dashboard's static files). */
  open?: boolean;
  /** Only the dashboard page LMX serves may call it: no CORS, no other origin (see RequestGuard.checkSameOrigin). */
  sameOrigin?: boolean;
  handle: (app: LmxApp, scope: RequestScope, body: unknown, rest: string) => Promise<unknown>;
  /** The error body in this API's own shape (default: OpenAI's). */
  errorBody?: (error: LmxError) => unknown;
};

const ROUTES: Route[] = [
  {
    method: "GET",
    path: "/health",
    endpoint: "health",
    open: true,
    // Always 200 while the process serves: a load is native work off the event loop, and requests
    // for other models (or queued ones for this model) are served meanwhile. A 503 here made probes
    // (and the daemon) treat a server that is merely loading as down.
    handle: async (app) => ({
      status: app.registry.isLoading ? "loading" : "ok",
      version: app.version,
      models_loaded: app.registry.loadedModels().length,
      models_loading: app.registry.loadingModels(),
      // Not a secret (mDNS advertises it too): lets the dashboard ask for a key before calling.
      auth_required: app.authRequired,
    }),
  },
  {
    method: "GET",
    path: "/metrics",
    endpoint: "metrics",
    handle: async (app) => new TextMetrics(app.metrics.render()),
  },
  { method: "GET", path: "/v1/models", endpoint: "models", handle: (app) => listOpenAiModels(app) },
  {
    method: "GET",
    path: "/v1/models/",
    endpoint: "models",
    handle: (app, _scope, _body, rest) => getOpenAiModel(app, rest),
  },
  { method: "POST", path: "/v1/chat/completions", endpoint: "chat", handle: chatCompletions },
  { method: "POST", path: "/v1/responses", endpoint: "responses", handle: responses },
  {
    method: "POST",
    path: "/v1/messages",
    endpoint: "messages",
    handle: anthropicMessages,
    errorBody: anthropicErrorBody,
  },
  { method: "POST", path: "/v1/completions", endpoint: "completions", handle: completions },
  { method: "POST", path: "/v1/embeddings", endpoint: "embeddings", handle: embeddings },
  // Ollama's native API, errors in its `{"error": "…"}` shape.
  { method: "GET", path: "/api/tags", endpoint: "ollama_tags", handle: ollamaTags, errorBody: ollamaErrorBody },
  { method: "GET", path: "/api/ps", endpoint: "ollama_ps", handle: ollamaPs, errorBody: ollamaErrorBody },
  {
    method: "GET",
    path: "/api/version",
    endpoint: "ollama_version",
    handle: ollamaVersion,
    errorBody: ollamaErrorBody,
  },
  { method: "POST", path: "/api/show", endpoint: "ollama_show", handle: ollamaShow, errorBody: ollamaErrorBody },
  { method: "POST", path: "/api/chat", endpoint: "ollama_chat", handle: ollamaChat, errorBody: ollamaErrorBody },
  {
    method: "POST",
    path: "/api/generate",
    endpoint: "ollama_generate",
    handle: ollamaGenerate,
    errorBody: ollamaErrorBody,
  },
  { method: "GET", path: "/api/v1/models", endpoint: "api_models", handle: (app) => listModelStatus(app) },
  {
    method: "POST",
    path: "/api/v1/models/load",
    endpoint: "api_load",
    handle: (app, _scope, body) => loadModel(app, body),
  },
  {
    method: "POST",
    path: "/api/v1/models/unload",
    endpoint: "api_unload",
    handle: (app, _scope, body) => unloadModel(app, body),
  },
  // The dashboard (docs/lmx.md#dashboard): static files open, its API behind the key and same-origin only.
  ...DASHBOARD_FILES.map(
    (path): Route => ({
      method: "GET",
      path,
      endpoint: "dashboard",
      open: true,
      handle: (_app, scope) => serveDashboardFile(path, scope),
    }),
  ),
  {
    method: "GET",
    path: "/dashboard/api/state",
    endpoint: "dashboard_state",
    sameOrigin: true,
    handle: (app) => dashboardState(app),
  },
  {
    method: "GET",
    path: "/dashboard/api/events",
    endpoint: "dashboard_events",
    sameOrigin: true,
    handle: (app, scope) => dashboardEvents(app, scope),
  },
  {
    method: "POST",
    path: "/dashboard/api/models/load",
    endpoint: "dashboard_load",
    sameOrigin: true,
    handle: (app, _scope, body) => dashboardLoad(app, body),
  },
  {
    method: "POST",
    path: "/dashboard/api/models/unload",
    endpoint: "dashboard_unload",
    sameOrigin: true,
    handle: (app, _scope, body) => dashboardUnload(app, body),
  },
];

/** True for the dashboard's paths, which never answer cross-origin requests. */
function isDashboardPath(path: string): boolean {
  return path === "/dashboard" || path.startsWith("/dashboard/");
}

/** A Prometheus text body (not JSON). */
class TextMetrics {
  constructor(readonly text: string) {}
}

function matchRoute(method: string, path: string): { route: Route; rest: string } | LmxError {
  const candidates = ROUTES.filter((route) =>
    route.path.endsWith("/") ? path.startsWith(route.path) && path.length > route.path.length : route.path === path,
  );
  const route = candidates.find((candidate) => candidate.method === method);
  if (route) {
    if (!route.path.endsWith("/")) return { route, rest: "" };
    const encoded = path.slice(route.path.length);
    try {
      return { route, rest: decodeURIComponent(encoded) };
    } catch {
      return new LmxError(
        "invalid_request",
        `the path segment '${encoded}' is not valid percent-encoding (a '%' must start a UTF-8 escape such as %2F); encode the model id with encodeURIComponent`,
      );
    }
  }
  if (candidates.length > 0) {
    return new LmxError("method_not_allowed", `${method} is not supported on ${path}; use ${candidates[0]!.method}`);
  }
  return new LmxError("not_found", `no route ${method} ${path}; see GET /v1/models, POST /v1/chat/completions`);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const type = request.headers["content-type"];
  // A browser's "simple" cross-site POST (text/plain, form) never gets here: only JSON is accepted.
  if (type !== undefined && !/^application\/(.+\+)?json\b/i.test(type)) {
    throw new LmxError("unsupported_media_type", `Content-Type must be application/json, got '${type}'`);
  }
  // Refused from the header alone, before a byte of the body is read (the parser has already
  // refused a Content-Length that is not one plain decimal number).
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    throw new LmxError(
      "payload_too_large",
      `the request declares a ${declared}-byte body; the limit is ${MAX_BODY_BYTES} bytes (16 MiB): send a smaller request`,
    );
  }
  const text = await readBody(request);
  if (text.trim() === "") throw new LmxError("invalid_json", "the request body is empty; send a JSON object");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LmxError("invalid_json", `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The body as text. Plain 'data'/'end' listeners rather than `for await`: the async iterator costs
 * a few promise turns per chunk, on the path to the first token of every request.
 */
function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        request.resume();
        reject(
          new LmxError(
            "payload_too_large",
            `the request body is larger than ${MAX_BODY_BYTES} bytes (16 MiB): send a smaller request`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new Error("the client disconnected"));
    };
    const cleanup = () => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onError);
      request.off("close", onClose);
    };
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("error", onError);
    request.on("close", onClose);
  });
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    if (!response.writableEnded) response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** The HTTP server: guard, route, parse, handle, and map every failure to an OpenAI-shaped error. */
export function createLmxServer(app: LmxApp, guard: RequestGuard): Server {
  const server = createServer({ noDelay: true, keepAlive: true }, (request, response) => {
    void handleRequest(app, guard, request, response);
  });
  // Requests the HTTP parser refuses (a malformed or duplicated Content-Length, Content-Length
  // with Transfer-Encoding, oversized headers) never reach a route: answer them here, in the same
  // JSON shape as every other error, and close the connection.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const body = JSON.stringify(
      new LmxError(
        tooLarge ? "headers_too_large" : "invalid_request",
        tooLarge
          ? "the request headers are too large; send fewer or shorter headers"
          : `the request is not valid HTTP (${error.code ?? "parse error"}: ${error.message}); send one well-formed Content-Length or chunked body`,
      ).toBody(),
    );
    socket.end(
      `HTTP/1.1 ${tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request"}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

async function handleRequest(
  app: LmxApp,
  guard: RequestGuard,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const receivedAt = performance.now();
  const requestId = randomBytes(6).toString("hex");
  const controller = new AbortController();
  response.on("close", () => {
    if (!response.writableFinished) controller.abort(new Error("the client disconnected"));
  });
  const path = (request.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
  const method = request.method ?? "GET";
  let endpoint = "unknown";
  let errorBody: ((error: LmxError) => unknown) | undefined;
  const corsHeaders: Record<string, string> = {};
  // Matched before the guard so that its refusals (Host, Origin, key) come in the route's own error shape.
  const matched = matchRoute(method, path);
  if (!(matched instanceof LmxError)) errorBody = matched.route.errorBody;
  try {
    guard.checkHost(request);
    if (isDashboardPath(path)) {
      // The page and its files go to any navigation (a link from the platform's lmx site): they hold
      // no data, and their CSP forbids framing. The API is for the page itself only; no preflight.
      if (method === "OPTIONS") {
        throw new LmxError("forbidden_origin", "the LMX dashboard's API takes no cross-origin requests");
      }
      if (!(matched instanceof LmxError) && matched.route.sameOrigin) guard.checkSameOrigin(request);
    }
    const origin = isDashboardPath(path) ? undefined : guard.checkOrigin(request);
    if (origin) {
      corsHeaders["Access-Control-Allow-Origin"] = origin;
      corsHeaders.Vary = "Origin";
      for (const [key, value] of Object.entries(corsHeaders)) response.setHeader(key, value);
    }
    if (method === "OPTIONS") {
      response.writeHead(204, {
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers":
          "Authorization, Content-Type, X-Api-Key, Anthropic-Version, Anthropic-Beta, OpenAI-Beta",
        "Access-Control-Max-Age": "600",
      });
      response.end();
      return;
    }
    if (matched instanceof LmxError) throw matched;
    const { route, rest } = matched;
    endpoint = route.endpoint;
    if (!route.open) guard.checkApiKey(request);
    const body = route.method === "POST" ? await readJson(request) : undefined;
    const scope: RequestScope = { signal: controller.signal, receivedAt, response, requestId };
    const result = await route.handle(app, scope, body, rest);
    if (result === STREAMED) return;
    if (result instanceof TextMetrics) {
      response.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
      response.end(result.text);
      return;
    }
    sendJson(response, 200, result);
  } catch (thrown) {
    if (controller.signal.aborted && !(thrown instanceof LmxError)) return;
    const error = toLmxError(thrown);
    if (error.code === "internal_error") {
      app.log({ event: "request.error", requestId, path, error: error.message, stack: (thrown as Error)?.stack });
    }
    const headers: Record<string, string> = {};
    if (error.retryAfterSeconds !== undefined) headers["Retry-After"] = String(error.retryAfterSeconds);
    // Refused before its body was read (413 on the declared length, 415, 401…): the rest of the body
    // would otherwise be read and discarded to keep the connection alive, for as long as the client
    // cares to send it. Close instead.
    const unread = !request.complete;
    if (unread) headers.Connection = "close";
    sendJson(response, error.status, errorBody ? errorBody(error) : error.toBody(), headers);
    if (unread) response.once("finish", () => request.socket.destroySoon());
  } finally {
    const status = response.headersSent ? response.statusCode : 499;
    app.metrics.recordRequest(endpoint, status);
    if (endpoint !== "metrics" && endpoint !== "health") {
      app.log({
        event: "request",
        requestId,
        method,
        path,
        status,
        ms: Math.round(performance.now() - receivedAt),
        ...(controller.signal.aborted ? { aborted: true } : {}),
      });
    }
  }
}
