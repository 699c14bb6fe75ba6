import { getConfigValue, loadConfig, optaPaths, saveConfig, setConfigValue, unsetConfigValue } from "@opta/local";
import { CONFIG_DEFAULTS, OptaConfig } from "@opta/protocol";
import YAML from "yaml";
import { optaHome } from "../connection.js";
import { CliError } from "../output/errors.js";
import { dim, notice, print } from "../output/terminal.js";

const configPath = () => optaPaths(optaHome()).config;

/** `opta config get <key>`: strings print raw, objects as YAML; exit 1 when unset. */
export async function get(key: string): Promise<number> {
  const value = getConfigValue(await loadConfig(configPath()), key);
  if (value === undefined) throw new CliError(`'${key}' is not set (see \`opta config list\`)`);
  print(formatValue(value));
  return 0;
}

/** `opta config set <key> <value>`: the value is coerced to the type the key needs. */
export async function set(key: string, value: string): Promise<number> {
  const path = configPath();
  const next = setConfigValue(await loadConfig(path), key, value);
  await saveConfig(path, next);
  print(`${key} = ${formatValue(getConfigValue(next, key))}`);
  const top = key.split(".")[0]!;
  if (!(top in OptaConfig.shape)) {
    // Kept (a newer Opta may know it), but most likely a typo: say so.
    notice(
      dim(
        `note: '${top}' is not a key this version of Opta reads (known: ${Object.keys(OptaConfig.shape).join(", ")})`,
        process.stderr,
      ),
    );
  }
  return 0;
}

/** `opta config unset <key>`. */
export async function unset(key: string): Promise<number> {
  const path = configPath();
  await saveConfig(path, unsetConfigValue(await loadConfig(path), key));
  return 0;
}

/** `opta config list [--json]`: every key set in config.yaml plus defaults (marked). */
export async function list(options: { json?: boolean }): Promise<number> {
  const config = await loadConfig(configPath());
  const effective = { ...CONFIG_DEFAULTS, ...config };
  if (options.json) {
    print(JSON.stringify(effective, null, 2));
    return 0;
  }
  for (const [key, value] of flatten(effective)) {
    const isDefault = !(key in config) && key in CONFIG_DEFAULTS;
    print(`${key} = ${formatValue(value)}${isDefault ? dim(" (default)") : ""}`);
  }
  print(dim(`# ${configPath()}`));
  return 0;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) return YAML.stringify(value).trimEnd();
  return String(value);
}

/** `{lmx: {host: x}}` → `[["lmx.host", x]]`; arrays stay whole. */
function flatten(value: Record<string, unknown>, prefix = ""): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof child === "object" && child !== null && !Array.isArray(child) && Object.keys(child).length > 0) {
      out.push(...flatten(child as Record<string, unknown>, path));
    } else out.push([path, child]);
  }
  return out;
}
