import { readFile, stat } from "node:fs/promises";
import { FileVault, loadConfig, maskSecret, openVault, optaPaths, VAULT_FILE_NAME, type Vault } from "@opta/local";
import { type CheckStatus, DaemonState, type DoctorCheck, type DoctorReport, type OptaConfig } from "@opta/protocol";
import { checkBrowser } from "../browser/index.js";
import { loadHooks } from "../hook/index.js";
import { loadPolicies, validatePolicyFiles } from "../permission/index.js";
import { ProviderRegistry, type ProviderStatus } from "../provider/registry.js";
import type { ChatProvider } from "../provider/types.js";
import { DEFAULT_SANDBOX_LEVEL, detectSandbox, SANDBOX_LEVEL_SUMMARY } from "../sandbox/index.js";
import { redactSecrets } from "../vault/mask.js";

export type { CheckStatus, DoctorCheck, DoctorReport } from "@opta/protocol";

/** What the checks look at. */
export interface DoctorOptions {
  /** The Opta home. */
  home: string;
  /** Where project policy files are looked for. */
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Longest wait for any one request, ms (default 5000). */
  timeoutMs?: number;
  /** Only validate policy files (`opta doctor --policy`). */
  policyOnly?: boolean;
  /**
   * The daemon's own answer for the `daemon` check, when the running daemon is the one asking
   * (`GET /v3/doctor`); default: look for a running daemon through state.json and its API.
   */
  daemon?: () => Promise<CheckResult>;
  /** The vault to check (the daemon passes the one it reads keys from); default: open it as the CLI would. */
  vault?: Promise<Vault>;
  /** Recorded in the report: `daemon` when the running daemon ran the checks. */
  checkedBy?: "daemon" | "local";
}

/**
 * Runs every check (or only the policy check) and returns the results as data, so the CLI prints
 * them and tests assert on them alike. Checks never throw: a check that cannot run is a `fail`.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 5000;
  const checks: DoctorCheck[] = [];
  if (options.policyOnly) {
    checks.push(await guarded("policy", "policy files", () => checkPolicies(options.home, options.cwd)));
    return report(checks, options.checkedBy);
  }
  checks.push(await guarded("daemon", "daemon", options.daemon ?? (() => checkDaemon(options.home, timeoutMs))));
  const { lmx, providers, configCheck, vaultCheck, config } = await checkModelServers(
    options.home,
    env,
    timeoutMs,
    options.vault,
  );
  checks.push(
    lmx,
    ...providers,
    vaultCheck,
    configCheck,
    await guarded("policy", "policy files", () => checkPolicies(options.home, options.cwd)),
    await guarded("hooks", "hooks", () => checkHooks(options.home, options.cwd)),
    await guarded("sandbox", "command sandbox", () => checkSandbox(options.home, options.cwd, env)),
    await guarded("home", "Opta home permissions", () => checkHome(options.home)),
    await guarded("browser", "browser automation", () => checkBrowserAutomation(config, env)),
  );
  return report(checks, options.checkedBy);
}

/** Config, vault, LMX and providers: the LMX and provider checks need the config and the keys. */
async function checkModelServers(
  home: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  vaultToCheck: Promise<Vault> | undefined,
) {
  const paths = optaPaths(home);
  let config: OptaConfig = {};
  const configCheck = await guarded("config", "config file", async () => {
    try {
      config = await loadConfig(paths.config);
    } catch (error) {
      return {
        status: "fail",
        detail: (error as Error).message,
        fix: `edit ${paths.config} (or remove it to start from defaults)`,
      };
    }
    return checkConfigValues(config, paths.config);
  });

  let vault: Vault | undefined;
  const vaultCheck = await guarded("vault", "key vault", async () => {
    vault = await (vaultToCheck ?? openVault({ home, env }));
    return describeVault(vault);
  });

  const registry = new ProviderRegistry({ connectTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs }, env, {
    keys: async (provider) => vault?.get(provider),
  });
  registry.configure(config);
  const statuses = await registry.checkAll(true);
  const [lmx, ...others] = registry.list();
  const providers: DoctorCheck[] = [];
  for (const [index, provider] of others.entries()) {
    providers.push(
      await guarded(`provider:${provider.name}`, `provider ${provider.name}`, () =>
        checkProvider(registry, provider, statuses[index + 1]!),
      ),
    );
  }
  const anotherAnswers = providers.some((check) => check.status === "ok");
  const lmxCheck = await guarded("lmx", "LMX", () => checkLmx(registry, lmx!, statuses[0]!, anotherAnswers, timeoutMs));
  return { lmx: lmxCheck, providers, configCheck, vaultCheck, config };
}

