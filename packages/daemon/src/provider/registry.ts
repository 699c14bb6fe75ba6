import type { OptaConfig, ProviderHealth } from "@opta/protocol";
import { lmxBaseUrl, OpenAICompatibleProvider } from "./openai-compatible.js";
import type { ChatProvider } from "./types.js";

/** Where the default LMX lives when nothing else is configured. */
export const DEFAULT_LMX_HOST = "127.0.0.1:1234";

/** Timeouts applied to provider calls. */
export interface ProviderTimeouts {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

/** A model id resolved to the provider that serves it. */
export interface ResolvedModel {
  provider: ChatProvider;
  model: string;
}

const HEALTH_TTL_MS = 10_000;

/**
 * The providers a turn can be routed to, built from env and config. LMX (or whatever
 * OpenAI-compatible server OPTA_LMX_HOST names) is always first.
 */
export class ProviderRegistry {
  private providers: ChatProvider[] = [];
  private readonly health = new Map<string, { at: number; value: ProviderHealth; models: string[] }>();

  constructor(
    private readonly timeouts: ProviderTimeouts,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Rebuilds the provider list from config (called at start and whenever config.yaml changes). */
  configure(config: OptaConfig): void {
    const host = this.env.OPTA_LMX_HOST || config.lmx?.host || DEFAULT_LMX_HOST;
    const lmx = new OpenAICompatibleProvider({
      name: "lmx",
      type: "lmx",
      baseUrl: lmxBaseUrl(host),
      ...this.timeouts,
      unreachableHint:
        "start it with 'opta lmx start', or point the daemon at another OpenAI-compatible server with OPTA_LMX_HOST or 'opta config set lmx.host HOST:PORT'",
    });
    const others: ChatProvider[] = [];
    for (const [name, provider] of Object.entries(config.providers ?? {})) {
      if (name === "lmx" || !provider.baseUrl) continue;
      if (provider.type !== "openai-compatible" && provider.type !== "lmx") continue;
      others.push(
        new OpenAICompatibleProvider({ name, type: provider.type, baseUrl: provider.baseUrl, ...this.timeouts }),
      );
    }
    this.providers = [lmx, ...others];
    this.health.clear();
  }

  list(): readonly ChatProvider[] {
    return this.providers;
  }

  get(name: string): ChatProvider | undefined {
    return this.providers.find((provider) => provider.name === name);
  }

  /**
   * Resolves a model id: `provider/model` names its provider explicitly; a bare id goes to the first
   * provider that lists it, else to LMX. With no id at all, the first model LMX lists is used.
   */
  async resolve(model: string | undefined, signal?: AbortSignal): Promise<ResolvedModel> {
    const lmx = this.providers[0]!;
    if (model) {
      const slash = model.indexOf("/");
      if (slash > 0) {
        const named = this.get(model.slice(0, slash));
        if (named) return { provider: named, model: model.slice(slash + 1) };
      }
      for (const provider of this.providers.slice(1)) {
        const checked = this.health.get(provider.name);
        if (checked?.models.includes(model)) return { provider, model };
      }
      return { provider: lmx, model };
    }
    const models = await lmx.listModels(signal);
    const first = models[0];
    if (!first) {
      throw new Error(
        `No model to use: ${lmx.name} at ${lmx.baseUrl} lists no models. Add one with 'opta lmx pull <hf:…|https://…>', or choose one with 'opta config set default-model <id>'.`,
      );
    }
    return { provider: lmx, model: first };
  }

  /** Health of every provider, from a preflight `GET /models` cached for 10 s. */
  async checkAll(force = false): Promise<Array<ProviderHealth & { models: string[] }>> {
    return Promise.all(this.providers.map((provider) => this.check(provider, force)));
  }

  async check(provider: ChatProvider, force = false): Promise<ProviderHealth & { models: string[] }> {
    const cached = this.health.get(provider.name);
    if (!force && cached && Date.now() - cached.at < HEALTH_TTL_MS) return { ...cached.value, models: cached.models };
    const started = performance.now();
    let value: ProviderHealth;
    let models: string[] = [];
    try {
      models = await provider.listModels();
      value = {
        name: provider.name,
        type: provider.type,
        baseUrl: provider.baseUrl,
        healthy: true,
        latencyMs: Math.round((performance.now() - started) * 10) / 10,
        checkedAt: new Date().toISOString(),
      };
    } catch (error) {
      value = {
        name: provider.name,
        type: provider.type,
        baseUrl: provider.baseUrl,
        healthy: false,
        error: (error as Error).message,
        checkedAt: new Date().toISOString(),
      };
    }
    this.health.set(provider.name, { at: Date.now(), value, models });
    return { ...value, models };
  }

  /** Health as last checked, without a network call (for status pages). */
  cachedHealth(): ProviderHealth[] {
    return this.providers.map(
      (provider) =>
        this.health.get(provider.name)?.value ?? {
          name: provider.name,
          type: provider.type,
          baseUrl: provider.baseUrl,
          healthy: false,
          error: "not checked yet",
        },
    );
  }
}
