import type { SessionEvent } from "@opta/protocol";
import { applyEvents, emptySessionView, type SessionView } from "./session-view.js";

/** Schedules one callback per animation frame (injectable so tests can drive frames by hand). */
export interface FrameScheduler {
  request(callback: () => void): void;
}

/** requestAnimationFrame, with a timer fallback: hidden tabs get no frames, and the queue must not grow forever. */
export const animationFrameScheduler: FrameScheduler = {
  request(callback) {
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      callback();
    };
    if (typeof requestAnimationFrame === "function") requestAnimationFrame(run);
    setTimeout(run, 250);
  },
};

/** Counters a benchmark or a debugging user can read from `window.__optaDiagnostics`. */
export interface StoreDiagnostics {
  /** Store updates published (each is at most one React render of the timeline). */
  flushes: number;
  /** Events folded in. */
  events: number;
}

/**
 * The live state of one session. Events from the stream are queued and folded in once per
 * animation frame, so a 120 tok/s stream causes at most ~60 updates a second, however fast the
 * tokens arrive. Subscribe with `useSyncExternalStore`.
 */
export class SessionStore {
  #view: SessionView;
  #queue: SessionEvent[] = [];
  #scheduled = false;
  #listeners = new Set<() => void>();
  readonly diagnostics: StoreDiagnostics = { flushes: 0, events: 0 };

  constructor(
    sessionId: string,
    private readonly scheduler: FrameScheduler = animationFrameScheduler,
    /** False publishes every event at once (the benchmark's baseline). */
    private readonly batched = true,
  ) {
    this.#view = emptySessionView(sessionId);
  }

  get sessionId(): string {
    return this.#view.sessionId;
  }

  /** The current view (stable identity between updates). */
  getSnapshot = (): SessionView => this.#view;

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** Highest seq received (queued or folded): where a resubscription resumes. */
  get lastSeq(): number {
    return this.#queue.at(-1)?.seq ?? this.#view.lastSeq;
  }

  /** Queues an event; it is folded in on the next frame. */
  push(event: SessionEvent): void {
    if (event.seq <= this.lastSeq) return;
    this.#queue.push(event);
    if (!this.batched) {
      this.flush();
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.scheduler.request(() => this.flush());
  }

  /** Folds every queued event in and notifies listeners once. */
  flush(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    const events = this.#queue;
    this.#queue = [];
    this.#view = applyEvents(this.#view, events);
    this.diagnostics.flushes += 1;
    this.diagnostics.events += events.length;
    for (const listener of this.#listeners) listener();
  }
}
