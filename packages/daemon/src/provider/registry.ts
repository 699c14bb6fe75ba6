import { isIP } from "node:net";
import type { OptaConfig, ProviderHealth } from "@opta/protocol";
import { AiSdkProvider, type ProviderType } from "./ai-sdk-provider.js";
import { browseLmx, chooseLmx, type DiscoveredLmx, type LmxBrowser } from "./discovery.js";
import type { OpenAIApi } from "./openai-reasoning.js";
import { type ResolveOptions, Route, type RouteCandidate, type RouteHost } from "./route.js";
import { type ChatProvider, NoModelError, type ProviderError } from "./types.js";
import { DEFAULT_BASE_URLS, DEFAULT_LMX_HOST, lmxBaseUrl } from "./urls.js";

export { DEFAULT_LMX_HOST } from "./urls.js";

/** Timeouts applied to provider calls. */
export interface ProviderTimeouts {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

/** A model id resolved to the provider that serves it, with the providers to fall back to. */
export type ResolvedModel = Route;

/** What the registry needs besides config. */
export interface ProviderRegistryDeps {
  /** Reads a provider's API key from the vault (per request, so rotation applies at once). */
  keys?: (provider: string) => Promise<string | undefined>;
  /** The LMX address used when neither OPTA_LMX_HOST nor `lmx.host` names one. */
  defaultLmxHost?: string;
  /** mDNS browse (tests replace it). */
  browse?: LmxBrowser;
  /** How long one mDNS browse listens, ms. */
  discoveryTimeoutMs?: number;
  /** Shortest time between two browses, ms. */
  discoveryIntervalMs?: number;
  /** Told when discovery picks (or drops) an LMX. */
  onDiscovery?: (message: string) => void;
}

/** One provider's health plus the models it lists. */
export type ProviderStatus = ProviderHealth & { models: string[] };

const HEALTH_TTL_MS = 10_000;
const LMX_HINT =
  "start it with 'opta lmx start', or point the daemon at another OpenAI-compatible server with OPTA_LMX_HOST or 'opta config set lmx.host HOST:PORT'";
/** Environment variables read as a last resort for cloud keys (CI), by provider type. */
const KEY_ENV: Partial<Record<ProviderType, string>> = { anthropic: "ANTHROPIC_API_KEY", openai: "OPENAI_API_KEY" };
/** The `lmx` provider's key from the environment: the variable `opta lmx start` reads its key from. */
export const LMX_KEY_ENV = "OPTA_LMX_API_KEY";

/**
 * The providers a turn can be routed to, built from env and config: `lmx` (OPTA_LMX_HOST →
 * `lmx.host` → 127.0.0.1:1234 → mDNS) first, then every configured provider. It resolves model ids
 * to routes (with fallback), and caches a health preflight per provider for 10 s.
 */
export class ProviderRegistry implements RouteHost {
  private providers: ChatProvider[] = [];
  private config: OptaConfig = {};
  private readonly health = new Map<string, { at: number; value: ProviderHealth; models: string[] }>();
  private lmxSource: "env" | "config" | "default" = "default";
  private discovered: DiscoveredLmx | undefined;
  private discovery: { at: number; running?: Promise<DiscoveredLmx | undefined> } = { at: 0 };
  /** LMX providers pointed at a discovered host that may not receive the `lmx` key (see `mayReceiveKey`). */
  private readonly keyWithheld = new WeakSet<ChatProvider>();

  constructor(
    private readonly timeouts: ProviderTimeouts,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly deps: ProviderRegistryDeps = {},
  ) {}

  /** Rebuilds the provider list from config (called at start and whenever config.yaml changes). */
  configure(config: OptaConfig): void {
    this.config = config;
    const envHost = this.env.OPTA_LMX_HOST?.trim();
    const configHost = config.lmx?.host?.trim();
    this.lmxSource = envHost ? "env" : configHost ? "config" : "default";
    if (this.lmxSource !== "default") this.discovered = undefined;
    const others: ChatProvider[] = [];
    for (const [name, provider] of Object.entries(config.providers ?? {})) {
      if (name === "lmx") continue;
      const type: ProviderType = provider.type;
      const baseUrl =
        provider.baseUrl ?? (type === "anthropic" || type === "openai" ? DEFAULT_BASE_URLS[type] : undefined);
      if (!baseUrl) continue;
      others.push(this.build(name, type, baseUrl, provider.models, undefined, provider.api));
    }
    this.providers = [this.buildLmx(), ...others];
    this.health.clear();
  }

  list(): readonly ChatProvider[] {
    return this.providers;
  }

