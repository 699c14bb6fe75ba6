import { Worker } from "node:worker_threads";
import { ToolError } from "./errors.js";

/** How long one file may take to match before the regular expression is judged runaway. */
export const REGEX_FILE_TIMEOUT_MS = 5000;

// Plain JavaScript run with `eval: true`, so it needs no build step and no imports of ours.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const regex = new RegExp(workerData.source, workerData.flags);
parentPort.postMessage({ ready: true });
parentPort.on("message", (message) => {
  const hits = [];
  const lines = message.lines;
  for (let index = 0; index < lines.length; index++) if (regex.test(lines[index])) hits.push(index);
  parentPort.postMessage({ id: message.id, hits });
});
`;

/**
 * Runs a model-supplied regular expression in a worker thread, so a catastrophically
 * backtracking pattern costs a terminated worker instead of a frozen daemon.
 *
 * The per-file budget covers matching only: the clock starts when the worker has said it is
 * ready. Starting a thread takes tens of milliseconds, and far more on a loaded machine; counting
 * it would fail ordinary greps whenever the machine is busy.
 */
export class RegexWorker {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private nextId = 0;
  private pending?: { id: number; resolve: (hits: number[]) => void; reject: (error: Error) => void };

  constructor(
    source: string,
    flags: string,
    private readonly timeoutMs = REGEX_FILE_TIMEOUT_MS,
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { source, flags } });
    this.ready = new Promise<void>((resolve, reject) => {
      this.worker.once("message", () => resolve());
      this.worker.once("error", reject);
      this.worker.once("exit", () => reject(new ToolError("TOOL_FAILED", "the regular expression worker stopped")));
    });
    // A start-up failure is reported by match(); this keeps it from being an unhandled rejection.
    this.ready.catch(() => {});
    this.worker.on("message", (message: { id?: number; hits?: number[] }) => {
      if (message.id !== undefined && this.pending?.id === message.id) this.pending.resolve(message.hits ?? []);
    });
    this.worker.on("error", (error) => this.pending?.reject(error));
  }

  /** Indexes of the lines that match; rejects on timeout or abort (and the worker is then useless). */
  async match(lines: string[], label: string, signal: AbortSignal): Promise<number[]> {
    await this.whenReady(signal);
    const id = this.nextId++;
    return new Promise<number[]>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.pending = undefined;
      };
      const timer = setTimeout(() => {
        finish();
        void this.worker.terminate();
        reject(
          new ToolError(
            "TOOL_FAILED",
            `the regular expression took more than ${this.timeoutMs / 1000}s on ${label}; simplify it (avoid nested quantifiers such as (a+)+)`,
          ),
        );
      }, this.timeoutMs);
      const onAbort = () => {
        finish();
        void this.worker.terminate();
        reject(new ToolError("ABORTED", "cancelled"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.pending = {
        id,
        resolve: (hits) => {
          finish();
          resolve(hits);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      };
      this.worker.postMessage({ id, lines });
    });
  }

  /** Resolves once the worker has compiled the expression; rejects if it fails to start or `signal` aborts. */
  private whenReady(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new ToolError("ABORTED", "cancelled"));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new ToolError("ABORTED", "cancelled"));
      signal.addEventListener("abort", onAbort, { once: true });
      this.ready.then(
        () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        (error: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }

  /** Stops the worker thread. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
