import { readFile } from "node:fs/promises";
import { CONFIG_DEFAULTS, OptaConfig } from "@opta/protocol";
import YAML from "yaml";
import { writeFileAtomic } from "./atomic-file.js";

/** A config file that exists but cannot be used; the message names the file and the bad key. */
export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Reads and validates config.yaml; a missing file is an empty config. */
export async function loadConfig(path: string): Promise<OptaConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  return parseConfig(text, path);
}

/** Parses config YAML text, with errors that say which key is wrong and how to fix it. */
export function parseConfig(text: string, path: string): OptaConfig {
  let raw: unknown;
  try {
    raw = YAML.parse(text) ?? {};
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${(error as Error).message}`, path);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${path} must be a YAML mapping of keys to values`, path);
  }
  const parsed = OptaConfig.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join(".") || "(root)";
    throw new ConfigError(`${path}: '${key}' ${issue.message}. Fix it with 'opta config set ${key} <value>'`, path);
  }
  return parsed.data;
}

/** Writes config.yaml atomically (temp file + rename) so a crash never leaves half a file. */
export async function saveConfig(path: string, config: OptaConfig): Promise<void> {
  OptaConfig.parse(config);
  await writeFileAtomic(path, YAML.stringify(config));
}

/** Reads a dotted key (`lmx.host`) from a config object. */
export function getConfigValue(config: OptaConfig, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  if (node === undefined && key in CONFIG_DEFAULTS) return CONFIG_DEFAULTS[key as keyof typeof CONFIG_DEFAULTS];
  return node;
}

/**
 * Sets a dotted key, coercing the string a user typed into the type the schema wants
 * (`true` → boolean, `20` → number), and validates the result before returning it.
 */
export function setConfigValue(config: OptaConfig, key: string, rawValue: string): OptaConfig {
  if (!/^[a-z0-9-]+(\.[a-z0-9_-]+)*$/i.test(key)) throw new ConfigError(`'${key}' is not a config key`, key);
  const next = structuredClone(config) as Record<string, unknown>;
  const parts = key.split(".");
  let node = next;
  for (const part of parts.slice(0, -1)) {
    const child = node[part];
    if (typeof child !== "object" || child === null || Array.isArray(child)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = coerce(rawValue);
  const parsed = OptaConfig.safeParse(next);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`cannot set '${key}' to '${rawValue}': ${issue.message}`, key);
  }
  return parsed.data;
}

/** Removes a dotted key. */
export function unsetConfigValue(config: OptaConfig, key: string): OptaConfig {
  const next = structuredClone(config) as Record<string, unknown>;
  const parts = key.split(".");
  let node: Record<string, unknown> | undefined = next;
  for (const part of parts.slice(0, -1)) {
    const child: unknown = node?.[part];
    node = typeof child === "object" && child !== null ? (child as Record<string, unknown>) : undefined;
  }
  if (node) delete node[parts.at(-1)!];
  return next as OptaConfig;
}

function coerce(value: string): unknown {
  if (value === "true") return true;
  if (value === "false") return false;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value.startsWith("[") || value.startsWith("{")) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}
