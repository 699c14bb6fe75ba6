/** CPU time (ms) the main thread has used, on Linux; undefined elsewhere. */
export function mainThreadCpuMs(): number | undefined;

/** A running probe of how long the event loop was blocked on the CPU. */
export interface BlockProbe {
  /** The longest block so far, in ms, without stopping. */
  peek(): number;
  /** Resolves with the longest block after the next sample (counts a block that just ended). */
  next(): Promise<number>;
  /** Stops the probe and returns the longest block, in ms. */
  stop(): number;
}

/**
 * Starts a probe: a timer every `intervalMs` (default 10) measures its own lateness, counted only
 * as far as the main thread was on the CPU meanwhile, so a descheduled process is not a blocked loop.
 */
export function blockProbe(intervalMs?: number): BlockProbe;