  get(name: string): ChatProvider | undefined {
    return this.providers.find((provider) => provider.name === name);
  }

  /**
   * Provider names (or `provider/model` refs) in the order a failing turn tries them: config
   * `fallback`, else LMX then every configured provider.
   */
  fallbackOrder(): string[] {
    return this.config.fallback?.length ? [...this.config.fallback] : this.providers.map((provider) => provider.name);
  }

  /**
   * Resolves a model id to a route. `provider/model` names its provider; a bare id goes to the
   * provider that lists it (LMX first when healthy), else to LMX. With no id, LMX's first model is
   * used, or — when LMX is down — the first model of the next provider in the fallback order.
   */
  async resolve(model: string | undefined, signal?: AbortSignal, options: ResolveOptions = {}): Promise<Route> {
    const primary = await this.choosePrimary(model, signal, options);
    const candidates: RouteCandidate[] = [primary];
    for (const entry of this.fallbackOrder()) {
      const slash = entry.indexOf("/");
      const name = slash > 0 ? entry.slice(0, slash) : entry;
      const provider = this.get(name);
      if (!provider) continue;
      const entryModel = slash > 0 ? entry.slice(slash + 1) : undefined;
      if (provider === primary.provider && (entryModel === undefined || entryModel === primary.model)) continue;
      if (candidates.some((each) => each.provider === provider && each.model === entryModel)) continue;
      candidates.push({ provider, ...(entryModel ? { model: entryModel } : {}) });
    }
    return new Route(this, candidates, options);
  }

  /** Health of every provider, from a preflight `GET /models` cached for 10 s. */
  async checkAll(force = false): Promise<ProviderStatus[]> {
    return Promise.all(this.providers.map((provider) => this.check(provider, force)));
  }

  async check(provider: ChatProvider, force = false): Promise<ProviderStatus> {
    const cached = this.health.get(provider.name);
    if (!force && cached && Date.now() - cached.at < HEALTH_TTL_MS) return { ...cached.value, models: cached.models };
    let status = await this.probe(provider);
    if (!status.healthy && provider.name === "lmx" && this.discoveryAllowed()) {
      const found = await this.discover();
      const lmx = this.get("lmx");
      if (found && lmx && lmx !== provider) status = await this.probe(lmx);
    }
    return status;
  }

  /** Health as last checked, without a network call (for status pages). */
  cachedHealth(): ProviderHealth[] {
    return this.providers.map(
      (provider) =>
        this.health.get(provider.name)?.value ?? {
          name: provider.name,
          type: provider.type,
          ...(provider.baseUrl ? { baseUrl: provider.baseUrl } : {}),
          healthy: false,
          error: "not checked yet",
        },
    );
  }

  /** Models each provider lists, from the cache (empty until checked). */
  cachedModels(provider: ChatProvider): string[] {
    return this.health.get(provider.name)?.models ?? [];
  }

  /** Where LMX's address came from: OPTA_LMX_HOST, `lmx.host`, the default, or mDNS. */
  lmxOrigin(): "env" | "config" | "default" | "mdns" {
    return this.discovered ? "mdns" : this.lmxSource;
  }

  /**
   * The API key a provider would use now: the vault, then the environment (ANTHROPIC_API_KEY /
   * OPENAI_API_KEY by type, OPTA_LMX_API_KEY for `lmx`). None for an LMX found by mDNS on another
   * machine unless the user trusts discovered hosts: anyone on the LAN can advertise one.
   */
  async keyFor(provider: ChatProvider): Promise<string | undefined> {
    if (this.keyWithheld.has(provider)) return undefined;
    return this.storedKey(provider);
  }

  /** Whether a key exists for the provider (vault or environment), whether or not it may be sent. */
  private async storedKey(provider: Pick<ChatProvider, "name" | "type">): Promise<string | undefined> {
    const stored = await this.deps.keys?.(provider.name);
    if (stored) return stored;
    const variable = provider.name === "lmx" ? LMX_KEY_ENV : KEY_ENV[provider.type as ProviderType];
    return variable ? this.env[variable]?.trim() || undefined : undefined;
  }

  /** Whether the `lmx` key may go to a discovered LMX: only on this machine, or with `lmx.trust-discovered: true`. */
  mayReceiveKey(found: Pick<DiscoveredLmx, "address">): boolean {
    return this.config.lmx?.["trust-discovered"] === true || isLoopback(found.address);
  }

  // RouteHost

  needsPreflight(provider: ChatProvider): boolean {
    return provider.name === "lmx";
  }

