/** Where the default LMX lives when nothing else is configured. */
export const DEFAULT_LMX_HOST = "127.0.0.1:1234";

/** API base URLs of the cloud providers, used when the config names none. */
export const DEFAULT_BASE_URLS = {
  anthropic: "https://api.anthropic.com/v1",
  openai: "https://api.openai.com/v1",
} as const;

/** Turns `host:port`, `http://host:port` or `http://host:port/v1` into a base URL ending in `/v1`. */
export function lmxBaseUrl(host: string): string {
  const trimmed = host.trim().replace(/\/+$/, "");
  const withScheme = /^https?:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  const url = new URL(withScheme);
  if (url.pathname === "" || url.pathname === "/") url.pathname = "/v1";
  return url.toString().replace(/\/+$/, "");
}
