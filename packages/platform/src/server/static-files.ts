import { readFile, realpath, stat } from "node:fs/promises";
import { extname, join, sep } from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".sh": "text/x-shellscript; charset=utf-8",
};

/** A file found for a request path. */
export interface StaticFile {
  body: Buffer;
  contentType: string;
}

/**
 * The file under `root` that a URL path names (`/` and `/dir/` name their index.html), or
 * undefined. The resolved real path must stay inside the real root, so `..`, encoded `..` and a
 * symlink out of the folder all miss: one site's request can never read another site's files.
 */
export async function findStaticFile(root: string, urlPath: string): Promise<StaticFile | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const segments = decoded.split("/").filter((segment) => segment !== "");
  if (segments.some((segment) => segment === ".." || segment === ".")) return undefined;
  if (decoded.endsWith("/") || segments.length === 0) segments.push("index.html");
  let realRoot: string;
  let realFile: string;
  try {
    realRoot = await realpath(root);
    realFile = await realpath(join(realRoot, ...segments));
  } catch {
    return undefined;
  }
  if (!realFile.startsWith(realRoot + sep)) return undefined;
  try {
    if (!(await stat(realFile)).isFile()) return undefined;
    const body = await readFile(realFile);
    return { body, contentType: CONTENT_TYPES[extname(realFile).toLowerCase()] ?? "application/octet-stream" };
  } catch {
    return undefined;
  }
}
