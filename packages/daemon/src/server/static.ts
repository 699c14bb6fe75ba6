import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import express, { type Express } from "express";

/** Where the built Code Desktop app is: `OPTA_DESKTOP_DIST`, else apps/desktop/dist of this checkout. */
export function desktopDistDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.OPTA_DESKTOP_DIST) return env.OPTA_DESKTOP_DIST;
  try {
    const pkg = createRequire(import.meta.url).resolve("@opta/desktop/package.json");
    return join(dirname(pkg), "dist");
  } catch {
    return undefined;
  }
}

/**
 * Content-Security-Policy for the app: its own scripts and styles only, network only to this origin
 * (fetch and WebSocket), no framing (the approve buttons must not be clickjackable), no plugins, no
 * form posts elsewhere. Model output is rendered as React text, and this stops it anyway if not.
 */
export const DESKTOP_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join("; ");

/** Headers every Code Desktop response carries. */
function setSecurityHeaders(response: { setHeader(name: string, value: string): unknown }): void {
  response.setHeader("content-security-policy", DESKTOP_CSP);
  response.setHeader("x-content-type-options", "nosniff");
  response.setHeader("x-frame-options", "DENY");
  response.setHeader("referrer-policy", "no-referrer");
  response.setHeader("cross-origin-opener-policy", "same-origin");
}

/**
 * Serves Code Desktop at `/`. The files are public (they hold no secret; the token arrives in the URL
 * fragment, which browsers never send); every API call the app makes still needs the token. Unknown
 * non-API paths get index.html so client-side routes survive a reload.
 */
export function mountDesktopApp(app: Express, env: NodeJS.ProcessEnv = process.env): void {
  const dist = desktopDistDir(env);
  const index = dist ? join(dist, "index.html") : undefined;
  if (!dist || !index || !existsSync(index)) {
    app.get("/", (_request, response) => {
      response
        .status(503)
        .type("text/plain")
        .send("Code Desktop is not built. Run 'npm run build' in the Opta repository, then 'opta app'.\n");
    });
    return;
  }
  app.use(
    express.static(dist, {
      index: "index.html",
      fallthrough: true,
      setHeaders(response, path) {
        // Hashed assets never change; index.html must be revalidated so a new build is picked up.
        response.setHeader(
          "cache-control",
          path.endsWith(".html") ? "no-cache" : "public, max-age=31536000, immutable",
        );
        setSecurityHeaders(response);
      },
    }),
  );
  app.get(/^\/(?!v3\/).*/, (_request, response) => {
    response.setHeader("cache-control", "no-cache");
    setSecurityHeaders(response);
    response.sendFile(index);
  });
}
