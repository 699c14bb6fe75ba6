/**
 * The eight sites of the platform, each on its own host under one domain. The registry is the one
 * place that says which sites exist: routing, CSP and asset lookup all read it.
 */
export const SITE_NAMES = ["home", "accounts", "admin", "status", "lmx", "init", "help", "learn"] as const;
/** A site's name; also its folder under apps/sites/. */
export type SiteName = (typeof SITE_NAMES)[number];

/** What the platform knows about one site. */
export interface Site {
  /** Its name (the subdomain label, except home, which is the bare domain). */
  name: SiteName;
  /** One line for logs and the placeholder pages. */
  title: string;
}

/** Every site, in the order the docs list them. */
export const SITES: readonly Site[] = [
  { name: "home", title: "Opta: what it is, the three apps" },
  { name: "accounts", title: "Opta accounts: sign in, devices, vault" },
  { name: "admin", title: "Opta admin" },
  { name: "status", title: "Opta status" },
  { name: "lmx", title: "Opta LMX dashboard" },
  { name: "init", title: "Install Opta" },
  { name: "help", title: "Opta help" },
  { name: "learn", title: "Learn Opta" },
];

/** The host a site answers on: the bare domain for home, `<name>.<domain>` for the others. */
export function siteHost(name: SiteName, domain: string): string {
  return name === "home" ? domain : `${name}.${domain}`;
}

/**
 * The site a Host header names, or undefined for any other host. Case and a `:port` suffix do not
 * matter (RFC 9110: host names are case-insensitive); anything else must match exactly, so a host
 * such as `evil.admin.<domain>` or `admin.<domain>.evil` names no site.
 */
export function siteForHost(hostHeader: string | undefined, domain: string): SiteName | undefined {
  if (!hostHeader) return undefined;
  let host = hostHeader.trim().toLowerCase();
  // An IPv6 literal ([::1]:3000) names no site; strip a port only after a host name.
  if (host.startsWith("[")) return undefined;
  const colon = host.lastIndexOf(":");
  if (colon !== -1) {
    const port = host.slice(colon + 1);
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) return undefined;
    host = host.slice(0, colon);
  }
  // A fully qualified name may end in a dot (opta.localhost.).
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (host === domain) return "home";
  const suffix = `.${domain}`;
  if (!host.endsWith(suffix)) return undefined;
  const label = host.slice(0, -suffix.length);
  return label !== "home" && (SITE_NAMES as readonly string[]).includes(label) ? (label as SiteName) : undefined;
}

/**
 * Checks a --domain value: a lower-case DNS name of at least two labels. One label is refused
 * because the single-sign-on cookie lives on the parent domain, and browsers refuse a cookie for a
 * single-label domain such as `localhost`.
 */
export function validateDomain(value: string): string | undefined {
  const domain = value.trim().toLowerCase();
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  const labels = domain.split(".");
  if (labels.length < 2 || !labels.every((part) => label.test(part)) || domain.length > 253) return undefined;
  return domain;
}
