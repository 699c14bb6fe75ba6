import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmxServer } from "../src/index.js";
import { client, startTestLmx, TINY_EOS, tinyModelsDir } from "./helpers.js";

let server: LmxServer;
let openai: OpenAI;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  // One sequence and room for one waiter: the third concurrent request must get 503.
  server = await startTestLmx({ modelsDir: models.dir, parallel: 1, queueLimit: 1 });
  openai = client(server);
  await openai.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "warm up" }],
    max_tokens: 1,
  });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

type Status = { models: { id: string; active: number; queued: number }[] };
const status = async () => ((await (await fetch(`${server.url}/api/v1/models`)).json()) as Status).models[0]!;

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("queue and cancellation", () => {
  it("queues beyond the sequences, answers 503 with Retry-After when the queue is full, and frees a sequence on client abort", async () => {
    const abort = new AbortController();
    // A generation that would run for a long time: end-of-turn is banned, 4000 tokens allowed.
    const long = await openai.chat.completions.create(
      {
        model: "tiny",
        messages: [{ role: "user", content: "go on forever" }],
        max_tokens: 4000,
        stream: true,
        logit_bias: { [String(TINY_EOS)]: -100 },
      },
      { signal: abort.signal },
    );
    const iterator = long[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    expect((await status()).active).toBe(1);

    const queued = openai.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "after you" }],
      max_tokens: 4,
    });
    await until(async () => (await status()).queued === 1);

    const refused = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "me too" }], max_tokens: 4 }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("queue_full");

    // The client goes away: its generation stops and the queued request gets the sequence.
    // (4000 tokens take well over a second here; an abort that works frees the slot at once.)
    const abortedAt = performance.now();
    abort.abort();
    const answer = await queued;
    expect(performance.now() - abortedAt).toBeLessThan(500);
    expect(answer.choices[0]!.message.role).toBe("assistant");
    await until(async () => {
      const current = await status();
      return current.active === 0 && current.queued === 0;
    });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/lmx_requests_total\{endpoint="chat",status="503"\} 1/);
    expect(metrics).toMatch(/lmx_active_sequences\{model="tiny"\} 0/);
  });

  it("stops a non-streaming generation whose client disconnects", async () => {
    const abort = new AbortController();
    const pending = openai.chat.completions
      .create(
        {
          model: "tiny",
          messages: [{ role: "user", content: "long" }],
          max_tokens: 4000,
          logit_bias: { [String(TINY_EOS)]: -100 },
        },
        { signal: abort.signal },
      )
      .catch((error: unknown) => error);
    await until(async () => (await status()).active === 1);
    abort.abort();
    expect(await pending).toBeInstanceOf(Error);
    await until(async () => (await status()).active === 0, 400);
  });
});
