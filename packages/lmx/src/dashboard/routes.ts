import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { loadModel, unloadModel } from "../models/routes.js";
import { type LmxApp, type RequestScope, STREAMED } from "../server/context.js";
import { DashboardSampler, type DashboardSnapshot } from "./snapshot.js";

/**
 * The static files sit in src/dashboard/static and are shipped as they are (package.json `files`):
 * from src/dashboard/*.ts (tests) and from dist/dashboard/*.js (the package) the same relative
 * path reaches them, and nothing needs copying at build time.
 */
const STATIC_DIR = new URL("../../src/dashboard/static/", import.meta.url);

/** The only files served, by request path: nothing else under the folder is reachable. */
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/dashboard": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
  "/dashboard/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/dashboard/icon.svg": { file: "icon.svg", type: "image/svg+xml" },
};

/** Request paths of the dashboard's static files. */
export const DASHBOARD_FILES = Object.keys(STATIC_FILES);

/**
 * No inline script or style, nothing from elsewhere, no framing (the load buttons cannot be
 * clickjacked), and connections only back to LMX.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers on every dashboard response. */
const PAGE_HEADERS = {
  "Content-Security-Policy": DASHBOARD_CSP,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-cache",
};

/** How often the feed samples while someone watches. */
const FEED_INTERVAL_MS = 1000;

const fileCache = new Map<string, Promise<Buffer>>();

/** `GET /dashboard` and its files. Open (no key): they hold no data; everything with data is behind the key. */
export async function serveDashboardFile(path: string, scope: RequestScope): Promise<typeof STREAMED> {
  const entry = STATIC_FILES[path]!;
  let body = fileCache.get(entry.file);
  if (!body) {
    body = readFile(new URL(entry.file, STATIC_DIR));
    fileCache.set(entry.file, body);
    body.catch(() => fileCache.delete(entry.file));
  }
  const bytes = await body;
  scope.response.writeHead(200, { ...PAGE_HEADERS, "Content-Type": entry.type, "Content-Length": bytes.length });
  scope.response.end(bytes);
  return STREAMED;
}

/**
 * One sampling loop per server, whoever watches: it runs only while a stream is open, and every
 * open stream gets the same snapshots (rates need one previous sample, not one per tab).
 */
class DashboardFeed {
  private readonly listeners = new Set<(snapshot: DashboardSnapshot) => void>();
  private readonly sampler: DashboardSampler;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<DashboardSnapshot> | undefined;
  private latest: DashboardSnapshot | undefined;

  constructor(app: LmxApp) {
    this.sampler = new DashboardSampler(app, app.registry.directory);
  }

  /** Takes a sample now and sends it to every listener (concurrent callers share one). */
  sample(): Promise<DashboardSnapshot> {
    this.sampling ??= this.sampler
      .sample()
      .then((snapshot) => {
        this.latest = snapshot;
        for (const listener of this.listeners) listener(snapshot);
        return snapshot;
      })
      .finally(() => {
        this.sampling = undefined;
      });
    return this.sampling;
  }

  subscribe(listener: (snapshot: DashboardSnapshot) => void): () => void {
    this.listeners.add(listener);
    if (this.latest) listener(this.latest);
    else void this.sample().catch(() => undefined);
    this.timer ??= setInterval(() => void this.sample().catch(() => undefined), FEED_INTERVAL_MS);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
        this.latest = undefined;
      }
    };
  }
}

const feeds = new WeakMap<LmxApp, DashboardFeed>();

function feedOf(app: LmxApp): DashboardFeed {
  let feed = feeds.get(app);
  if (!feed) {
    feed = new DashboardFeed(app);
    feeds.set(app, feed);
  }
  return feed;
}

/** `GET /dashboard/api/state`: one snapshot (what the stream sends, for scripts and first paint). */
export function dashboardState(app: LmxApp): Promise<DashboardSnapshot> {
  return feedOf(app).sample();
}

function writeEvent(response: ServerResponse, name: string, data: unknown): void {
  if (!response.writableEnded) response.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * `GET /dashboard/api/events`: server-sent events, a `snapshot` event at once and then every
 * second. The page reads it with fetch() rather than EventSource, which cannot send the
 * Authorization header: the key never has to travel in the URL.
 */
export async function dashboardEvents(app: LmxApp, scope: RequestScope): Promise<typeof STREAMED> {
  const { response } = scope;
  response.writeHead(200, {
    ...PAGE_HEADERS,
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no",
  });
  response.write(": opta lmx dashboard feed\n\n");
  const unsubscribe = feedOf(app).subscribe((snapshot) => writeEvent(response, "snapshot", snapshot));
  response.once("close", unsubscribe);
  return STREAMED;
}

/** `POST /dashboard/api/models/load`: as `/api/v1/models/load`, then a fresh snapshot to every watcher. */
export async function dashboardLoad(app: LmxApp, body: unknown): Promise<unknown> {
  const feed = feedOf(app);
  try {
    return await loadModel(app, body);
  } finally {
    void feed.sample().catch(() => undefined);
  }
}

/** `POST /dashboard/api/models/unload`. */
export async function dashboardUnload(app: LmxApp, body: unknown): Promise<unknown> {
  const feed = feedOf(app);
  try {
    return await unloadModel(app, body);
  } finally {
    void feed.sample().catch(() => undefined);
  }
}
