/**
 * A single-page app's entry points: each listed path answers the site's index.html, so a reload
 * or a link to `/sign-in` works; the app picks the view from the path. Other paths are still the
 * site's files (assets) or 404.
 */
import type { Hono } from "hono";
import { findStaticFile } from "./static-files.js";

export function mountAppPages(app: Hono, root: string, paths: readonly string[]): void {
  for (const path of paths) {
    app.get(path, async (c) => {
      const file = await findStaticFile(root, "/index.html");
      if (!file) return c.text("Not found", 404);
      return c.body(new Uint8Array(file.body), 200, {
        "Content-Type": file.contentType,
        // The page reads the session itself; an old copy must not hide a sign-out.
        "Cache-Control": "no-store",
      });
    });
  }
}
