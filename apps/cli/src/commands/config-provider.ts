import { isValidProviderName, loadConfig, openVault, optaPaths, saveConfig } from "@opta/local";
import type { ProviderConfig } from "@opta/protocol";
import { optaHome } from "../connection.js";
import { UsageError } from "../output/errors.js";
import { notice, print } from "../output/terminal.js";

const TYPES = ["openai-compatible", "anthropic", "openai"] as const;
type ProviderType = (typeof TYPES)[number];

/**
 * `opta config add-provider <name> --type … [--base-url …] [--models a,b]`: adds or replaces a
 * provider in config.yaml. A running daemon picks it up on its next request (no restart).
 */
export async function addProvider(
  name: string,
  options: { type: string; baseUrl?: string; models?: string },
): Promise<number> {
  if (name === "lmx") {
    throw new UsageError("lmx is built in; point it at a server with `opta config set lmx.host HOST:PORT`");
  }
  if (!isValidProviderName(name)) {
    throw new UsageError(`'${name}' is not a provider name (letters, digits, '.', '_' and '-')`);
  }
  if (!TYPES.includes(options.type as ProviderType)) {
    throw new UsageError(`--type must be one of ${TYPES.join(", ")}, got '${options.type}'`);
  }
  const type = options.type as ProviderType;
  if (type === "openai-compatible" && !options.baseUrl) {
    throw new UsageError("--base-url is required for an openai-compatible provider (e.g. http://127.0.0.1:11434/v1)");
  }
  const baseUrl = options.baseUrl ? normaliseBaseUrl(options.baseUrl) : undefined;
  const models = options.models
    ?.split(",")
    .map((model) => model.trim())
    .filter(Boolean);

  const path = optaPaths(optaHome()).config;
  const config = await loadConfig(path);
  const entry: ProviderConfig = { type, ...(baseUrl ? { baseUrl } : {}), ...(models?.length ? { models } : {}) };
  const replaced = Boolean(config.providers?.[name]);
  await saveConfig(path, { ...config, providers: { ...config.providers, [name]: entry } });
  print(
    `${replaced ? "Replaced" : "Added"} provider ${name}: ${type}${baseUrl ? ` at ${baseUrl}` : ""}${models?.length ? ` · models ${models.map((model) => `${name}/${model}`).join(", ")}` : ""}`,
  );
  if (type !== "openai-compatible") {
    const vault = await openVault({ home: optaHome() });
    if (!(await vault.get(name))) notice(`Store its API key with \`opta account add ${name}\``);
  }
  return 0;
}

/** `host:port` or a URL → an http(s) URL; a bare origin gets `/v1`, the path every OpenAI-style API uses. */
function normaliseBaseUrl(value: string): string {
  const withScheme = /^https?:\/\//i.test(value.trim()) ? value.trim() : `http://${value.trim()}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--base-url '${value}' is not a URL`);
  }
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/v1";
  return url.toString().replace(/\/+$/, "");
}
