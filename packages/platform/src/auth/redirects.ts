/**
 * No open redirects: every URL a request to the auth API asks to be sent back to must be a path on
 * the same site or an origin of this domain's sites. better-auth 1.7.25 was seen to hand back a
 * `callbackURL` of another origin from `/sign-in/email`, so the platform checks it itself.
 */

/** The request fields that name where a browser goes next. */
const REDIRECT_FIELDS = ["callbackURL", "redirectTo", "errorCallbackURL", "newUserCallbackURL", "redirect"];

/** Whether `value` is a same-site path or a URL on one of `trusted` origins. */
export function isAllowedRedirect(value: string, trusted: readonly string[]): boolean {
  // A path, but not `//host` or `/\\host`, which browsers read as another host.
  if (/^\/(?![/\\])/.test(value)) return !/[\r\n\t]/.test(value);
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && trusted.includes(url.origin);
  } catch {
    return false;
  }
}

/** The first redirect target in the query or JSON body that is not allowed, or undefined. */
export async function offSiteRedirect(request: Request, trusted: readonly string[]): Promise<string | undefined> {
  const values: unknown[] = [];
  const query = new URL(request.url).searchParams;
  for (const field of REDIRECT_FIELDS) values.push(...query.getAll(field));
  if (request.method !== "GET" && (request.headers.get("content-type") ?? "").includes("json")) {
    try {
      const body = (await request.clone().json()) as Record<string, unknown> | null;
      if (body && typeof body === "object") for (const field of REDIRECT_FIELDS) values.push(body[field]);
    } catch {
      // not JSON after all: better-auth answers that itself
    }
  }
  for (const value of values) {
    if (value === undefined || value === null || value === "") continue;
    if (typeof value !== "string" || !isAllowedRedirect(value, trusted)) return String(value);
  }
  return undefined;
}
