import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** What one HTTP check is asked to do. */
export interface ProbeTarget {
  /** http(s) URL; the connection goes to its host and port. */
  url: string;
  /** A Host header to send instead of the URL's (the built-in checks reach sites on 127.0.0.1). */
  host?: string;
  timeoutMs: number;
  expectedStatus: number;
}

/** What one HTTP check saw. */
export interface ProbeResult {
  /** The answer came within the timeout with the expected status. */
  ok: boolean;
  httpStatus: number | null;
  latencyMs: number;
  /** Why it failed, in a few words (refused, timed out after 10000 ms, HTTP 503). */
  error: string | null;
}

/** Runs one check; never throws. */
export type Probe = (target: ProbeTarget) => Promise<ProbeResult>;

/**
 * One GET. Redirects are not followed (a registered host cannot bounce the checker to another
 * address), the body is read and dropped (only the status and the latency are kept: no answer of a
 * checked host reaches any user), and the whole exchange ends at the timeout.
 */
export const httpProbe: Probe = (target) =>
  new Promise((resolve) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let settled = false;
    const finish = (result: Omit<ProbeResult, "latencyMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ ...result, latencyMs: elapsed() });
    };
    const url = new URL(target.url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(
      url,
      {
        method: "GET",
        headers: { accept: "*/*", "user-agent": "opta-status-check", ...(target.host ? { host: target.host } : {}) },
        agent: false,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        response.on("end", () =>
          finish({
            ok: status === target.expectedStatus,
            httpStatus: status,
            error: status === target.expectedStatus ? null : `HTTP ${status}, expected ${target.expectedStatus}`,
          }),
        );
        response.on("error", (error) => finish({ ok: false, httpStatus: status, error: describe(error) }));
      },
    );
    const timer = setTimeout(
      () => finish({ ok: false, httpStatus: null, error: `no answer within ${target.timeoutMs} ms` }),
      target.timeoutMs,
    );
    request.on("error", (error) => finish({ ok: false, httpStatus: null, error: describe(error) }));
    request.end();
  });

function describe(error: NodeJS.ErrnoException): string {
  if (error.code === "ECONNREFUSED") return "connection refused";
  if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN") return "host name not found";
  if (error.code === "ECONNRESET") return "connection reset";
  return error.code ? `${error.code}: ${error.message}` : error.message;
}
