import {
  AuthCodeResponse,
  AuthExchangeResponse,
  ClientGrantsResponse,
  CompactResponse,
  type CreateSessionRequest,
  DaemonLifecycleResponse,
  DaemonStatusResponse,
  DeleteSessionResponse,
  DoctorReport,
  ErrorBody,
  type ForkRequest,
  GrantTokenResponse,
  HealthResponse,
  type LogLevel,
  LogsResponse,
  McpListResponse,
  McpTestResponse,
  ModelsResponse,
  PauseTurnResponse,
  type PermissionDecision,
  type PruneSessionsRequest,
  PruneSessionsResponse,
  type ResumeTurnRequest,
  ResumeTurnResponse,
  type RevokeGrantsRequest,
  RevokeGrantsResponse,
  type RewindRequest,
  RewindResponse,
  type SessionEvent,
  SessionEventsResponse,
  SessionExport,
  SessionInfo,
  SessionListResponse,
  StopTurnResponse,
  type SubmitTurnRequest,
  SubmitTurnResponse,
  SystemPromptResponse,
  type UpdateSessionRequest,
} from "@opta/protocol";
import { z } from "zod";
import { DaemonApiError, DaemonConnectionError, START_HINT } from "./errors.js";
import {
  type BackoffOptions,
  type GlobalSubscription,
  type LogSubscription,
  openGlobalSubscription,
  openLogSubscription,
  openSessionSubscription,
  type SubscribeAllOptions,
  type SubscribeLogsOptions,
  type SubscribeOptions,
  type Subscription,
} from "./subscription.js";
import { defaultWebSocket, type WebSocketConstructor } from "./websocket.js";

/** The bearer token, or a function that reads it (called again after a 401, e.g. after a restart). */
export type TokenSource = string | (() => string | Promise<string>);

/** How to reach one daemon. */
export interface DaemonClientOptions {
  /** `http://127.0.0.1:<port>` (no trailing path). */
  baseUrl: string;
  /** The bearer token or a function that (re-)reads it. */
  token: TokenSource;
  /** fetch implementation (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** WebSocket implementation (default `globalThis.WebSocket`; on Node 20 pass `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Per-request timeout in ms (default 30 000). */
  timeoutMs?: number;
  /** Default reconnect timing for subscriptions. */
  backoff?: BackoffOptions;
}

/** Per-call options. */
export interface RequestOptions {
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Options of `DaemonClient.stream`. */
export interface StreamOptions {
  /** Deliver events with seq greater than this (default 0). */
  afterSeq?: number;
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
  /** Reconnect timing. */
  backoff?: BackoffOptions;
}

const OkResponse = z.object({ ok: z.literal(true) });

interface Call<T> extends RequestOptions {
  method?: "GET" | "POST" | "PATCH" | "DELETE";
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  schema?: z.ZodType<T>;
}

/**
 * Typed client for the Opta daemon's HTTP API v3 and its two WebSocket streams. Browser-safe: no
 * Node imports. Every response is validated with the @opta/protocol schemas.
 */
export class DaemonClient {
  readonly baseUrl: string;
  readonly #options: DaemonClientOptions;
  #token: string | undefined;

  constructor(options: DaemonClientOptions) {
    this.#options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
  }

  /** Liveness and version: `GET /v3/health`. */
  health(options?: RequestOptions): Promise<HealthResponse> {
    return this.#call("/v3/health", { ...options, schema: HealthResponse });
  }

  /** Pid, port, uptime, session counts, provider health: `GET /v3/daemon`. */
  daemonStatus(options?: RequestOptions): Promise<DaemonStatusResponse> {
    return this.#call("/v3/daemon", { ...options, schema: DaemonStatusResponse });
  }

  /** Asks the daemon to exit: `POST /v3/daemon/stop`. */
  stopDaemon(options?: RequestOptions): Promise<DaemonLifecycleResponse> {
    return this.#call("/v3/daemon/stop", { ...options, method: "POST", schema: DaemonLifecycleResponse });
  }

