import { SITES, type SiteName, siteHost } from "../sites/registry.js";

/** Where the sites are reached from a browser: scheme, domain and port of their origins. */
export interface PublicAddress {
  scheme: "http" | "https";
  domain: string;
  /** The port browsers use; omitted from origins when it is the scheme's default. */
  port: number;
}

/** The origin (scheme://host[:port]) of one site as a browser sees it. */
export function siteOrigin(address: PublicAddress, host: string): string {
  const defaultPort = address.scheme === "https" ? 443 : 80;
  return `${address.scheme}://${host}${address.port === defaultPort ? "" : `:${address.port}`}`;
}

/** Every site's origin: the only origins allowed to make state-changing requests. */
export function siteOrigins(address: PublicAddress): string[] {
  return SITES.map((site) => siteOrigin(address, siteHost(site.name, address.domain)));
}

/**
 * Whether a state-changing request may go on. A browser sends Origin with every POST, PUT, PATCH
 * and DELETE, so one from a page of another origin (or an opaque "null" one) is refused here for
 * every site, before any route runs; a request without Origin comes from a program, not from a
 * page a user was lured to, and passes on to the route's own checks (bearer token, cookies).
 */
export function originAllowed(method: string, origin: string | undefined, trusted: readonly string[]): boolean {
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return true;
  if (origin === undefined) return true;
  return trusted.includes(origin.toLowerCase());
}

/**
 * The Content-Security-Policy of one site. Everything is denied by default and each site may load
 * only its own files: no inline script or style, no eval, no framing, forms post only to itself.
 * Sites other than accounts may also call the accounts origin, where single sign-on reads the
 * session (the one cross-origin call the platform design has).
 */
export function contentSecurityPolicy(site: SiteName, accountsOrigin: string): string {
  const connect = site === "accounts" ? "'self'" : `'self' ${accountsOrigin}`;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connect}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join("; ");
}

/** The headers every response of a site carries, CSP first. */
export function securityHeaders(site: SiteName, accountsOrigin: string): Record<string, string> {
  return {
    "Content-Security-Policy": contentSecurityPolicy(site, accountsOrigin),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-site",
  };
}
