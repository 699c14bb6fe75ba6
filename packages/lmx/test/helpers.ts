import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { type LmxOptions, type LmxServer, startLmx, writeTestModel } from "../src/index.js";

/** <|im_end|>, the tiny model's end-of-generation token (the last of its 512). */
export const TINY_EOS = 511;
/**
 * All three control tokens (<|endoftext|>, <|im_start|>, <|im_end|>). The weights steer sampling
 * away from the first two, but not absolutely: llama.cpp ends generation on <|endoftext|> too, so a
 * test that must run to the window bans all of them.
 */
export const TINY_CONTROL_TOKENS = [509, 510, 511] as const;

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

/** The CPU-bounded event-loop block probe, shared with the daemon's tests (scripts/block-probe.mjs). */
export { blockProbe } from "../../../scripts/block-probe.mjs";
