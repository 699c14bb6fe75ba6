import { hostname } from "node:os";
import { Bonjour, type Service } from "bonjour-service";

/** The DNS-SD service type: `_opta-lmx._tcp`. */
export const LMX_SERVICE_TYPE = "opta-lmx";

/** Options shared by advertising and browsing. */
export type MdnsOptions = {
  /**
   * The interface address to multicast on (e.g. `127.0.0.1` to stay on this machine, as tests do).
   * Default: the OS's default multicast interface.
   */
  interface?: string;
};

/** A running advertisement. */
export type Advertisement = { stop(): Promise<void> };

/**
 * Publishes `_opta-lmx._tcp` with TXT `path=/v1`, `version` and `auth` (`key` or `none`) so a
 * daemon on the network can find this server. Opt-in (`--advertise`).
 */
export function advertiseLmx(
  options: MdnsOptions & { port: number; version: string; auth: boolean; name?: string },
): Advertisement {
  const bonjour = new Bonjour(mdnsConfig(options), () => {});
  bonjour.publish({
    name: options.name ?? `Opta LMX on ${hostname()} (${options.port})`,
    type: LMX_SERVICE_TYPE,
    protocol: "tcp",
    port: options.port,
    txt: { path: "/v1", version: options.version, auth: options.auth ? "key" : "none" },
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        bonjour.unpublishAll(() => bonjour.destroy(() => resolve()));
      }),
  };
}

/** An LMX server found by mDNS. */
export type DiscoveredLmx = {
  /** Service instance name. */
  name: string;
  /** Base URL of the OpenAI-compatible API, e.g. `http://<host>:1234/v1`. */
  baseUrl: string;
  /** The address the answer came from (reachable by construction). */
  address: string;
  /** Port. */
  port: number;
  /** Whether the server wants an API key. */
  auth: boolean;
  /** LMX version. */
  version: string | undefined;
};

/** Browses for `_opta-lmx._tcp` for `timeoutMs` (default 1500) and returns what answered. */
export async function discoverLmx(options: MdnsOptions & { timeoutMs?: number } = {}): Promise<DiscoveredLmx[]> {
  const bonjour = new Bonjour(mdnsConfig(options), () => {});
  const found = new Map<string, DiscoveredLmx>();
  const browser = bonjour.find({ type: LMX_SERVICE_TYPE, protocol: "tcp" }, (service: Service) => {
    const txt = (service.txt ?? {}) as Record<string, string>;
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
      version: typeof txt.version === "string" ? txt.version : undefined,
    });
  });
  await new Promise((resolve) => setTimeout(resolve, options.timeoutMs ?? 1500));
  browser.stop();
  await new Promise<void>((resolve) => bonjour.destroy(() => resolve()));
  return [...found.values()];
}

function mdnsConfig(options: MdnsOptions): Record<string, unknown> {
  // Listen on every address (multicast to 224.0.0.251 is not delivered to a socket bound to one
  // unicast address) but send only through the chosen interface.
  return options.interface ? { interface: options.interface, bind: "0.0.0.0" } : {};
}
