import { resolve } from "node:path";
import { DEFAULT_DOMAIN, DEFAULT_PORT } from "./defaults.js";
import { PlatformError } from "./errors.js";
import { validateDomain } from "./sites/registry.js";

/** The flags this process takes, checked. */
export function parseArgs(args: string[]): { port: number; domain: string; data?: string } {
  const flags: Record<string, string> = {};
  for (let index = 0; index < args.length; index += 1) {
    const name = args[index]!;
    if (!["--port", "--domain", "--data"].includes(name)) {
      throw new PlatformError("PLATFORM_USAGE", `unknown argument '${name}' (takes --port, --domain, --data)`);
    }
    const value = args[index + 1];
    if (value === undefined) throw new PlatformError("PLATFORM_USAGE", `${name} needs a value`);
    flags[name.slice(2)] = value;
    index += 1;
  }
  const port = flags.port === undefined ? DEFAULT_PORT : Number(flags.port);
  if (!/^\d+$/.test(flags.port ?? "0") || !Number.isInteger(port) || port > 65_535) {
    throw new PlatformError("PLATFORM_USAGE", `--port must be a port number from 0 to 65535, not '${flags.port}'`);
  }
  const domain = validateDomain(flags.domain ?? DEFAULT_DOMAIN);
  if (!domain) {
    throw new PlatformError(
      "PLATFORM_USAGE",
      `--domain must be a DNS name of two labels or more (like ${DEFAULT_DOMAIN}), not '${flags.domain}': ` +
        "the sign-in cookie is set on it, and browsers refuse one on a single label",
    );
  }
  return { port, domain, ...(flags.data !== undefined ? { data: resolve(flags.data) } : {}) };
}
