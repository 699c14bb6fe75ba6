import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { buildByteLevelVocabulary } from "./tokenizer.js";
import { type GgmlTensorType, type GgufMetadataValue, type GgufTensor, writeGguf } from "./writer.js";

/** Size presets for the generated test model. */
export type TestModelSize = "tiny" | "small" | "mid";

/** Options for {@link writeTestModel}. */
export type TestModelOptions = {
  /** `tiny` (~0.1M params, F32, thousands of tok/s), `small` (~5M, F16) or `mid` (~170M, F16, for benchmarks). Default `tiny`. */
  size?: TestModelSize;
  /** Seed for the random weights; the same seed gives a byte-identical file. Default 1. */
  seed?: number;
};

/** The hyperparameters of a Llama-architecture model. */
export type LlamaHyperparameters = {
  vocabSize: number;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  feedForwardLength: number;
  headCount: number;
  headCountKv: number;
  weightType: GgmlTensorType;
};

/** The presets behind `--size`. */
export const TEST_MODEL_PRESETS: Record<TestModelSize, LlamaHyperparameters> = {
  tiny: {
    vocabSize: 512,
    contextLength: 4096,
    embeddingLength: 64,
    blockCount: 2,
    feedForwardLength: 176,
    headCount: 4,
    headCountKv: 2,
    weightType: "F32",
  },
  small: {
    vocabSize: 2048,
    contextLength: 4096,
    embeddingLength: 256,
    blockCount: 4,
    feedForwardLength: 704,
    headCount: 8,
    headCountKv: 4,
    weightType: "F16",
  },
  mid: {
    vocabSize: 8192,
    contextLength: 4096,
    embeddingLength: 1024,
    blockCount: 12,
    feedForwardLength: 2816,
    headCount: 16,
    headCountKv: 16,
    weightType: "F16",
  },
};

/** ChatML, as Qwen and many fine-tunes ship it. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * Writes a Llama-architecture GGUF v3 model with seeded random weights, a byte-level BPE tokenizer
 * and a ChatML chat template. It produces nonsense, quickly, which is what tests and benchmarks
 * of the serving path need. Deterministic: the same size and seed give a byte-identical file.
 */
export async function writeTestModel(outPath: string, options: TestModelOptions = {}): Promise<void> {
  const size = options.size ?? "tiny";
  const preset = TEST_MODEL_PRESETS[size];
  if (!preset) throw new Error(`unknown test model size '${size}'; use tiny, small or mid`);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
  await mkdir(dirname(outPath), { recursive: true });
  await writeLlamaModel(outPath, preset, { seed, name: `opta-test-${size}` });
}

