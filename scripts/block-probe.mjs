// How long the event loop was really blocked, on a machine that other work shares.
//
// A raw event-loop-delay figure (monitorEventLoopDelay, a timer's lateness) also counts the time
// the OS simply did not run this process: on a loaded 2-core machine that alone reaches hundreds of
// milliseconds and fails "< 100 ms" checks that have nothing to do with the code under test. A
// blocked loop is one whose main thread was busy on the CPU, so each tick's lateness is counted
// only as far as the main thread used CPU meanwhile (Linux /proc; elsewhere the raw lateness).
// Plain JavaScript so that a daemon under test can preload it with `--import` (no build step).
import { readFileSync } from "node:fs";

/** Ticks of /proc's utime and stime: USER_HZ, 100 on every Linux build Node supports. */
const TICK_MS = 10;

/** CPU time (ms) the main thread has used, on Linux; undefined elsewhere. */
export function mainThreadCpuMs() {
  try {
    // The main thread's task id is the pid. Fields after "(comm)": state is the first, utime the
    // 12th, stime the 13th. comm may contain spaces and parentheses, hence the last ")".
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(")").at(-1).trim().split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/**
 * Starts a probe: a timer every `intervalMs` measures its own lateness, bounded by the main
 * thread's CPU time over the same tick (plus one /proc tick of rounding). `stop()` ends it and
 * returns the longest such block in ms; `peek()` returns it without stopping; `next()` resolves
 * with it after the next sample, so a block at the very end of some work is counted too.
 */
export function blockProbe(intervalMs = 10) {
  let longest = 0;
  let lastTick = performance.now();
  let lastCpu = mainThreadCpuMs();
  let waiting = [];
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    const late = now - lastTick - intervalMs;
    const onCpu = cpu === undefined || lastCpu === undefined ? late : cpu - lastCpu + TICK_MS;
    longest = Math.max(longest, Math.min(late, onCpu));
    lastTick = now;
    lastCpu = cpu;
    for (const resolve of waiting) resolve(longest);
    waiting = [];
  }, intervalMs);
  // A probe never keeps a process alive by itself.
  timer.unref();
  return {
    peek: () => longest,
    next: () => new Promise((resolve) => waiting.push(resolve)),
    stop: () => {
      clearInterval(timer);
      return longest;
    },
  };
}
