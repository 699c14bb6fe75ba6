import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Physical cores (not hyperthreads): unique (physical id, core id) pairs on Linux, else logical CPUs. */
export function physicalCoreCount(): number {
  if (process.platform === "linux") {
    try {
      const cores = new Set<string>();
      let physical = "0";
      for (const line of readFileSync("/proc/cpuinfo", "utf8").split("\n")) {
        const [key, value] = line.split(":").map((part) => part.trim());
        if (key === "physical id") physical = value ?? "0";
        else if (key === "core id") cores.add(`${physical}:${value}`);
      }
      if (cores.size > 0) return Math.min(cores.size, availableParallelism());
    } catch {
      // no /proc: fall through
    }
  }
  return availableParallelism();
}

/**
 * Default inference threads: the physical cores minus one for Node's event loop, at least one.
 * llama.cpp's threads spin while they wait for each other; when they take every core, the event
 * loop that feeds them the next token has to preempt one, and decoding slows down by 2× (a 170M
 * model) to 100× (a tiny one) on a 2-core machine. Never node-llama-cpp's own default of 4.
 */
export function defaultThreads(): number {
  return Math.max(1, physicalCoreCount() - 1);
}
