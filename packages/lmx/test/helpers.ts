import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { type LmxOptions, type LmxServer, startLmx, writeTestModel } from "../src/index.js";

/** <|im_end|>, the tiny model's end-of-generation token (the last of its 512). */
export const TINY_EOS = 511;

/** A temporary models directory holding `tiny.gguf`, and a cleanup. */
export async function tinyModelsDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "opta-lmx-test-"));
  await writeTestModel(join(dir, "tiny.gguf"), { size: "tiny", seed: 1 });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Starts LMX on a free loopback port with one inference thread (the machine is shared). */
export function startTestLmx(options: Partial<LmxOptions> & { modelsDir: string }): Promise<LmxServer> {
  return startLmx({ port: 0, threads: 1, ...options });
}

/** The official client against a test server; no retries, so 503s reach the test. */
export function client(server: LmxServer, apiKey = "unused"): OpenAI {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });
}

/** Raw JSON POST, for requests the official client would refuse to send. */
export async function post(
  server: LmxServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Headers;
  json: { error?: { message: string; type: string; code: string; param: string | null } } & Record<string, unknown>;
}> {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

/** CPU time (ms) the main thread has used, on Linux; undefined elsewhere. */
function mainThreadCpuMs(): number | undefined {
  try {
    // Fields after the command name: state is the first, utime the 12th, stime the 13th (ticks of 10 ms).
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(")").at(-1)!.trim().split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * The longest time the event loop was blocked, from a 10 ms timer: each tick's lateness, counted only
 * as far as the main thread was on the CPU meanwhile (its own CPU time, ±10 ms), so a shared machine
 * that merely deschedules the process does not count as a blocked loop.
 */
export function blockProbe(): { stop(): number } {
  let longest = 0;
  let lastTick = performance.now();
  let lastCpu = mainThreadCpuMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    const late = now - lastTick - 10;
    const onCpu = cpu === undefined || lastCpu === undefined ? late : cpu - lastCpu + 10;
    longest = Math.max(longest, Math.min(late, onCpu));
    lastTick = now;
    lastCpu = cpu;
  }, 10);
  return {
    stop: () => {
      clearInterval(timer);
      return longest;
    },
  };
}
