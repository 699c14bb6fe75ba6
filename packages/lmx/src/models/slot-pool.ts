import { LmxError } from "../server/errors.js";

type Waiter<Slot> = {
  resolve: (slot: Slot) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
};

/**
 * A fixed set of slots (context sequences) handed out one per request, with a bounded FIFO queue
 * behind them. A full queue is refused at once with `queue_full` (503 + Retry-After), and a waiter
 * whose client goes away leaves the queue.
 */
export class SlotPool<Slot> {
  private readonly free: Slot[];
  private readonly waiters: Waiter<Slot>[] = [];
  private closedReason: LmxError | undefined;

  constructor(
    slots: readonly Slot[],
    private readonly queueLimit: number,
    private readonly onChange: () => void = () => {},
  ) {
    this.free = [...slots];
    this.total = slots.length;
    this.slots = [...slots];
  }

  /** Number of slots. */
  readonly total: number;

  /** Every slot, free or handed out (the dashboard reads their KV-cache use). */
  readonly slots: readonly Slot[];

  /** Slots currently handed out. */
  get active(): number {
    return this.total - this.free.length;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Takes a free slot, or waits in the queue for one. Without `preference`, the most recently
   * released slot. With it, the free slot it scores highest above 0 (ties: the most recently
   * released); when none scores above 0, the least recently released one, whose cache is the least
   * likely to be wanted again. A queued request takes whichever slot frees up first.
   */
  acquire(signal?: AbortSignal, preference?: (slot: Slot) => number): Promise<Slot> {
    if (this.closedReason) return Promise.reject(this.closedReason);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free.length > 0) {
      let chosen = this.free.length - 1;
      if (preference) {
        let best = 0;
        chosen = 0;
        for (let index = this.free.length - 1; index >= 0; index--) {
          const score = preference(this.free[index]!);
          if (score > best) {
            best = score;
            chosen = index;
          }
        }
      }
      const [slot] = this.free.splice(chosen, 1) as [Slot];
      this.onChange();
      return Promise.resolve(slot);
    }
    if (this.waiters.length >= this.queueLimit) {
      return Promise.reject(
        new LmxError(
          "queue_full",
          `all ${this.total} sequences are busy and ${this.waiters.length} requests are already queued; retry shortly`,
          { retryAfterSeconds: 1 },
        ),
      );
    }
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter<Slot> = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          this.onChange();
          reject(signal?.reason);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.onChange();
    });
  }

  /** Returns a slot; the oldest waiter gets it. */
  release(slot: Slot): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(slot);
    } else this.free.push(slot);
    this.onChange();
  }

  /** Refuses new and queued requests with `reason`; slots already out stay out until released. */
  close(reason: LmxError): void {
    this.closedReason = reason;
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(reason);
    }
    this.onChange();
  }
}
