import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SiteName } from "./registry.js";

/**
 * Where the sites' files are: the package's own sites/ when it was installed from a release tarball
 * (scripts/pack-release.mjs puts each site's served folder there, as `sites/<site>/public`), else
 * apps/sites/ of this checkout. This file sits at the same depth in src/ and dist/
 * (packages/platform/{src,dist}/sites/), so the same relative paths serve both.
 */
export function defaultSitesRoot(): string {
  const packaged = fileURLToPath(new URL("../../sites/", import.meta.url));
  if (existsSync(packaged)) return packaged;
  return fileURLToPath(new URL("../../../../apps/sites/", import.meta.url));
}

/**
 * The folder a site's files are served from: its build output `apps/sites/<site>/dist/` once the
 * site has a build, else its checked-in `public/` (today's placeholder pages).
 */
export function siteAssetDir(sitesRoot: string, site: SiteName): string {
  const built = join(sitesRoot, site, "dist");
  return existsSync(join(built, "index.html")) ? built : join(sitesRoot, site, "public");
}