  markFailed(provider: ChatProvider, error: ProviderError): void {
    const previous = this.health.get(provider.name);
    this.health.set(provider.name, {
      at: Date.now(),
      value: { ...this.describe(provider), healthy: false, error: error.message, checkedAt: new Date().toISOString() },
      models: previous?.models ?? [],
    });
  }

  async modelFor(
    provider: ChatProvider,
    wanted: string | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const configured = provider.configuredModels ?? [];
    let listed = this.cachedModels(provider);
    if (wanted && (configured.includes(wanted) || listed.includes(wanted))) return wanted;
    if (configured[0]) return configured[0];
    if (listed.length === 0 && !signal?.aborted) {
      listed = (await this.check(provider)).models;
      if (wanted && listed.includes(wanted)) return wanted;
    }
    return listed[0];
  }

  async hasKey(provider: ChatProvider): Promise<boolean> {
    return !provider.requiresKey || Boolean(await this.keyFor(provider));
  }

  private async choosePrimary(
    model: string | undefined,
    signal: AbortSignal | undefined,
    options: ResolveOptions,
  ): Promise<{ provider: ChatProvider; model: string }> {
    const lmx = this.providers[0]!;
    if (model) {
      const slash = model.indexOf("/");
      if (slash > 0) {
        const named = this.get(model.slice(0, slash));
        if (named) return { provider: named, model: model.slice(slash + 1) };
      }
      // LMX comes first when healthy, even before its model list is cached: without this, another
      // provider whose config lists the same id would win only because LMX was not asked yet.
      if (!this.health.has(lmx.name)) await this.check(lmx);
      const lists = (provider: ChatProvider) =>
        provider.configuredModels?.includes(model) || this.cachedModels(provider).includes(model);
      let owners = this.providers.filter(lists);
      if (owners.length === 0 && this.providers.length > 1) {
        await this.checkAll();
        owners = this.providers.filter(lists);
      }
      const lmxOwns = owners.includes(lmx);
      if (lmxOwns && (await this.check(lmx)).healthy) return { provider: lmx, model };
      const other = owners.find((provider) => provider !== lmx);
      if (other) return { provider: other, model };
      return { provider: lmx, model };
    }
    const health = await this.check(lmx);
    const first = health.models[0];
    if (health.healthy && first) return { provider: lmx, model: first };
    const reason = health.healthy ? `${lmx.name} at ${lmx.baseUrl} lists no models` : (health.error ?? "unhealthy");
    for (const entry of this.fallbackOrder()) {
      const slash = entry.indexOf("/");
      const provider = this.get(slash > 0 ? entry.slice(0, slash) : entry);
      if (!provider || provider === lmx || !(await this.hasKey(provider))) continue;
      const chosen = slash > 0 ? entry.slice(slash + 1) : await this.modelFor(provider, undefined, signal);
      if (!chosen) continue;
      options.onFallback?.({ from: lmx.name, to: `${provider.name}/${chosen}`, reason });
      return { provider, model: chosen };
    }
    if (!health.healthy) {
      // Nothing else can answer: ask LMX itself, past the cache (a recent failure may be over); its
      // error names the endpoint and what to do.
      const listed = await lmx.listModels(signal);
      const configured = lmx.configuredModels?.[0];
      if (configured ?? listed[0]) return { provider: lmx, model: (configured ?? listed[0])! };
    }
    throw new NoModelError(
      `No model to use: ${lmx.name} at ${lmx.baseUrl} lists no models. Add one with 'opta lmx pull <hf:…|https://…>', or choose one with 'opta config set default-model <id>'.`,
    );
  }

  private async probe(provider: ChatProvider): Promise<ProviderStatus> {
    const started = performance.now();
    let value: ProviderHealth;
    let models: string[] = [];
    try {
      const listed = await provider.listModels();
      models = provider.configuredModels?.length ? [...provider.configuredModels] : listed;
      value = {
        ...this.describe(provider),
        healthy: true,
        latencyMs: Math.round((performance.now() - started) * 10) / 10,
        checkedAt: new Date().toISOString(),
      };
    } catch (error) {
      value = {
        ...this.describe(provider),
        healthy: false,
        error: (error as Error).message,
        checkedAt: new Date().toISOString(),
      };
      models = provider.configuredModels ? [...provider.configuredModels] : [];
    }
    // A provider list rebuilt meanwhile (config reload) must not get a stale entry.
    if (this.providers.includes(provider)) this.health.set(provider.name, { at: Date.now(), value, models });
    return { ...value, models };
  }

