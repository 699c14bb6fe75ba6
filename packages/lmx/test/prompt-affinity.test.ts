import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmxServer } from "../src/index.js";
import { affinityTo, commonPrefixLength, rememberHeldText } from "../src/models/prompt-affinity.js";
import { SlotPool } from "../src/models/slot-pool.js";
import { client, startTestLmx, TINY_EOS, tinyModelsDir } from "./helpers.js";

describe("slot choice by cached prefix", () => {
  it("takes the free slot holding most of the prompt, else the least recently used one", async () => {
    const [a, b, c] = [{ name: "a" }, { name: "b" }, { name: "c" }];
    const pool = new SlotPool([a, b, c], 4);
    rememberHeldText(a, "system: be brief\nuser: tell me about foxes\nassistant: foxes are");
    rememberHeldText(b, "system: be brief\nuser: what is a GGUF file");
    // No preference: the most recently released slot, as before.
    const first = await pool.acquire();
    expect(first).toBe(c);
    pool.release(first);
    // The follow-up of conversation a goes to a, though c was released last.
    const next = await pool.acquire(
      undefined,
      affinityTo("system: be brief\nuser: tell me about foxes\nassistant: foxes are small"),
    );
    expect(next).toBe(a);
    // A shared preamble is not enough (under half the prompt): the least recently used slot, b,
    // not the most recently released one.
    const other = await pool.acquire(
      undefined,
      affinityTo("system: be brief\nuser: zebras, and why they have stripes"),
    );
    expect(other).toBe(b);
    expect(await pool.acquire(undefined, affinityTo("anything"))).toBe(c);
  });

  it("prefers the longest match among several", async () => {
    const [short, long] = [{ name: "short" }, { name: "long" }];
    const pool = new SlotPool([long, short], 4);
    rememberHeldText(long, "abcdefgh-1");
    rememberHeldText(short, "abcdef-2");
    expect(await pool.acquire(undefined, affinityTo("abcdefgh-3"))).toBe(long);
  });

  it("measures common prefixes", () => {
    expect(commonPrefixLength("", "abc")).toBe(0);
    expect(commonPrefixLength("abcdef", "abcxyz")).toBe(3);
    expect(commonPrefixLength("abc", "abc")).toBe(3);
  });
});

describe("interleaved conversations against LMX", () => {
  let server: LmxServer;
  let openai: OpenAI;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const models = await tinyModelsDir();
    cleanup = models.cleanup;
    server = await startTestLmx({ modelsDir: models.dir, parallel: 2 });
    openai = client(server);
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  const ask = (messages: OpenAI.ChatCompletionMessageParam[]) =>
    openai.chat.completions.create({
      model: "tiny",
      messages,
      max_tokens: 8,
      seed: 3,
      logit_bias: { [String(TINY_EOS)]: -100 },
    });

  it("gives each conversation its own cached sequence and reports the reused tokens", async () => {
    const aFirst: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: "You answer questions about foxes in great detail, always." },
      { role: "user", content: "Where do red foxes live, and what do they eat in winter?" },
    ];
    const bFirst: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: "You are a terse assistant for questions about compilers." },
      { role: "user", content: "What does a register allocator do?" },
    ];
    const a1 = await ask(aFirst);
    expect(a1.usage!.prompt_tokens_details!.cached_tokens).toBeLessThan(a1.usage!.prompt_tokens);
    const b1 = await ask(bFirst);
    // Conversation a's second turn: b's sequence was released last, but a's holds its history.
    const a2 = await ask([
      ...aFirst,
      { role: "assistant", content: a1.choices[0]!.message.content },
      { role: "user", content: "And in summer?" },
    ]);
    expect(a2.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(a1.usage!.prompt_tokens);
    // And b's second turn finds b's sequence.
    const b2 = await ask([
      ...bFirst,
      { role: "assistant", content: b1.choices[0]!.message.content },
      { role: "user", content: "Name one algorithm." },
    ]);
    expect(b2.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(b1.usage!.prompt_tokens);
    // The same prompt again reuses all of it but the last token (decoded again for its logits).
    const again = await ask(aFirst);
    expect(again.usage!.prompt_tokens_details!.cached_tokens).toBe(again.usage!.prompt_tokens - 1);
  });
});