/**
 * Whether commands the agent runs are contained: a warn (not a fail: they still run, after asking)
 * when no sandbox works here or a user policy turned it off.
 */
export async function checkSandbox(home: string, cwd: string, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const { sandbox } = await loadPolicies({ home, cwd, env: {} });
  const level = sandbox?.level ?? DEFAULT_SANDBOX_LEVEL;
  const from = sandbox ? ` (sandbox: ${level} in ${sandbox.source}${sandbox.line ? `:${sandbox.line}` : ""})` : "";
  if (level === "off") {
    return {
      status: "warn",
      detail: `commands run unsandboxed${from}`,
      fix: "remove the sandbox: off line to contain commands again",
    };
  }
  const support = await detectSandbox({ env });
  if (!support.available) {
    return {
      status: "warn",
      detail: `commands run unsandboxed: ${support.reason}; every command asks first`,
      fix: support.fix,
    };
  }
  const program = support.version ?? (support.kind === "bwrap" ? "bubblewrap" : "sandbox-exec");
  return { status: "ok", detail: `${program} at ${support.path}; ${level}${from}: ${SANDBOX_LEVEL_SUMMARY[level]}` };
}

/** Browser tools need a Chromium: a fail only when `mcp.peekaboo` is on, else a warn (nothing uses it yet). */
async function checkBrowserAutomation(config: OptaConfig, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const enabled = config.mcp?.peekaboo === true;
  const found = await checkBrowser({ env, version: true });
  if (found.available) {
    return {
      status: "ok",
      detail: `${found.version ?? "browser"} at ${found.path}${enabled ? "" : " (browser tools off: 'opta config set mcp.peekaboo true')"}`,
    };
  }
  return {
    status: enabled ? "fail" : "warn",
    detail: enabled ? "browser tools are on but no browser was found" : "no browser found (browser tools are off)",
    fix: found.hint ?? "install Chromium or set OPTA_BROWSER",
  };
}

/** What one check found, before it is given its id and title. */
export type CheckResult = Omit<DoctorCheck, "id" | "title">;

async function guarded(id: string, title: string, run: () => Promise<CheckResult>): Promise<DoctorCheck> {
  try {
    return { id, title, ...(await run()) };
  } catch (error) {
    return { id, title, status: "fail", detail: redactSecrets((error as Error).message || String(error)) };
  }
}

function report(checks: DoctorCheck[], checkedBy: "daemon" | "local" | undefined): DoctorReport {
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0 };
  for (const check of checks) counts[check.status] += 1;
  return { ok: counts.fail === 0, checks, counts, ...(checkedBy ? { checkedBy } : {}) };
}

