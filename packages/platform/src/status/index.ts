import type { PlatformAuth } from "../auth/auth.js";
import type { Database } from "../db/database.js";
import { PLATFORM_HOST } from "../defaults.js";
import type { Logger } from "../log.js";
import { SITES, siteHost } from "../sites/registry.js";
import type { BuiltinComponent } from "./components.js";
import { StatusMonitor } from "./monitor.js";
import { httpProbe, type Probe } from "./probe.js";
import { type Clock, STATUS_DEFAULTS, type StatusSettings, systemClock } from "./settings.js";
import { SummaryCache } from "./summary.js";

/** How `startPlatform` runs the status checks; tests pass a clock and drive `tick()` themselves. */
export interface StatusOptions {
  settings?: Partial<StatusSettings>;
  clock?: Clock;
  probe?: Probe;
  /** Run the checks on a timer (default true); false leaves them to `tick()`. */
  timer?: boolean;
}

/** The platform's status checks and the summary the status site serves. */
export interface PlatformStatus {
  monitor: StatusMonitor;
  cache: SummaryCache;
  settings: StatusSettings;
  clock: Clock;
}

/**
 * The components the platform checks by itself, all on its own loopback port (the Host header
 * picks the site): the server (home's /api/health), the accounts API (better-auth's /ok), each site.
 */
export function builtinComponents(domain: string, port: number): BuiltinComponent[] {
  const url = (path: string) => `http://${PLATFORM_HOST}:${port}${path}`;
  const host = (name: (typeof SITES)[number]["name"]) => `${siteHost(name, domain)}:${port}`;
  return [
    {
      id: "platform",
      kind: "platform",
      name: "Platform server",
      checkUrl: url("/api/health"),
      checkHost: host("home"),
      position: 0,
    },
    {
      id: "accounts-api",
      kind: "accounts",
      name: "Accounts API",
      checkUrl: url("/api/auth/ok"),
      checkHost: host("accounts"),
      position: 1,
    },
    ...SITES.map((site, index) => ({
      id: `site-${site.name}`,
      kind: "site" as const,
      name: `${site.name === "home" ? domain : siteHost(site.name, domain)} (site)`,
      checkUrl: url("/index.html"),
      checkHost: host(site.name),
      position: 10 + index,
    })),
  ];
}

/** Sets up the checks (built-in components written, timer started unless told not to). */
export async function startStatus(
  options: StatusOptions | undefined,
  context: { database: Database; logger: Logger; domain: string; port: number; auth: PlatformAuth },
): Promise<PlatformStatus> {
  const settings = { ...STATUS_DEFAULTS, ...options?.settings };
  const clock = options?.clock ?? systemClock;
  const monitor = new StatusMonitor({
    database: context.database,
    logger: context.logger,
    clock,
    probe: options?.probe ?? httpProbe,
    settings,
    builtins: builtinComponents(context.domain, context.port),
  });
  await monitor.prepare();
  if (options?.timer !== false) monitor.start();
  return { monitor, cache: new SummaryCache(context.database, settings, clock), settings, clock };
}