  private describe(provider: ChatProvider): Pick<ProviderHealth, "name" | "type" | "baseUrl"> {
    return { name: provider.name, type: provider.type, ...(provider.baseUrl ? { baseUrl: provider.baseUrl } : {}) };
  }

  private discoveryAllowed(): boolean {
    return this.lmxSource === "default" && this.config.lmx?.discovery !== false;
  }

  /**
   * Browses mDNS (at most once per interval; concurrent callers share one browse) and, when an LMX
   * answers, points the `lmx` provider at it. A discovered LMX that stops answering is dropped, so
   * the next check tries 127.0.0.1:1234 again before browsing.
   */
  private async discover(): Promise<DiscoveredLmx | undefined> {
    if (this.discovered) {
      this.deps.onDiscovery?.(`LMX at ${this.discovered.baseUrl} (found by mDNS) stopped answering`);
      this.discovered = undefined;
      this.replaceLmx();
      return undefined;
    }
    if (this.discovery.running) return this.discovery.running;
    const interval = this.deps.discoveryIntervalMs ?? 30_000;
    if (Date.now() - this.discovery.at < interval) return undefined;
    this.discovery.at = Date.now();
    const browse = this.deps.browse ?? browseLmx;
    const mdnsInterface = this.env.OPTA_MDNS_INTERFACE?.trim();
    this.discovery.running = (async () => {
      try {
        const found = await browse({
          timeoutMs: this.deps.discoveryTimeoutMs ?? 1500,
          ...(mdnsInterface ? { interface: mdnsInterface } : {}),
        });
        const haveKey = Boolean(await this.storedKey({ name: "lmx", type: "lmx" }));
        // An answer we can authenticate to counts as open; one whose key we hold but may not send does not.
        const view = found.map((entry) => ({
          ...entry,
          auth: entry.auth && !(haveKey && this.mayReceiveKey(entry)),
        }));
        const picked = chooseLmx(view, { haveKey: false });
        const chosen = picked ? found[view.indexOf(picked)] : undefined;
        if (chosen && this.discoveryAllowed()) {
          this.discovered = chosen;
          this.replaceLmx();
          const withheld =
            chosen.auth && !this.mayReceiveKey(chosen)
              ? `; it wants a key, which is not sent to a host found by mDNS on another machine: pin it with 'opta config set lmx.host ${chosen.address.includes(":") ? `[${chosen.address}]` : chosen.address}:${chosen.port}' or trust discovered hosts with 'opta config set lmx.trust-discovered true'`
              : "";
          this.deps.onDiscovery?.(`Found LMX '${chosen.name}' at ${chosen.baseUrl} by mDNS${withheld}`);
        }
        return chosen;
      } catch (error) {
        this.deps.onDiscovery?.(`mDNS browse failed: ${(error as Error).message}`);
        return undefined;
      } finally {
        this.discovery.running = undefined;
      }
    })();
    return this.discovery.running;
  }

  private replaceLmx(): void {
    this.health.delete("lmx");
    this.providers = [this.buildLmx(), ...this.providers.slice(1)];
  }

  private buildLmx(): ChatProvider {
    const host =
      this.lmxSource === "env"
        ? this.env.OPTA_LMX_HOST!.trim()
        : this.lmxSource === "config"
          ? this.config.lmx!.host!.trim()
          : (this.discovered?.baseUrl ?? this.deps.defaultLmxHost ?? DEFAULT_LMX_HOST);
    const lmx = this.build("lmx", "lmx", lmxBaseUrl(host), this.config.providers?.lmx?.models, LMX_HINT);
    if (this.lmxSource === "default" && this.discovered && !this.mayReceiveKey(this.discovered)) {
      this.keyWithheld.add(lmx);
    }
    return lmx;
  }

  private build(
    name: string,
    type: ProviderType,
    baseUrl: string,
    models: readonly string[] | undefined,
    unreachableHint?: string,
    openaiApi?: OpenAIApi,
  ): ChatProvider {
    const provider: AiSdkProvider = new AiSdkProvider({
      name,
      type,
      baseUrl,
      ...(models ? { models } : {}),
      ...this.timeouts,
      apiKey: () => this.keyFor(provider),
      thinking: () => this.config.thinking === true,
      thinkingBudget: () => this.config["thinking-budget"],
      ...(openaiApi ? { openaiApi } : {}),
      ...(unreachableHint ? { unreachableHint } : {}),
    });
    return provider;
  }
}

/** 127.0.0.0/8 or ::1 (also IPv4-mapped): an address on this machine. */
function isLoopback(address: string): boolean {
  const plain = address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  if (isIP(plain) === 4) return plain.startsWith("127.");
  return plain === "::1";
}