/** Writes a Llama GGUF with the given hyperparameters; validates them first (llama.cpp aborts on some gaps). */
export async function writeLlamaModel(
  outPath: string,
  hp: LlamaHyperparameters,
  options: { seed: number; name: string },
): Promise<void> {
  validateHyperparameters(hp);
  const vocabulary = buildByteLevelVocabulary(hp.vocabSize);
  const headDim = hp.embeddingLength / hp.headCount;
  const kvLength = headDim * hp.headCountKv;

  const metadata = new Map<string, GgufMetadataValue>([
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: options.name }],
    ["general.alignment", { type: "uint32", value: 32 }],
    ["general.file_type", { type: "uint32", value: hp.weightType === "F32" ? 0 : 1 }],
    ["llama.vocab_size", { type: "uint32", value: hp.vocabSize }],
    ["llama.context_length", { type: "uint32", value: hp.contextLength }],
    ["llama.embedding_length", { type: "uint32", value: hp.embeddingLength }],
    ["llama.block_count", { type: "uint32", value: hp.blockCount }],
    ["llama.feed_forward_length", { type: "uint32", value: hp.feedForwardLength }],
    ["llama.rope.dimension_count", { type: "uint32", value: headDim }],
    ["llama.rope.freq_base", { type: "float32", value: 10000 }],
    ["llama.attention.head_count", { type: "uint32", value: hp.headCount }],
    ["llama.attention.head_count_kv", { type: "uint32", value: hp.headCountKv }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "float32", value: 1e-5 }],
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "default" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: vocabulary.tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: vocabulary.tokenTypes }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: vocabulary.merges }],
    ["tokenizer.ggml.bos_token_id", { type: "uint32", value: vocabulary.special["<|endoftext|>"] }],
    ["tokenizer.ggml.eos_token_id", { type: "uint32", value: vocabulary.special["<|im_end|>"] }],
    ["tokenizer.ggml.padding_token_id", { type: "uint32", value: vocabulary.special["<|endoftext|>"] }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
    ["tokenizer.chat_template", { type: "string", value: CHATML_TEMPLATE }],
  ]);

  const matrix = hp.weightType;
  const tensors: GgufTensor[] = [];
  const random = (name: string, dims: number[], type: GgmlTensorType, scale: number): GgufTensor => ({
    name,
    dims,
    type,
    data: () => randomTensor(dims, type, scale, hashSeed(options.seed, name)),
  });
  const ones = (name: string, length: number): GgufTensor => ({
    name,
    dims: [length],
    type: "F32",
    data: () => new Uint8Array(new Float32Array(length).fill(1).buffer),
  });
  // Scales keep activations near unit size, so logits vary enough for sampling to be non-trivial.
  const inScale = 1 / Math.sqrt(hp.embeddingLength);
  // Steer sampling towards printable ASCII and <|im_end|>: every embedding carries a large constant
  // in dimension 0, which survives to the final norm, and the output rows of stray bytes and of
  // <|im_start|> weigh it negatively. The text stays random, but readable and valid UTF-8, so
  // length limits in JSON-schema grammars count the same characters as JavaScript does.
  const steer = 2 * Math.sqrt(hp.embeddingLength);
  const suppressed = suppressedTokens(vocabulary.tokens.length, vocabulary.special);
  tensors.push({
    ...random("token_embd.weight", [hp.embeddingLength, hp.vocabSize], matrix, 1),
    data: () =>
      patchColumn(
        randomTensor([hp.embeddingLength, hp.vocabSize], matrix, 1, hashSeed(options.seed, "token_embd.weight")),
        matrix,
        hp.embeddingLength,
        () => steer,
      ),
  });
  for (let block = 0; block < hp.blockCount; block++) {
    const prefix = `blk.${block}`;
    tensors.push(ones(`${prefix}.attn_norm.weight`, hp.embeddingLength));
    tensors.push(random(`${prefix}.attn_q.weight`, [hp.embeddingLength, hp.embeddingLength], matrix, inScale));
    tensors.push(random(`${prefix}.attn_k.weight`, [hp.embeddingLength, kvLength], matrix, inScale));
    tensors.push(random(`${prefix}.attn_v.weight`, [hp.embeddingLength, kvLength], matrix, inScale));
    tensors.push(random(`${prefix}.attn_output.weight`, [hp.embeddingLength, hp.embeddingLength], matrix, inScale));
    tensors.push(ones(`${prefix}.ffn_norm.weight`, hp.embeddingLength));
    tensors.push(random(`${prefix}.ffn_gate.weight`, [hp.embeddingLength, hp.feedForwardLength], matrix, inScale));
    tensors.push(random(`${prefix}.ffn_up.weight`, [hp.embeddingLength, hp.feedForwardLength], matrix, inScale));
    tensors.push(
      random(
        `${prefix}.ffn_down.weight`,
        [hp.feedForwardLength, hp.embeddingLength],
        matrix,
        1 / Math.sqrt(hp.feedForwardLength),
      ),
    );
  }
  tensors.push(ones("output_norm.weight", hp.embeddingLength));
  tensors.push({
    ...random("output.weight", [hp.embeddingLength, hp.vocabSize], matrix, 2 * inScale),
    data: () =>
      patchColumn(
        randomTensor([hp.embeddingLength, hp.vocabSize], matrix, 2 * inScale, hashSeed(options.seed, "output.weight")),
        matrix,
        hp.embeddingLength,
        (token) => (suppressed.has(token) ? -4 : 0),
      ),
  });
  await writeGguf(outPath, metadata, tensors);
}

