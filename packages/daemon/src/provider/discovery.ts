import { isIP } from "node:net";

/** The DNS-SD service type LMX advertises: `_opta-lmx._tcp`. */
export const LMX_SERVICE_TYPE = "opta-lmx";

/** An LMX server that answered an mDNS browse. */
export interface DiscoveredLmx {
  /** Service instance name. */
  name: string;
  /** Base URL of its OpenAI-compatible API (`http://<host>:1234/v1`). */
  baseUrl: string;
  /** The address the answer came from. */
  address: string;
  port: number;
  /** Whether it wants an API key (TXT `auth=key`). */
  auth: boolean;
  version?: string;
}

/** Browses mDNS for LMX servers; replaced in tests. */
export type LmxBrowser = (options: { timeoutMs: number; interface?: string }) => Promise<DiscoveredLmx[]>;

/**
 * Browses for `_opta-lmx._tcp` for `timeoutMs`. `interface` (an address such as `127.0.0.1`)
 * keeps the multicast on one interface; tests use loopback so nothing leaves the machine.
 */
export const browseLmx: LmxBrowser = async (options) => {
  // Loaded on demand: most daemons never browse.
  const { Bonjour } = await import("bonjour-service");
  // Listen on every address (multicast is not delivered to a socket bound to one unicast address)
  // but send only through the chosen interface.
  const config: Record<string, unknown> = options.interface ? { interface: options.interface, bind: "0.0.0.0" } : {};
  const bonjour = new Bonjour(config, () => {});
  const found = new Map<string, DiscoveredLmx>();
  const browser = bonjour.find({ type: LMX_SERVICE_TYPE, protocol: "tcp" }, (service) => {
    const txt = (service.txt ?? {}) as Record<string, unknown>;
    const address = service.referer?.address ?? service.addresses?.[0];
    if (!address) return;
    const host = address.includes(":") ? `[${address}]` : address;
    const path = typeof txt.path === "string" && txt.path.startsWith("/") ? txt.path : "/v1";
    found.set(`${service.name}@${address}:${service.port}`, {
      name: service.name,
      baseUrl: `http://${host}:${service.port}${path}`,
      address,
      port: service.port,
      auth: txt.auth === "key",
      ...(typeof txt.version === "string" ? { version: txt.version } : {}),
    });
  });
  await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
  browser.stop();
  await new Promise<void>((resolve) => bonjour.destroy(() => resolve()));
  return [...found.values()];
};

/**
 * Picks the LMX to use among those that answered: one we can authenticate to (no key needed, or
 * we hold one), on the nearest address (this machine, then a private IPv4 network, then any other
 * routable address; IPv6 link-local needs a zone id a URL cannot carry, so it is never chosen), then
 * by name so the choice is stable between browses.
 */
export function chooseLmx(found: readonly DiscoveredLmx[], options: { haveKey: boolean }): DiscoveredLmx | undefined {
  const usable = found.filter((entry) => addressRank(entry.address) < Number.POSITIVE_INFINITY);
  const score = (entry: DiscoveredLmx) => (entry.auth && !options.haveKey ? 10 : 0) + addressRank(entry.address);
  return [...usable].sort(
    (a, b) => score(a) - score(b) || a.name.localeCompare(b.name) || a.address.localeCompare(b.address),
  )[0];
}

/** 0 loopback, 1 private IPv4, 2 other IPv4, 3 routable IPv6, ∞ link-local or not an address. */
function addressRank(address: string): number {
  const family = isIP(address);
  if (family === 4) {
    const [a = 0, b = 0] = address.split(".").map(Number);
    if (a === 127) return 0;
    if (a === 169 && b === 254) return Number.POSITIVE_INFINITY;
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 1;
    return 2;
  }
  if (family === 6) {
    const lower = address.toLowerCase();
    if (lower === "::1") return 0;
    if (/^fe[89ab]/.test(lower)) return Number.POSITIVE_INFINITY;
    return 3;
  }
  return Number.POSITIVE_INFINITY;
}
