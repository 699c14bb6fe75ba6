import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** packages/platform/templates/ (this file sits at the same depth in src/ and dist/). */
const TEMPLATES = fileURLToPath(new URL("../../templates/", import.meta.url));

/** What may be baked into a script: scheme, host name and port, nothing a shell or PowerShell would read as code. */
const SAFE_ORIGIN = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i;

const cache = new Map<string, string>();

/**
 * install.sh or install.ps1 with `origin` in place of `@OPTA_INIT_ORIGIN@`. The origin comes from
 * the platform's own settings, never from a request header, so a client cannot make the script
 * it is served download from elsewhere.
 */
export async function installScript(kind: "sh" | "ps1", origin: string): Promise<string> {
  if (!SAFE_ORIGIN.test(origin)) throw new Error(`refusing to bake the origin '${origin}' into install.${kind}`);
  const key = `${kind} ${origin}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const template = await readFile(`${TEMPLATES}install.${kind}`, "utf8");
  const script = template.replaceAll("@OPTA_INIT_ORIGIN@", origin);
  cache.set(key, script);
  return script;
}

/**
 * The release folder of this checkout (`release/` at its root, as `npm run release` writes it), or
 * undefined outside a checkout (an installed @opta/platform has no repository around it).
 */
export function defaultReleaseDir(): string | undefined {
  const root = new URL("../../../../", import.meta.url);
  if (!existsSync(fileURLToPath(new URL("apps/sites/", root)))) return undefined;
  return fileURLToPath(new URL("release/", root));
}
