import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type OptaPaths, openVault, optaPaths, type Vault } from "@opta/local";
import type { DaemonEvent, DaemonState, DoctorReport, OptaConfig } from "@opta/protocol";
import type { Express } from "express";
import { ApprovalBroker } from "./agent/approvals.js";
import { compactSession } from "./agent/compact.js";
import { systemPromptForSession } from "./agent/system-prompt/index.js";
import { TurnManager } from "./agent/turn-manager.js";
import { CheckpointBlobs } from "./checkpoint/blobs.js";
import { Checkpointer } from "./checkpoint/checkpointer.js";
import { LiveConfig } from "./config/live-config.js";
import { runDoctor } from "./doctor/index.js";
import { Logger } from "./log/logger.js";
import { McpManager } from "./mcp/index.js";
import { loadShellGrammar } from "./permission/index.js";
import { ProviderRegistry, type ProviderTimeouts } from "./provider/registry.js";
import { AuthCodes } from "./server/auth-codes.js";
import { ClientGrants } from "./server/client-grants.js";
import type { DaemonContext } from "./server/context.js";
import { clientErrorResponse, createHttpApp } from "./server/http.js";
import { DEV_ORIGINS } from "./server/security.js";
import { mountDesktopApp } from "./server/static.js";
import { CloseCode, StreamServer } from "./server/websocket.js";
import { GlobalFeed } from "./session/global-feed.js";
import { SessionStore } from "./session/store.js";
import { builtinTools } from "./tool/index.js";
import { SecretTracker } from "./vault/index.js";
import { redactSecrets, secretMasker } from "./vault/mask.js";
import { DAEMON_VERSION } from "./version.js";

/** How to start a daemon. */
export interface DaemonOptions {
  /** The Opta home (tests pass a temporary directory). */
  home: string;
  /** TCP port; 0 picks a free one (written to daemon/state.json). Default 9999. */
  port?: number;
  /** Loopback address to bind: 127.0.0.1 (default) or ::1. */
  host?: "127.0.0.1" | "::1";
  /** Provider timeouts; defaults suit local models that may be loading. */
  providerTimeouts?: Partial<ProviderTimeouts>;
  /** Environment to read OPTA_* variables from. */
  env?: NodeJS.ProcessEnv;
  /** Mounts Code Desktop's static files. */
  mountStatic?: (app: Express) => void;
  /**
   * Dev mode: the Vite dev server (http://localhost:5173) also gets CORS and WebSocket access, for
   * `npm run dev -w @opta/desktop`. Default: `OPTA_DEV=1` in `env`; off otherwise.
   */
  dev?: boolean;
}

export const DEFAULT_PORT = 9999;

/**
 * A running daemon: one HTTP server (REST + WebSocket) on loopback, the session store, the turn
 * manager and the provider registry. `restart()` is in-process: the port stays, the token rotates,
 * every connection is dropped so clients reconnect with the new token, and config is reloaded.
 */
export class Daemon {
  readonly paths: OptaPaths;
  readonly logger: Logger;
  readonly store: SessionStore;
  private readonly checkpointBlobs: CheckpointBlobs;
  readonly providers: ProviderRegistry;
  readonly turns: TurnManager;
  readonly approvals: ApprovalBroker;
  /** Provider API keys (OS keychain or the file vault), read on every provider request. */
  private vaultOpening: Promise<Vault> | undefined;
  private readonly vaultEnv: NodeJS.ProcessEnv;

  /**
   * The key vault, opened on first use: probing the OS keychain loads a native binding, which an idle
   * daemon (or one that only talks to a local LMX without a key) need not carry.
   */
  get vault(): Promise<Vault> {
    if (!this.vaultOpening) {
      // The same choice the CLI makes (env, config `vault`, an existing vault.json, then a probe).
      this.vaultOpening = openVault({ home: this.options.home, env: this.vaultEnv, config: this.config() });
      this.vaultOpening.then(
        (vault) => this.logger.info("vault", `Provider keys: ${vault.location}${vault.note ? ` (${vault.note})` : ""}`),
        (error: Error) => this.logger.error("vault", error.message),
      );
    }
    return this.vaultOpening;
  }
  /** Keys handed out so far; the logger masks them wherever they appear. */
  private readonly secrets = new SecretTracker();
  private readonly keyEnv: NodeJS.ProcessEnv;
  /** MCP servers and the built-in browser; their tools join the built-ins. */
  readonly mcp: McpManager;
  readonly feed = new GlobalFeed();
  private readonly authCodes = new AuthCodes();
  private readonly server: Server;
  private readonly streams: StreamServer;
  private currentToken = "";
  private startedAt = new Date().toISOString();
  private boundPort = 0;
  private isStopping = false;
  /** config.yaml, re-read on the first read after it changes and applied to providers as it lands. */
  private readonly liveConfig: LiveConfig;
  private stoppedResolve!: () => void;
  /** Resolves once the daemon has fully stopped (API stop, signal, or `stop()`). */
  readonly stopped = new Promise<void>((resolve) => {
    this.stoppedResolve = resolve;
  });