  /**
   * Restarts the daemon in-process (same pid and port, new token): `POST /v3/daemon/restart`.
   * Subscriptions reconnect by themselves; later calls re-read the token on their first 401.
   */
  restartDaemon(options?: RequestOptions): Promise<DaemonLifecycleResponse> {
    return this.#call("/v3/daemon/restart", { ...options, method: "POST", schema: DaemonLifecycleResponse });
  }

  /** Recent structured log lines, oldest first: `GET /v3/daemon/logs`. */
  logs(query: { level?: LogLevel; limit?: number } = {}, options?: RequestOptions): Promise<LogsResponse> {
    return this.#call("/v3/daemon/logs", { ...options, query, schema: LogsResponse });
  }

  /** Signed-in Code Desktop windows (client grants), oldest first: `GET /v3/auth/grants`. */
  clientGrants(options?: RequestOptions): Promise<ClientGrantsResponse> {
    return this.#call("/v3/auth/grants", { ...options, schema: ClientGrantsResponse });
  }

  /**
   * Revokes one client grant (`{ id }`) or all (`{ all: true }`): `POST /v3/auth/grants/revoke`.
   * When any was revoked the token rotates (as on a restart); this client re-reads it on its next 401.
   */
  revokeClientGrants(target: RevokeGrantsRequest, options?: RequestOptions): Promise<RevokeGrantsResponse> {
    return this.#call("/v3/auth/grants/revoke", {
      ...options,
      method: "POST",
      body: target,
      schema: RevokeGrantsResponse,
    });
  }

  /** Sessions, newest first, filtered by title or id: `GET /v3/sessions`. */
  listSessions(query: { q?: string; limit?: number } = {}, options?: RequestOptions): Promise<SessionListResponse> {
    return this.#call("/v3/sessions", { ...options, query, schema: SessionListResponse });
  }

  /** Creates a session: `POST /v3/sessions`. */
  createSession(request: CreateSessionRequest = {}, options?: RequestOptions): Promise<SessionInfo> {
    return this.#call("/v3/sessions", { ...options, method: "POST", body: request, schema: SessionInfo });
  }

  /** One session's metadata: `GET /v3/sessions/:id`. */
  getSession(sessionId: string, options?: RequestOptions): Promise<SessionInfo> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}`, { ...options, schema: SessionInfo });
  }

  /** Renames and/or pins a session (recorded as `session.renamed` / `session.pinned`): `PATCH /v3/sessions/:id`. */
  updateSession(sessionId: string, update: UpdateSessionRequest, options?: RequestOptions): Promise<SessionInfo> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}`, {
      ...options,
      method: "PATCH",
      body: update,
      schema: SessionInfo,
    });
  }

  /** Renames a session: `updateSession(id, { title })`. */
  renameSession(sessionId: string, title: string, options?: RequestOptions): Promise<SessionInfo> {
    return this.updateSession(sessionId, { title }, options);
  }

  /**
   * Deletes a session: its JSONL is archived gzipped under `$OPTA_HOME/sessions/archive/`, or with
   * `purge` destroyed. 409 TURN_IN_PROGRESS while a turn runs: `DELETE /v3/sessions/:id`.
   */
  deleteSession(
    sessionId: string,
    query: { purge?: boolean } = {},
    options?: RequestOptions,
  ): Promise<DeleteSessionResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}`, {
      ...options,
      method: "DELETE",
      query: { purge: query.purge ? 1 : undefined },
      schema: DeleteSessionResponse,
    });
  }

  /**
   * Archives (or purges) sessions not updated for `olderThanMs` (default 30 days); never one with a
   * running turn or a pinned one. `dryRun` lists them only: `POST /v3/sessions/prune`.
   */
  pruneSessions(request: PruneSessionsRequest = {}, options?: RequestOptions): Promise<PruneSessionsResponse> {
    return this.#call("/v3/sessions/prune", {
      ...options,
      method: "POST",
      body: request,
      schema: PruneSessionsResponse,
    });
  }

  /**
   * Rewinds a session to just before turn `toTurn` (its number, or its id): scope `files` puts the
   * workspace files back, `conversation` drops the turns from the model's history, `both` (default)
   * does both. Files changed outside the agent are refused with 409 REWIND_CONFLICT (the error's
   * `details.conflicts` lists them) unless `force`: `POST /v3/sessions/:id/rewind`.
   */
  rewindSession(sessionId: string, request: RewindRequest, options?: RequestOptions): Promise<RewindResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/rewind`, {
      ...options,
      method: "POST",
      body: request,
      schema: RewindResponse,
    });
  }

  /** Starts a new session with this one's history up to turn `atTurn` (default: all): `POST /v3/sessions/:id/fork`. */
  forkSession(sessionId: string, request: ForkRequest = {}, options?: RequestOptions): Promise<SessionInfo> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/fork`, {
      ...options,
      method: "POST",
      body: request,
      schema: SessionInfo,
    });
  }

  /** Stored events after `afterSeq` over HTTP: `GET /v3/sessions/:id/events`. */
  events(
    sessionId: string,
    query: { afterSeq?: number; limit?: number } = {},
    options?: RequestOptions,
  ): Promise<SessionEventsResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/events`, {
      ...options,
      query,
      schema: SessionEventsResponse,
    });
  }

  /** Starts a turn (202; follow it on the stream): `POST /v3/sessions/:id/turns`. 409 if one runs. */
  submitTurn(sessionId: string, request: SubmitTurnRequest, options?: RequestOptions): Promise<SubmitTurnResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/turns`, {
      ...options,
      method: "POST",
      body: request,
      schema: SubmitTurnResponse,
    });
  }

  /** A single-use sign-in code (60 s) for a URL that must not carry the token: `POST /v3/auth/codes`. */
  createAuthCode(options?: RequestOptions): Promise<AuthCodeResponse> {
    return this.#call("/v3/auth/codes", { ...options, method: "POST", schema: AuthCodeResponse });
  }

  /** The system prompt the session's next turn sends, with its parts and sources: `GET /v3/sessions/:id/system`. */
  systemPrompt(sessionId: string, options?: RequestOptions): Promise<SystemPromptResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/system`, {
      ...options,
      schema: SystemPromptResponse,
    });
  }

  /** Summarises the session's history through its model: `POST /v3/sessions/:id/compact` (409 while a turn runs). */
  compact(sessionId: string, options?: RequestOptions): Promise<CompactResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/compact`, {
      ...options,
      method: "POST",
      schema: CompactResponse,
    });
  }

  /**
   * Pauses the running turn at its next step boundary: `POST /v3/sessions/:id/pause`. Answers once
   * `turn.paused` is recorded; `paused: false` when the turn ended first or none was running.
   */
  pauseTurn(sessionId: string, options?: RequestOptions): Promise<PauseTurnResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/pause`, {
      ...options,
      method: "POST",
      schema: PauseTurnResponse,
    });
  }

  /**
   * Continues the paused turn (same turnId, remaining steps): `POST /v3/sessions/:id/resume`;
   * `DaemonApiError` `NO_PAUSED_TURN` (409) when there is none.
   */
  resumeTurn(
    sessionId: string,
    request: ResumeTurnRequest = {},
    options?: RequestOptions,
  ): Promise<ResumeTurnResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/resume`, {
      ...options,
      method: "POST",
      body: request,
      schema: ResumeTurnResponse,
    });
  }

  /** Cancels the running turn: `POST /v3/sessions/:id/stop`. */
  stopTurn(sessionId: string, options?: RequestOptions): Promise<StopTurnResponse> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/stop`, {
      ...options,
      method: "POST",
      schema: StopTurnResponse,
    });
  }

  /** Answers a permission request: `POST /v3/sessions/:id/permissions/:requestId`. */
  async resolvePermission(
    sessionId: string,
    requestId: string,
    decision: PermissionDecision,
    options?: RequestOptions,
  ): Promise<{ ok: true }> {
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/permissions/${encodeURIComponent(requestId)}`, {
      ...options,
      method: "POST",
      body: { decision },
      schema: OkResponse,
    });
  }

  /** Exports a session: JSON (`SessionExport`) or Markdown text: `GET /v3/sessions/:id/export`. */
  exportSession(sessionId: string, query?: { format?: "json" }, options?: RequestOptions): Promise<SessionExport>;
  exportSession(sessionId: string, query: { format: "md" }, options?: RequestOptions): Promise<string>;
  exportSession(
    sessionId: string,
    query?: { format?: "json" | "md" },
    options?: RequestOptions,
  ): Promise<SessionExport | string>;
  exportSession(
    sessionId: string,
    query: { format?: "json" | "md" } = {},
    options?: RequestOptions,
  ): Promise<SessionExport | string> {
    const format = query.format ?? "json";
    return this.#call(`/v3/sessions/${encodeURIComponent(sessionId)}/export`, {
      ...options,
      query: { format },
      schema: format === "json" ? SessionExport : undefined,
    });
  }

  /**
   * What `opta doctor` checks (daemon, LMX and providers with their keys, vault, config, policy
   * files of `cwd`, sandbox, home permissions, browser), as the daemon sees them: `GET /v3/doctor`.
   * `policy: true` validates only the policy files.
   */
  doctor(query: { cwd?: string; policy?: boolean } = {}, options?: RequestOptions): Promise<DoctorReport> {
    return this.#call("/v3/doctor", {
      ...options,
      query: { cwd: query.cwd, policy: query.policy === undefined ? undefined : String(query.policy) },
      schema: DoctorReport,
    });
  }

  /** MCP servers (user scope, plus the project servers of `cwd`) with status and tools: `GET /v3/mcp/servers`. */
  mcpServers(query: { cwd?: string } = {}, options?: RequestOptions): Promise<McpListResponse> {
    return this.#call("/v3/mcp/servers", { ...options, query, schema: McpListResponse });
  }

  /** Connects to one MCP server afresh and lists its tools, calling none: `POST /v3/mcp/servers/:name/test`. */
  testMcpServer(name: string, body: { cwd?: string } = {}, options?: RequestOptions): Promise<McpTestResponse> {
    return this.#call(`/v3/mcp/servers/${encodeURIComponent(name)}/test`, {
      ...options,
      method: "POST",
      body,
      schema: McpTestResponse,
    });
  }

  /** Models across providers, with provider health: `GET /v3/models`. */
  models(options?: RequestOptions): Promise<ModelsResponse> {
    return this.#call("/v3/models", { ...options, schema: ModelsResponse });
  }

  /**
   * Follows one session over `WS /v3/sessions/:id/stream`: replays events after `afterSeq`, then
   * streams live. Reconnects with backoff on any drop (including a daemon restart) and resumes from
   * the last seq received; every event is delivered once, in order.
   */
  subscribe(sessionId: string, options: SubscribeOptions): Subscription {
    return openSessionSubscription(
      { ...options, backoff: options.backoff ?? this.#options.backoff },
      {
        WebSocket: this.#webSocket(),
        label: `session ${sessionId}`,
        url: async (afterSeq, refresh) =>
          this.#wsUrl(`/v3/sessions/${encodeURIComponent(sessionId)}/stream`, { afterSeq }, refresh),
      },
    );
  }

  /**
   * `subscribe` as an async iterator. Ends when `signal` aborts or the loop breaks; throws if the
   * stream ends for good (e.g. the session does not exist).
   */
  async *stream(sessionId: string, options: StreamOptions = {}): AsyncGenerator<SessionEvent, void, undefined> {
    const queue: SessionEvent[] = [];
    let failure: Error | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const subscription = this.subscribe(sessionId, {
      afterSeq: options.afterSeq,
      backoff: options.backoff,
      onEvent: (event) => {
        queue.push(event);
        notify();
      },
      onError: (error) => {
        if (error instanceof DaemonApiError && error.code !== "INVALID_FRAME") failure = error;
      },
      onStatus: (status) => {
        if (status === "closed") {
          ended = true;
          notify();
        }
      },
    });
    const onAbort = () => subscription.close();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      while (true) {
        const event = queue.shift();
        if (event) {
          yield event;
          continue;
        }
        if (ended || options.signal?.aborted) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      if (failure) throw failure;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      subscription.close();
    }
  }

  /**
   * Follows every session plus daemon events over `WS /v3/events`. With a cursor it resumes after
   * it; reconnects like `subscribe` and drops duplicates by (sessionId, seq).
   */
  subscribeAll(options: SubscribeAllOptions): GlobalSubscription {
    return openGlobalSubscription(
      { ...options, backoff: options.backoff ?? this.#options.backoff },
      {
        WebSocket: this.#webSocket(),
        label: "event stream",
        url: async (cursor, refresh) =>
          this.#wsUrl(
            "/v3/events",
            { cursor, events: options.events?.length ? options.events.join(",") : undefined },
            refresh,
          ),
      },
    );
  }

  /**
   * Follows the daemon log over `WS /v3/daemon/logs/stream`: on every (re)connect `onBacklog` gets the
   * last `backlog` lines at or above `level` (replace what you show), then `onLine` each new one.
   */
  subscribeLogs(options: SubscribeLogsOptions): LogSubscription {
    return openLogSubscription(
      { ...options, backoff: options.backoff ?? this.#options.backoff },
      {
        WebSocket: this.#webSocket(),
        label: "log stream",
        url: async (refresh) =>
          this.#wsUrl("/v3/daemon/logs/stream", { level: options.level, backlog: options.backlog }, refresh),
      },
    );
  }

  /** The current token (re-read from the source when `refresh` is set and the source is a function). */
  async getToken(refresh = false): Promise<string> {
    const source = this.#options.token;
    if (typeof source === "string") return source;
    if (refresh || this.#token === undefined) this.#token = await source();
    return this.#token;
  }

  #webSocket(): WebSocketConstructor {
    const WebSocket = this.#options.WebSocket ?? defaultWebSocket();
    if (!WebSocket) {
      throw new TypeError(
        "no WebSocket implementation: pass { WebSocket } (on Node 20 use the `ws` package or createLocalClient)",
      );
    }
    return WebSocket;
  }

  async #wsUrl(path: string, query: Record<string, string | number | undefined>, refresh: boolean): Promise<string> {
    const url = new URL(this.#url(path, query));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", await this.getToken(refresh));
    return url.toString();
  }

  #url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ""}`;
  }

  async #call<T>(path: string, call: Call<T>): Promise<T> {
    const method = call.method ?? "GET";
    const url = this.#url(path, call.query);
    const send = async (token: string) => {
      const timeoutMs = this.#options.timeoutMs ?? 30_000;
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (call.body !== undefined) headers["content-type"] = "application/json";
      const fetchImpl = this.#options.fetch ?? globalThis.fetch;
      try {
        return await fetchImpl(url, {
          method,
          headers,
          body: call.body === undefined ? undefined : JSON.stringify(call.body),
          signal,
        });
      } catch (error) {
        if (call.signal?.aborted) throw error;
        if (timeout.aborted) {
          throw new DaemonConnectionError(
            `The Opta daemon at ${this.baseUrl} did not answer ${method} ${path} within ${timeoutMs} ms.`,
            { cause: error },
          );
        }
        throw new DaemonConnectionError(
          `Could not reach the Opta daemon at ${this.baseUrl} (${reason(error)}). ${START_HINT}`,
          { cause: error },
        );
      }
    };

    const first = await this.getToken();
    let response = await send(first);
    if (response.status === 401 && typeof this.#options.token === "function") {
      // The daemon restarted (token rotated): read the token again and retry once.
      await response.body?.cancel();
      response = await send(await this.getToken(true));
    }
    if (!response.ok) throw await toApiError(response, method, path);
    const text = await response.text();
    if (!call.schema) return text as T;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new DaemonApiError(
        "INVALID_RESPONSE",
        `${method} ${path} returned a body that is not JSON`,
        response.status,
      );
    }
    const parsed = call.schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? issue.path.join(".") : "body";
      throw new DaemonApiError(
        "INVALID_RESPONSE",
        `${method} ${path} returned an unexpected body: ${where}: ${issue?.message ?? "invalid"}`,
        response.status,
      );
    }
    return parsed.data;
  }
}

