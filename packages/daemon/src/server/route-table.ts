import type express from "express";

/** One route the HTTP app answers. */
export interface RouteEntry {
  /** Upper-case HTTP method. */
  method: string;
  /** Express path pattern with its mount prefix, e.g. `/v3/sessions/:id`. */
  path: string;
}

/** Express 5 (router 2.x) layer: a route, or a mounted router with its own stack. */
interface Layer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/**
 * The routes an Express app really answers, read from its router stack (mounted routers
 * included). Docs and clients are checked against this, so they describe what the server serves
 * rather than a list kept by hand next to it.
 */
export function routeTable(app: express.Express): RouteEntry[] {
  const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
  return walk(stack, "");
}

function walk(stack: Layer[], prefix: string): RouteEntry[] {
  const entries: RouteEntry[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const path of paths(layer.route.path)) {
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== "_all") entries.push({ method: method.toUpperCase(), path: `${prefix}${path}` });
        }
      }
    } else if (Array.isArray(layer.handle?.stack)) {
      // A mounted router: its mount path is the layer's own (string) path.
      for (const mount of paths(layer.rawPath)) {
        entries.push(...walk(layer.handle.stack, `${prefix}${mount === "/" ? "" : mount}`));
      }
    }
  }
  return entries;
}

/** Only string patterns name a documentable route (a RegExp is the static-file fallback). */
function paths(path: unknown): string[] {
  const all = Array.isArray(path) ? path : [path];
  return all.filter((entry): entry is string => typeof entry === "string");
}