  private constructor(private readonly options: DaemonOptions) {
    this.paths = optaPaths(options.home);
    mkdirSync(this.paths.daemonDir, { recursive: true, mode: 0o700 });
    this.liveConfig = new LiveConfig(this.paths.config, {
      changed: (config, previous) => this.applyConfig(config, previous),
      invalid: (message) => this.logger.error("config", message),
    });
    const keyEnv = options.env ?? process.env;
    this.keyEnv = keyEnv;
    this.logger = new Logger({ file: this.paths.log, secrets: () => this.knownSecrets() });
    this.store = new SessionStore(this.paths.sessions, this.logger, this.feed);
    this.checkpointBlobs = new CheckpointBlobs(this.store.checkpointsDir());
    const env = options.env ?? process.env;
    const timeoutFromEnv = Number(env.OPTA_PROVIDER_TIMEOUT_MS);
    this.vaultEnv = env;
    this.providers = new ProviderRegistry(
      {
        connectTimeoutMs: options.providerTimeouts?.connectTimeoutMs ?? (timeoutFromEnv > 0 ? timeoutFromEnv : 120_000),
        idleTimeoutMs: options.providerTimeouts?.idleTimeoutMs ?? (timeoutFromEnv > 0 ? timeoutFromEnv : 120_000),
      },
      env,
      {
        keys: (provider) => this.secrets.read(this.vault, provider),
        onDiscovery: (message) => this.logger.info("provider", message),
      },
    );
    this.approvals = new ApprovalBroker(this.store);
    this.mcp = new McpManager({ home: options.home, logger: this.logger, env });
    this.turns = new TurnManager({
      store: this.store,
      providers: this.providers,
      logger: this.logger,
      approvals: this.approvals,
      home: options.home,
      config: () => this.config(),
      tools: async (cwd) => [...builtinTools, ...(await this.mcp.tools(cwd))],
      turnEnded: (turn) => this.mcp.turnEnded(turn),
      checkpoints: new Checkpointer(this.store, this.checkpointBlobs),
      redact: (text) => redactSecrets(text, this.knownSecrets()),
      redactStream: () => secretMasker(this.knownSecrets()).stream(),
      secretsReady: () => this.rememberStoredKeys(),
    });
    const dev = options.dev ?? env.OPTA_DEV === "1";
    const context: DaemonContext = {
      version: DAEMON_VERSION,
      dev,
      store: this.store,
      turns: this.turns,
      home: options.home,
      checkpoints: this.checkpointBlobs,
      providers: this.providers,
      logger: this.logger,
      feed: this.feed,
      port: () => this.boundPort,
      token: () => this.currentToken,
      startedAt: () => this.startedAt,
      stopping: () => this.isStopping,
      config: () => this.config(),
      requestStop: (reason) => void this.stop(reason),
      requestRestart: () => {
        const token = this.rotateToken();
        setImmediate(() => void this.finishRestart());
        return token;
      },
      publishDaemonEvent: (event) => this.publish(event),
      compact: (sessionId, signal) =>
        compactSession(
          {
            store: this.store,
            providers: this.providers,
            logger: this.logger,
            redact: (text) => redactSecrets(text, this.knownSecrets()),
          },
          sessionId,
          { signal, config: this.config() },
        ),
      systemPrompt: (sessionId) =>
        systemPromptForSession(
          {
            store: this.store,
            home: options.home,
            config: () => this.config(),
            redact: (text) => redactSecrets(text, this.knownSecrets()),
          },
          sessionId,
        ),
      authCodes: this.authCodes,
      grants: new ClientGrants(this.paths.grants, this.logger),
      rotateToken: (reason) => {
        this.logger.info("daemon", `Rotating the token: ${reason}`);
        this.writeToken();
        setImmediate(() => this.streams.closeAll(CloseCode.restarting, "token rotated"));
        return this.currentToken;
      },
      resolvePermission: (sessionId, requestId, decision, by) =>
        this.approvals.resolve(sessionId, requestId, decision, by),
      mountStatic: options.mountStatic ?? ((app) => mountDesktopApp(app, env)),
      mcp: this.mcp,
      doctor: (options) => this.doctor(options),
    };
    const app = createHttpApp(context);
    this.streams = new StreamServer(context);
    // Loopback clients send a whole request in milliseconds: one that trickles in (slowloris) is
    // dropped after 10 s of headers or 30 s in all, not Node's 60 s and 5 min.
    // A missing Host is answered by the app's Host check (403 with a JSON body), not Node's bare 400.
    this.server = createServer(
      { keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 30_000, requireHostHeader: false },
      app,
    );
    this.server.on("upgrade", (request, socket, head) => {
      try {
        this.streams.handleUpgrade(request, socket, head);
      } catch (error) {
        this.logger.error("stream", `Upgrade failed: ${(error as Error).message}`);
        socket.destroy();
      }
    });
    this.server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
      if (error.code === "ECONNRESET" || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(clientErrorResponse(error));
    });
    if (dev) this.logger.info("daemon", `Dev mode: ${DEV_ORIGINS.join(" and ")} may call the daemon`);
  }

  private storedKeysRead: { at: number; done: Promise<void> } | undefined;

  /**
   * Reads every key in the vault (at most every 30 s) so that masking knows them all, not only the
   * ones a provider request has used: a turn's command could print any of them. This opens the
   * vault on a daemon's first turn even when no provider needs a key.
   */
  private rememberStoredKeys(): Promise<void> {
    const now = Date.now();
    if (this.storedKeysRead && now - this.storedKeysRead.at < 30_000) return this.storedKeysRead.done;
    const done = (async () => {
      try {
        const vault = await this.vault;
        for (const name of await vault.list()) await this.secrets.read(vault, name);
      } catch (error) {
        this.logger.warn("vault", `Could not read the stored keys to mask them: ${(error as Error).message}`);
      }
    })();
    this.storedKeysRead = { at: now, done };
    return done;
  }

  /** Every secret the daemon knows now: its token, keys read from the vault, keys from the environment. */
  private knownSecrets(): string[] {
    return [
      this.currentToken,
      ...this.secrets.secrets(),
      this.keyEnv.ANTHROPIC_API_KEY ?? "",
      this.keyEnv.OPTA_LMX_API_KEY ?? "",
      this.keyEnv.OPENAI_API_KEY ?? "",
    ].filter((secret) => secret.length > 0);
  }

  /** Starts a daemon: recovers sessions, listens, then writes the token and state.json. */
  static async start(options: DaemonOptions): Promise<Daemon> {
    // The command gate is synchronous; its bash grammar (WebAssembly) is loaded once, before any turn.
    await loadShellGrammar();
    const daemon = new Daemon(options);
    await daemon.boot();
    return daemon;
  }

  get port(): number {
    return this.boundPort;
  }
  get token(): string {
    return this.currentToken;
  }
  get url(): string {
    return `http://${this.options.host === "::1" ? "[::1]" : "127.0.0.1"}:${this.boundPort}`;
  }

  /** The config as config.yaml is now: never the value from before the last `opta config set`. */
  config(): OptaConfig {
    return this.liveConfig.get();
  }

  /**
   * `GET /v3/doctor`: the checks `opta doctor` runs, as this daemon sees them (its environment,
   * config and vault), with its own answer for the daemon check.
   */
  private doctor(options: { cwd: string; policyOnly: boolean }): Promise<DoctorReport> {
    return runDoctor({
      home: this.options.home,
      cwd: options.cwd,
      env: this.vaultEnv,
      policyOnly: options.policyOnly,
      vault: this.vault,
      checkedBy: "daemon",
      daemon: async () => {
        const uptime = Math.round((Date.now() - Date.parse(this.startedAt)) / 1000);
        const sessions = this.store.counts().total;
        return {
          status: "ok",
          detail: `running on ${this.url} · pid ${process.pid} · v${DAEMON_VERSION} · up ${uptime}s · ${sessions} sessions`,
        };
      },
    });
  }

  /** Rotates the token and closes every WebSocket; sessions and running turns carry on. */
  async restart(): Promise<void> {
    this.rotateToken();
    await this.finishRestart();
  }

  /**
   * First half of a restart, synchronous: the new token is in force (and on disk) when this returns,
   * so the API can hand it to the client that asked for the restart — it held the old one, so it
   * learns nothing it could not read itself — and Code Desktop reconnects without a re-auth prompt.
   */
  private rotateToken(): string {
    this.logger.info("daemon", "Restarting: rotating the token and closing WebSockets");
    this.writeToken();
    this.startedAt = new Date().toISOString();
    this.writeState();
    return this.currentToken;
  }

  private async finishRestart(): Promise<void> {
    // WebSockets authenticated with the old token: close them so clients reconnect with the new one.
    // HTTP connections carry no auth state (every request is checked), so they stay.
    this.streams.closeAll(CloseCode.restarting, "daemon restarting");
    this.liveConfig.reload();
    this.publish({ event: "daemon.start", ts: new Date().toISOString(), pid: process.pid, version: DAEMON_VERSION });
  }

  /** Cancels running turns, flushes sessions, closes connections and removes state.json. */
  async stop(reason = "stopped"): Promise<void> {
    if (this.isStopping) return this.stopped;
    this.isStopping = true;
    this.logger.info("daemon", `Stopping: ${reason}`);
    this.publish({ event: "daemon.stop", ts: new Date().toISOString(), reason });
    await this.turns.stopAll();
    await this.mcp.stop();
    this.streams.closeAll(CloseCode.goingAway, "daemon stopping");
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.streams.close();
    this.liveConfig.unwatch();
    await this.store.close();
    this.removeStateFiles();
    this.logger.info("daemon", "Stopped");
    this.stoppedResolve();
  }

  private async boot(): Promise<void> {
    this.liveConfig.get();
    this.liveConfig.watch();
    const recovered = await this.store.init();
    for (const id of recovered.interrupted) this.logger.warn("session", `Marked the running turn of ${id} interrupted`);
    const port = this.options.port ?? DEFAULT_PORT;
    const host = this.options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        this.server.off("listening", onListening);
        if (error.code === "EADDRINUSE") {
          reject(
            new Error(
              `Port ${port} on ${host} is already in use: is another daemon running? Check with 'opta daemon status', or set OPTA_DAEMON_PORT.`,
            ),
          );
        } else reject(error);
      };
      const onListening = () => {
        this.server.off("error", onError);
        resolve();
      };
      this.server.once("error", onError);
      this.server.once("listening", onListening);
      this.server.listen(port, host);
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    this.writeToken();
    this.writeState();
    this.logger.info("daemon", `Listening on ${this.url}`, { pid: process.pid, version: DAEMON_VERSION });
    this.publish({ event: "daemon.start", ts: new Date().toISOString(), pid: process.pid, version: DAEMON_VERSION });
    void this.providers.checkAll().catch(() => {});
  }

  /** Puts a new config in force: providers and MCP servers follow it; a new `vault` choice reopens the vault. */
  private applyConfig(config: OptaConfig, previous: OptaConfig | undefined): void {
    this.providers.configure(config);
    this.mcp.applyConfig(config);
    if (previous !== undefined && previous.vault !== config.vault) this.vaultOpening = undefined;
    if (previous !== undefined) this.logger.info("config", `Reloaded ${this.paths.config}`);
  }

  private publish(event: DaemonEvent): void {
    this.feed.publish(JSON.stringify(event), Date.parse(event.ts));
  }

  private writeToken(): void {
    this.authCodes.clear();
    this.currentToken = randomBytes(32).toString("base64url");
    writeFileAtomic(this.paths.token, `${this.currentToken}\n`);
  }

  private writeState(): void {
    const state: DaemonState = {
      pid: process.pid,
      port: this.boundPort,
      host: this.options.host ?? "127.0.0.1",
      startedAt: this.startedAt,
      version: DAEMON_VERSION,
    };
    writeFileAtomic(this.paths.state, `${JSON.stringify(state, null, 2)}\n`);
  }

  private removeStateFiles(): void {
    try {
      const state = JSON.parse(readFileSync(this.paths.state, "utf8")) as DaemonState;
      if (state.pid !== process.pid || state.port !== this.boundPort) return;
    } catch {
      return;
    }
    rmSync(this.paths.state, { force: true });
    rmSync(this.paths.token, { force: true });
  }
}

/** Writes a private file (mode 0600) through a temp file, so readers never see half of it. */
function writeFileAtomic(path: string, content: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}
