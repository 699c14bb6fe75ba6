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
        response.setHeader("x-content-type-options", "nosniff");
      },
    }),
  );
  app.get(/^\/(?!v3\/).*/, (_request, response) => {
    response.setHeader("cache-control", "no-cache");
    response.sendFile(index);
  });
}