/** Rejects hyperparameters that llama.cpp would abort the process on, before any byte is written. */
export function validateHyperparameters(hp: LlamaHyperparameters): void {
  const positive: (keyof LlamaHyperparameters)[] = [
    "vocabSize",
    "contextLength",
    "embeddingLength",
    "blockCount",
    "feedForwardLength",
    "headCount",
    "headCountKv",
  ];
  for (const key of positive) {
    const value = hp[key];
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new Error(`model hyperparameter ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (hp.embeddingLength % hp.headCount !== 0) {
    throw new Error(`embeddingLength ${hp.embeddingLength} is not divisible by headCount ${hp.headCount}`);
  }
  if (hp.headCount % hp.headCountKv !== 0) {
    throw new Error(`headCount ${hp.headCount} is not divisible by headCountKv ${hp.headCountKv}`);
  }
  if ((hp.embeddingLength / hp.headCount) % 2 !== 0) throw new Error("the head dimension must be even for RoPE");
}

/** Byte tokens that are not printable ASCII (bar newline), and the control tokens other than <|im_end|>. */
function suppressedTokens(vocabSize: number, special: Record<string, number>): Set<number> {
  const suppressed = new Set<number>();
  for (let byte = 0; byte < 256; byte++) {
    if ((byte < 0x20 && byte !== 0x0a) || byte >= 0x7f) suppressed.add(byte);
  }
  for (const [name, id] of Object.entries(special)) if (name !== "<|im_end|>" && id < vocabSize) suppressed.add(id);
  return suppressed;
}

/** Overwrites element 0 of every row (one row per token) of a `[n_embd, n_vocab]` tensor. */
function patchColumn(
  bytes: Uint8Array,
  type: GgmlTensorType,
  rowLength: number,
  value: (row: number) => number,
): Uint8Array {
  const view =
    type === "F32"
      ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const rows = view.length / rowLength;
  for (let row = 0; row < rows; row++) {
    view[row * rowLength] = type === "F32" ? value(row) : toHalf(value(row));
  }
  return bytes;
}

/** FNV-1a over the seed and tensor name: every tensor gets its own independent stream. */
function hashSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5 ^ (seed >>> 0);
  hash = Math.imul(hash, 0x01000193);
  hash ^= Math.floor(seed / 0x100000000);
  for (const char of name) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Uniform values in [-scale·√3, scale·√3] (unit variance times scale) from a xorshift32 stream. */
function randomTensor(dims: readonly number[], type: GgmlTensorType, scale: number, seed: number): Uint8Array {
  const count = dims.reduce((product, dim) => product * dim, 1);
  let state = seed || 0x9e3779b9;
  const range = scale * Math.sqrt(3) * 2;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 0x100000000 - 0.5) * range;
  };
  if (type === "F32") {
    const values = new Float32Array(count);
    for (let index = 0; index < count; index++) values[index] = next();
    return new Uint8Array(values.buffer);
  }
  const values = new Uint16Array(count);
  for (let index = 0; index < count; index++) values[index] = toHalf(next());
  return new Uint8Array(values.buffer);
}

const floatView = new Float32Array(1);
const intView = new Uint32Array(floatView.buffer);

/** IEEE 754 float32 → float16 bits, round to nearest even; enough for small finite weights. */
export function toHalf(value: number): number {
  floatView[0] = value;
  const bits = intView[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    const half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (remainder > midpoint || (remainder === midpoint && half & 1) ? 1 : 0));
  }
  if (exponent >= 31) return sign | 0x7c00;
  const half = sign | (exponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  return half + (remainder > 0x1000 || (remainder === 0x1000 && half & 1) ? 1 : 0);
}
