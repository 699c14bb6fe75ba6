/**
 * A byte-level BPE vocabulary in the GPT-2 style, as llama.cpp's `gpt2` tokenizer expects: 256
 * byte tokens (bytes mapped to printable code points), merges learned from a small built-in corpus
 * (then padded with letter pairs when a larger vocabulary is asked for), and ChatML control tokens
 * at the end. Deterministic: the same size always gives the same vocabulary.
 */

/** Special tokens appended after the learned vocabulary, in this order. */
export const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

/** llama.cpp token types. */
export const TokenType = { normal: 1, control: 3 } as const;

/** The vocabulary written into `tokenizer.ggml.*`. */
export type ByteLevelVocabulary = {
  /** Token strings; the index is the token id. */
  tokens: string[];
  /** `"left right"` merge rules, highest priority first. */
  merges: string[];
  /** llama.cpp token type per token id. */
  tokenTypes: number[];
  /** Id of each special token. */
  special: Record<(typeof SPECIAL_TOKENS)[number], number>;
};

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to code points from 256 up. */
export function byteToUnicodeTable(): string[] {
  const printable: number[] = [];
  for (let byte = 33; byte <= 126; byte++) printable.push(byte);
  for (let byte = 161; byte <= 172; byte++) printable.push(byte);
  for (let byte = 174; byte <= 255; byte++) printable.push(byte);
  const table: string[] = new Array(256);
  let next = 0;
  for (let byte = 0; byte < 256; byte++) {
    if (printable.includes(byte)) table[byte] = String.fromCodePoint(byte);
    else table[byte] = String.fromCodePoint(256 + next++);
  }
  return table;
}

// GPT-2's pre-tokenizer split, which is what llama.cpp applies for `tokenizer.ggml.pre = "default"`.
const PRE_TOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

// A small mixed corpus (prose, chat, code) so the learned merges look like a real tokenizer's.
const CORPUS = `The quick brown fox jumps over the lazy dog. You are a helpful assistant that answers
questions about code. Please read the file, list the directory, and tell me what the function does.
Hello! How can I help you today? I will call a tool to find out. The answer is in the result.
Opta Local runs models on your own machine: a daemon, a command line, and an inference server.
function main(args) { const value = await read(path); return value.length > 0 ? value : null; }
export async function handler(request, response) { if (!request.body) throw new Error("missing body"); }
import { readFile } from "node:fs/promises"; const text = await readFile("config.yaml", "utf8");
for (let index = 0; index < items.length; index++) { console.log(items[index].name); }
{"name": "get_weather", "arguments": {"city": "Berlin", "unit": "celsius"}, "type": "function"}
The model streams tokens as they are generated; the server sends each chunk to the client.
Tests start real servers on loopback with port zero and a temporary home directory.
def compute(self, x): return [item * 2 for item in x if item is not None]
SELECT id, title FROM sessions WHERE created_at > now() ORDER BY id DESC LIMIT 10;
There were 12 requests, 340 tokens and 27 tool calls in 5.5 seconds at 61.8 tokens per second.
When the user asks a question, think step by step, then give a short and correct answer.
The weather in Paris is sunny and warm; in London it is cloudy with a chance of rain.`;

/** Builds a vocabulary of exactly `vocabSize` tokens (at least 256 + the special tokens). */
export function buildByteLevelVocabulary(vocabSize: number): ByteLevelVocabulary {
  const minimum = 256 + SPECIAL_TOKENS.length;
  if (!Number.isInteger(vocabSize) || vocabSize < minimum) {
    throw new Error(`vocabulary size must be an integer of at least ${minimum}, got ${vocabSize}`);
  }
  const byteTable = byteToUnicodeTable();
  const tokens = [...byteTable];
  const known = new Set(tokens);
  const merges: string[] = [];
  const mergeBudget = vocabSize - minimum;

  const addMerge = (left: string, right: string): boolean => {
    const merged = left + right;
    if (known.has(merged) || merges.length >= mergeBudget) return false;
    merges.push(`${left} ${right}`);
    tokens.push(merged);
    known.add(merged);
    return true;
  };

  // Learn merges from the corpus: classic BPE, most frequent pair first, ties broken by text.
  const wordCounts = new Map<string, number>();
  for (const match of CORPUS.matchAll(PRE_TOKENIZE)) {
    const mapped = Array.from(Buffer.from(match[0], "utf8"), (byte) => byteTable[byte]!).join("\u0000");
    wordCounts.set(mapped, (wordCounts.get(mapped) ?? 0) + 1);
  }
  let words = [...wordCounts].map(([word, count]) => ({ symbols: word.split("\u0000"), count }));
  while (merges.length < mergeBudget) {
    const pairCounts = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let index = 0; index + 1 < symbols.length; index++) {
        const pair = `${symbols[index]} ${symbols[index + 1]}`;
        pairCounts.set(pair, (pairCounts.get(pair) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [pair, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== undefined && pair < best)) {
        best = pair;
        bestCount = count;
      }
    }
    if (best === undefined) break;
    const [left, right] = best.split(" ") as [string, string];
    if (!addMerge(left, right)) {
      // Already known through another path: still apply it to the corpus so training progresses.
    }
    words = words.map(({ symbols, count }) => {
      const next: string[] = [];
      for (let index = 0; index < symbols.length; index++) {
        if (index + 1 < symbols.length && symbols[index] === left && symbols[index + 1] === right) {
          next.push(left + right);
          index++;
        } else next.push(symbols[index]!);
      }
      return { symbols: next, count };
    });
    words = words.filter(({ symbols }) => symbols.length > 1);
  }

  // Larger vocabularies: pad with space-prefixed letters, letter pairs, then space-prefixed pairs.
  const letters = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ0123456789_.,;:(){}[]";
  const space = byteTable[32]!;
  for (const letter of letters) addMerge(space, letter);
  for (const first of letters) for (const second of letters) addMerge(first, second);
  for (const first of letters) for (const second of letters) addMerge(space + first, second);
  for (const first of letters) for (const second of letters) addMerge(first + second, second);
  for (const first of letters)
    for (const pair of letters)
      for (const third of letters) {
        if (merges.length >= mergeBudget) break;
        addMerge(space + first + pair, third);
      }
  if (merges.length < mergeBudget) throw new Error(`cannot build a vocabulary of ${vocabSize} tokens`);

  const tokenTypes: number[] = tokens.map(() => TokenType.normal);
  const special = {} as ByteLevelVocabulary["special"];
  for (const name of SPECIAL_TOKENS) {
    special[name] = tokens.length;
    tokens.push(name);
    tokenTypes.push(TokenType.control);
  }
  return { tokens, merges, tokenTypes, special };
}