/**
 * Trades a single-use code from `opta app` (`#code=…`) for the daemon's token: `POST /v3/auth/exchange`,
 * the one route that takes no token. Browser-safe.
 */
export async function exchangeAuthCode(
  baseUrl: string,
  code: string,
  options: { fetch?: typeof fetch } = {},
): Promise<string> {
  return (await signInWithCode(baseUrl, code, options)).token;
}

/**
 * Signs Code Desktop in with a single-use code: `POST /v3/auth/exchange`. From the daemon's own
 * origin the answer also carries `grantKey`, and the daemon sets the grant's HttpOnly cookie; pass
 * the key held from an earlier sign-in as `grantKey` so that grant is replaced. Browser-safe.
 */
export async function signInWithCode(
  baseUrl: string,
  code: string,
  options: { grantKey?: string; fetch?: typeof fetch } = {},
): Promise<AuthExchangeResponse> {
  const body = { code, ...(options.grantKey ? { grantKey: options.grantKey } : {}) };
  const response = await postUnauthenticated(baseUrl, "/v3/auth/exchange", body, options.fetch);
  return AuthExchangeResponse.parse(await response.json());
}

/**
 * Trades this browser's client grant (its HttpOnly cookie, sent by the browser, plus `grantKey`)
 * for the daemon's current token: `POST /v3/auth/grant/token`. Only works from a page the daemon
 * serves. Throws `DaemonApiError` `INVALID_CLIENT_GRANT` (401) for a revoked or unknown grant, and
 * `DaemonConnectionError` while the daemon is down.
 */