async function checkDaemon(home: string, timeoutMs: number): Promise<CheckResult> {
  const paths = optaPaths(home);
  let state: DaemonState;
  try {
    state = DaemonState.parse(JSON.parse(await readFile(paths.state, "utf8")));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return {
        status: "warn",
        detail: "not running (commands that need it start it)",
        fix: "start it with 'opta daemon start'",
      };
    }
    return {
      status: "fail",
      detail: `${paths.state} is unreadable: ${(error as Error).message}`,
      fix: "stop any running daemon with 'opta daemon stop', then start it again",
    };
  }
  const base = `http://${state.host.includes(":") ? `[${state.host}]` : state.host}:${state.port}`;
  let token: string;
  try {
    token = (await readFile(paths.token, "utf8")).trim();
  } catch (error) {
    return {
      status: "fail",
      detail: `pid ${state.pid} on ${base}, but its token ${paths.token} is unreadable (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      fix: "restart it with 'opta daemon restart' (it writes a new token)",
    };
  }
  const started = performance.now();
  try {
    const response = await fetch(`${base}/v3/daemon`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const latencyMs = round(performance.now() - started);
    if (!response.ok) {
      return {
        status: "fail",
        detail: `${base} answered ${response.status}${response.status === 401 ? " (the token in the home is not the daemon's)" : ""}`,
        fix: "restart it with 'opta daemon restart'",
        latencyMs,
      };
    }
    const info = (await response.json()) as {
      pid: number;
      version: string;
      uptime: number;
      sessions: { total: number };
    };
    return {
      status: "ok",
      detail: `running on ${base} · pid ${info.pid} · v${info.version} · up ${info.uptime}s · ${info.sessions.total} sessions · ${latencyMs} ms`,
      latencyMs,
    };
  } catch (error) {
    const alive = isAlive(state.pid);
    const reason = timeoutError(error) ? `no answer within ${timeoutMs / 1000}s` : causeOf(error);
    return {
      status: "fail",
      detail: alive
        ? `pid ${state.pid} is running but ${base} does not answer (${reason})`
        : `state.json names pid ${state.pid} on ${base}, which is not running (stale state: the daemon crashed)`,
      fix: alive
        ? `stop it with 'opta daemon stop' (or kill ${state.pid}), then 'opta daemon start'`
        : "start it with 'opta daemon start' (the stale state is replaced)",
    };
  }
}

async function checkLmx(
  registry: ProviderRegistry,
  lmx: ChatProvider,
  status: ProviderStatus,
  anotherAnswers: boolean,
  timeoutMs: number,
): Promise<CheckResult> {
  const origin = { env: "OPTA_LMX_HOST", config: "lmx.host", default: "default address", mdns: "found by mDNS" }[
    registry.lmxOrigin()
  ];
  const key = await registry.keyFor(lmx);
  if (!status.healthy) {
    const error = status.error ?? "no answer";
    const rejected = / answered 40[13]\b/.test(error);
    const fix = !rejected
      ? "start it with 'opta lmx start', or point at a running server with 'opta config set lmx.host HOST:PORT' (or OPTA_LMX_HOST)"
      : key
        ? "the LMX rejected the key; replace it with 'opta account rotate lmx' (the key 'opta lmx start --api-key' was given)"
        : registry.lmxOrigin() === "mdns"
          ? "the LMX wants a key, which is never sent to a host found by mDNS on another machine: pin it with 'opta config set lmx.host HOST:PORT' (or 'opta config set lmx.trust-discovered true'), and store the key with 'opta account add lmx'"
          : "the LMX wants a key: store it with 'opta account add lmx' (or set OPTA_LMX_API_KEY for the daemon)";
    return {
      status: anotherAnswers ? "warn" : "fail",
      detail: `${lmx.baseUrl} (${origin}) is not ${rejected ? "usable" : "reachable"}: ${error}${anotherAnswers ? "; turns fall back to the next provider" : ""}`,
      fix,
    };
  }
  const loaded = await loadedModels(lmx.baseUrl ?? "", timeoutMs, key);
  const models = status.models.length ? status.models.join(", ") : "none";
  const detail = `${lmx.baseUrl} (${origin}) · ${status.latencyMs ?? 0} ms · models: ${models}${loaded ? ` · loaded: ${loaded.length ? loaded.join(", ") : "none"}` : ""}`;
  if (status.models.length === 0) {
    return {
      status: "warn",
      detail,
      fix: "add a model with 'opta lmx pull <hf:…|https://…>'",
      ...(status.latencyMs !== undefined ? { latencyMs: status.latencyMs } : {}),
    };
  }
  return { status: "ok", detail, ...(status.latencyMs !== undefined ? { latencyMs: status.latencyMs } : {}) };
}

/**
 * LMX's `/api/v1/models` load states, asked with the key a turn would send (an LMX started with
 * `--api-key` guards this route too); undefined for servers without it (Ollama, LM Studio…).
 */
async function loadedModels(
  baseUrl: string,
  timeoutMs: number,
  key: string | undefined,
): Promise<string[] | undefined> {
  try {
    const root = baseUrl.replace(/\/v1$/, "");
    const response = await fetch(`${root}/api/v1/models`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { models?: Array<{ id?: string; state?: string }> };
    if (!Array.isArray(body.models)) return undefined;
    return body.models.filter((model) => model.state === "loaded" && model.id).map((model) => model.id!);
  } catch {
    return undefined;
  }
}

async function checkProvider(
  registry: ProviderRegistry,
  provider: ChatProvider,
  status: ProviderStatus,
): Promise<CheckResult> {
  const key = await registry.keyFor(provider);
  const keyText = key ? `key ${maskSecret(key)}` : provider.requiresKey ? "no key" : "no key (none needed)";
  const where = `${provider.type} at ${provider.baseUrl}`;
  if (provider.requiresKey && !key) {
    return {
      status: "fail",
      detail: `${where} · no API key stored`,
      fix: `add one with 'opta account add ${provider.name}'`,
    };
  }
  if (!status.healthy) {
    const error = status.error ?? "no answer";
    const rejected = / answered 40[13]\b/.test(error);
    return {
      status: "fail",
      detail: `${where} · ${keyText} · ${error}`,
      fix: rejected
        ? `the key was rejected; replace it with 'opta account rotate ${provider.name}'`
        : `check that the server is running and the base URL is right ('opta config add-provider ${provider.name} --type ${provider.type} --base-url URL')`,
    };
  }
  const models = status.models.length ? `${status.models.length} models` : "no models listed";
  return {
    status: "ok",
    detail: `${where} · ${keyText} · ${status.latencyMs ?? 0} ms · ${models}`,
    ...(status.latencyMs !== undefined ? { latencyMs: status.latencyMs } : {}),
  };
}

async function describeVault(vault: Vault): Promise<CheckResult> {
  const names = await vault.list();
  const stored = names.length ? `${names.length} key${names.length === 1 ? "" : "s"} (${names.join(", ")})` : "no keys";
  if (vault.backend === "keychain") return { status: "ok", detail: `${vault.location} · ${stored}` };
  const mode = vault instanceof FileVault ? await vault.mode() : undefined;
  if (mode !== undefined && (mode & 0o077) !== 0) {
    return {
      status: "fail",
      detail: `file vault ${vault.location} is readable by others (mode ${mode.toString(8)})`,
      fix: `chmod 600 ${vault.location}`,
    };
  }
  return {
    status: "warn",
    detail: `keys are kept in the file ${vault.location} (mode 0600) because ${vault.note ?? "no OS keychain is reachable"} · ${stored}`,
    fix: "on Linux, install and unlock a Secret Service keyring (gnome-keyring or KeePassXC), run 'opta config set vault keychain' and add the keys again; until then anyone who can read your files can read the keys",
  };
}

function checkConfigValues(config: OptaConfig, path: string): CheckResult {
  const names = new Set(["lmx", ...Object.keys(config.providers ?? {})]);
  const problems: string[] = [];
  for (const entry of config.fallback ?? []) {
    const name = entry.includes("/") ? entry.slice(0, entry.indexOf("/")) : entry;
    if (!names.has(name)) problems.push(`fallback: '${entry}' names no configured provider`);
  }
  for (const [name, provider] of Object.entries(config.providers ?? {})) {
    if (provider.type === "openai-compatible" && !provider.baseUrl) {
      problems.push(`providers.${name}: an openai-compatible provider needs baseUrl`);
    }
  }
  if (problems.length) {
    return {
      status: "fail",
      detail: `${path}: ${problems.length} problem${problems.length === 1 ? "" : "s"}`,
      problems,
      fix: "fix the keys named above with 'opta config set' or 'opta config add-provider'",
    };
  }
  const count = Object.keys(config).length;
  return {
    status: "ok",
    detail: count
      ? `${path} is valid (${count} key${count === 1 ? "" : "s"})`
      : `no settings in ${path} (defaults apply)`,
  };
}

async function checkPolicies(home: string, cwd: string): Promise<CheckResult> {
  const problems = await validatePolicyFiles({ home, cwd });
  const { files } = await loadPolicies({ home, cwd, env: {} });
  const lines = problems.map(
    (problem) => `${problem.file}${problem.line ? `:${problem.line}` : ""}: ${problem.message}`,
  );
  if (lines.length) {
    return {
      status: "fail",
      detail: `${lines.length} problem${lines.length === 1 ? "" : "s"} in ${files.length} policy file${files.length === 1 ? "" : "s"}`,
      problems: lines,
      fix: problems.some((problem) => problem.message.includes("opta trust"))
        ? "edit the lines named above; a policy ignored above this directory applies after `opta trust DIR` (docs/permissions.md)"
        : "edit the lines named above (see docs/permissions.md for the rule syntax)",
    };
  }
  return {
    status: "ok",
    detail: files.length ? `${files.length} valid: ${files.join(", ")}` : "no policy files (defaults apply)",
  };
}

/**
 * The hooks a session in `cwd` would run, and the hooks files it would skip: a project file that is
 * not trusted, one another user can write, or a broken one (a warning: turns still run, without them).
 */
export async function checkHooks(home: string, cwd: string): Promise<CheckResult> {
  const { hooks, skipped, files } = await loadHooks({ home, cwd });
  const found = `${hooks.length} hook${hooks.length === 1 ? "" : "s"}${files.length ? ` from ${files.join(", ")}` : ""}`;
  if (skipped.length > 0) {
    return {
      status: "warn",
      detail: `${skipped.length} hooks file${skipped.length === 1 ? " is" : "s are"} skipped; ${found} run`,
      problems: skipped.map((entry) => `${entry.file}: ${entry.reason}`),
      fix: skipped.some((entry) => entry.reason.includes("opta trust"))
        ? "run `opta trust DIR` for a project you trust, or fix the files named above (docs/agent.md#hooks)"
        : "fix the files named above (docs/agent.md#hooks)",
    };
  }
  return { status: "ok", detail: hooks.length ? found : "no hooks files" };
}

async function checkHome(home: string): Promise<CheckResult> {
  if (process.platform === "win32") return { status: "ok", detail: `${home} (permissions follow the user profile)` };
  const paths = optaPaths(home);
  const problems: string[] = [];
  const warnings: string[] = [];
  const modeOf = async (path: string) => {
    try {
      return (await stat(path)).mode & 0o777;
    } catch {
      return undefined;
    }
  };
  const homeMode = await modeOf(home);
  if (homeMode === undefined) return { status: "ok", detail: `${home} does not exist yet (created on first use)` };
  if (homeMode & 0o022) problems.push(`${home} is writable by others (mode ${octal(homeMode)})`);
  const secrets: Array<[string, string]> = [
    [paths.token, "daemon token"],
    [`${home}/${VAULT_FILE_NAME}`, "file vault"],
  ];
  for (const [path, what] of secrets) {
    const mode = await modeOf(path);
    if (mode !== undefined && mode & 0o077) problems.push(`${what} ${path} is mode ${octal(mode)}, not 600`);
  }
  const daemonMode = await modeOf(paths.daemonDir);
  if (daemonMode !== undefined && daemonMode & 0o077) {
    warnings.push(`${paths.daemonDir} is mode ${octal(daemonMode)} (sessions are readable by others)`);
  }
  if (problems.length) {
    return {
      status: "fail",
      detail: problems.join("; "),
      problems: [...problems, ...warnings],
      fix: `chmod go-rwx ${home}, and chmod 600 the files named (a restart writes a new token)`,
    };
  }
  if (warnings.length) return { status: "warn", detail: warnings.join("; "), fix: `chmod 700 ${paths.daemonDir}` };
  const tokenMode = await modeOf(paths.token);
  return {
    status: "ok",
    detail: `${home} (mode ${octal(homeMode)})${tokenMode !== undefined ? ` · token ${octal(tokenMode)}` : ""}`,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function timeoutError(error: unknown): boolean {
  return (error as { name?: string }).name === "TimeoutError";
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

function octal(mode: number): string {
  return mode.toString(8).padStart(3, "0");
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
