/**
 * init.<domain>'s server side: `install.sh` and `install.ps1`, generated with this platform's init
 * origin baked in, and the release they install (`/packages/manifest.json` and the tarballs that
 * scripts/pack-release.mjs wrote into the release folder).
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Hono } from "hono";
import { installScript } from "./scripts.js";

/** Options of `mountInitRoutes`. */
export interface InitRoutesOptions {
  /** init's own origin (`http://init.<domain>:<port>`): where the scripts download from. */
  origin: string;
  /** The release folder (manifest.json and the tarballs), or undefined when this platform serves none. */
  releaseDir: string | undefined;
}

/** A file name the release may hold: no path, no dot file. */
const RELEASE_FILE = /^[a-z0-9][a-z0-9._-]*\.(tgz|json)$/;

const NO_RELEASE =
  "this platform serves no Opta packages yet: on its machine run 'npm run release' in the Opta repository (or start it with OPTA_RELEASE_DIR set to a release folder)";

/** Adds init's routes: the two install scripts and the release's files. */
export function mountInitRoutes(app: Hono, options: InitRoutesOptions): void {
  app.get("/install.sh", async (c) =>
    c.body(await installScript("sh", options.origin), 200, {
      "Content-Type": "text/x-shellscript; charset=utf-8",
      "Cache-Control": "no-cache",
    }),
  );
  app.get("/install.ps1", async (c) =>
    c.body(await installScript("ps1", options.origin), 200, {
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-cache",
    }),
  );
  app.get("/packages/:file", async (c) => {
    const name = c.req.param("file");
    if (!RELEASE_FILE.test(name)) return c.json(errorBody("not_found", `no such file in the release: ${name}`), 404);
    if (!options.releaseDir) return c.json(errorBody("release_not_built", NO_RELEASE), 404);
    const path = join(options.releaseDir, name);
    const found = await stat(path).catch(() => undefined);
    if (!found?.isFile()) {
      return name === "manifest.json"
        ? c.json(errorBody("release_not_built", NO_RELEASE), 404)
        : c.json(errorBody("not_found", `no such file in the release: ${name}`), 404);
    }
    const body = await readFile(path);
    return c.body(new Uint8Array(body), 200, {
      "Content-Type": name.endsWith(".json") ? "application/json; charset=utf-8" : "application/gzip",
      // A rebuilt release keeps its file names (name-version.tgz), so nothing here may be cached for long.
      "Cache-Control": "no-cache",
    });
  });
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}