export async function tradeClientGrant(
  baseUrl: string,
  grantKey: string,
  options: { fetch?: typeof fetch } = {},
): Promise<string> {
  const response = await postUnauthenticated(baseUrl, "/v3/auth/grant/token", { grantKey }, options.fetch);
  return GrantTokenResponse.parse(await response.json()).token;
}

/** A POST to one of the two routes that take no bearer token; errors typed like every call's. */
async function postUnauthenticated(
  baseUrl: string,
  path: string,
  body: unknown,
  fetchOption: typeof fetch | undefined,
): Promise<Response> {
  const fetchImpl = fetchOption ?? globalThis.fetch;
  const root = baseUrl.replace(/\/+$/, "");
  let response: Response;
  try {
    response = await fetchImpl(`${root}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      // Same origin only: the grant cookie goes to the daemon that served the page, never elsewhere.
      credentials: "same-origin",
    });
  } catch (error) {
    throw new DaemonConnectionError(`Could not reach the Opta daemon at ${root} (${reason(error)}). ${START_HINT}`, {
      cause: error,
    });
  }
  if (!response.ok) throw await toApiError(response, "POST", path);
  return response;
}

/** Why fetch failed, in a few words (`ECONNREFUSED`, `fetch failed`…). */
function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message;
  return error instanceof Error ? error.message : String(error);
}

async function toApiError(response: Response, method: string, path: string): Promise<DaemonApiError> {
  const text = await response.text().catch(() => "");
  try {
    const body = ErrorBody.parse(JSON.parse(text));
    return new DaemonApiError(body.error.code, body.error.message, response.status, body.error.details);
  } catch {
    const code = response.status === 401 ? "UNAUTHORIZED" : `HTTP_${response.status}`;
    return new DaemonApiError(code, `${method} ${path} failed with HTTP ${response.status}`, response.status);
  }
}
