#!/usr/bin/env node

// In-process A/B behind the LMX benchmark: does a context with 4 sequences (LMX's default, one of
// them generating, dispatched at once like LMX's dispatchSchedule) decode slower than the
// benchmark baseline's 1-sequence context? Runs alternate between the variants, same prompt, seed
// and sampling as bench/lmx/run.mjs; prints per-variant medians and the paired ratios.
//
//   node bench/lmx/sequences.mjs [--size mid] [--threads N] [--tokens 128] [--runs 10]

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaChat, LlamaLogLevel, TokenBias } from "node-llama-cpp";
import { defaultThreads, writeTestModel } from "../../packages/lmx/dist/index.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "mid" },
    threads: { type: "string" },
    tokens: { type: "string", default: "128" },
    runs: { type: "string", default: "10" },
  },
});
const size = values.size;
const threads = values.threads ? Number(values.threads) : defaultThreads();
const maxTokens = Number(values.tokens);
const runs = Number(values.runs);
const sampling = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 };
const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const prompt = (index) => `Request ${index}: write a long story about a fox who maintains an inference server.`;

const dir = await mkdtemp(join(tmpdir(), "opta-lmx-sequences-"));
try {
  const modelPath = join(dir, `${size}.gguf`);
  await writeTestModel(modelPath, { size, seed: 1 });
  const llama = await getLlama({ gpu: false, maxThreads: threads, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const eos = model.tokens.eos;
  const one = await model.createContext({ contextSize: 4096, sequences: 1, threads });
  const four = await model.createContext({
    contextSize: 4096,
    sequences: 4,
    threads,
    batching: { dispatchSchedule: (dispatch) => dispatch() },
  });
  const variants = {
    "1 sequence": new LlamaChat({ contextSequence: one.getSequence() }),
    "4 sequences": new LlamaChat({ contextSequence: four.getSequence() }),
  };
  const run = async (chat, index) => {
    const stamps = [];
    await chat.generateResponse(
      [
        { type: "user", text: prompt(index) },
        { type: "model", response: [] },
      ],
      {
        ...sampling,
        repeatPenalty: false,
        seed: index,
        maxTokens,
        tokenBias: () => new TokenBias(model.tokenizer).set(eos, "never"),
        onToken: (tokens) => {
          for (const _ of tokens) stamps.push(performance.now());
        },
      },
    );
    return (stamps.length - 1) / ((stamps.at(-1) - stamps[0]) / 1000);
  };
  const results = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (const chat of Object.values(variants)) await run(chat, 0);
  for (let index = 1; index <= runs; index++) {
    // Alternate the order too, so neither variant always runs right after the other.
    const names = Object.keys(variants);
    if (index % 2 === 0) names.reverse();
    for (const name of names) results[name].push(await run(variants[name], index));
  }
  const [base, other] = Object.keys(variants);
  for (const [name, list] of Object.entries(results))
    console.log(`${name}: median ${median(list).toFixed(1)} tok/s  (${list.map((v) => v.toFixed(1)).join(" ")})`);
  const paired = results[other].map((value, index) => value / results[base][index]);
  console.log(
    `${other} / ${base}: ratio of medians ${(median(results[other]) / median(results[base])).toFixed(3)}, median paired ratio ${median(paired).toFixed(3)}`,
  );
  await one.dispose();
  await four.dispose();
  await model.dispose();
  await llama.dispose();
} finally {
  await rm(dir, { recursive: true, force: true });
}
