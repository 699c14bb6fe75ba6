import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateHyperparameters, writeLlamaModel } from "../src/gguf/test-model.js";
import { buildByteLevelVocabulary } from "../src/gguf/tokenizer.js";
import { inspectModelFile, LmxError, writeTestModel } from "../src/index.js";

let dir: string;
const sha = async (path: string) =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "opta-lmx-gguf-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeTestModel", () => {
  it("writes a GGUF v3 Llama model with the keys llama.cpp needs", async () => {
    const path = join(dir, "tiny.gguf");
    await writeTestModel(path, { size: "tiny", seed: 1 });
    const info = await readGgufFileInfo(path);
    expect(info.version).toBe(3);
    const metadata = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(metadata.general?.architecture).toBe("llama");
    const llama = metadata.llama as Record<string, unknown> & { attention: Record<string, unknown> };
    expect(llama.feed_forward_length).toBe(176);
    expect(llama.attention.head_count).toBe(4);
    expect(llama.attention.head_count_kv).toBe(2);
    const tokenizer = (metadata.tokenizer as Record<string, Record<string, unknown>>).ggml!;
    expect(tokenizer.model).toBe("gpt2");
    expect(tokenizer.pre).toBe("default");
    expect(String((metadata.tokenizer as Record<string, unknown>).chat_template)).toContain("<|im_start|>");
    expect(info.tensorInfo?.find((tensor) => tensor.name === "token_embd.weight")?.dimensions.map(Number)).toEqual([
      64, 512,
    ]);
    for (const tensor of info.tensorInfo ?? []) expect(Number(tensor.fileOffset) % 32).toBe(0);
  });

  it("is deterministic for a seed and differs across seeds", async () => {
    await writeTestModel(join(dir, "a.gguf"), { seed: 42 });
    await writeTestModel(join(dir, "b.gguf"), { seed: 42 });
    await writeTestModel(join(dir, "c.gguf"), { seed: 43 });
    expect(await sha(join(dir, "a.gguf"))).toBe(await sha(join(dir, "b.gguf")));
    expect(await sha(join(dir, "a.gguf"))).not.toBe(await sha(join(dir, "c.gguf")));
  });

  it("refuses hyperparameters that would abort llama.cpp, before writing", async () => {
    const base = {
      vocabSize: 512,
      contextLength: 512,
      embeddingLength: 64,
      blockCount: 1,
      feedForwardLength: 128,
      headCount: 4,
      headCountKv: 4,
      weightType: "F32" as const,
    };
    expect(() => validateHyperparameters({ ...base, feedForwardLength: 0 })).toThrow(/feedForwardLength/);
    expect(() => validateHyperparameters({ ...base, headCount: 3 })).toThrow(/divisible/);
    await expect(
      writeLlamaModel(join(dir, "bad.gguf"), { ...base, headCount: 0 }, { seed: 1, name: "x" }),
    ).rejects.toThrow(/headCount/);
    await expect(writeTestModel(join(dir, "x.gguf"), { size: "huge" as never })).rejects.toThrow(/tiny, small or mid/);
  });

  it("builds a consistent byte-level BPE vocabulary", () => {
    const vocabulary = buildByteLevelVocabulary(2048);
    expect(vocabulary.tokens).toHaveLength(2048);
    expect(new Set(vocabulary.tokens).size).toBe(2048);
    const known = new Set(vocabulary.tokens);
    for (const merge of vocabulary.merges) {
      const [left, right] = merge.split(" ");
      expect(known.has(left!) && known.has(right!) && known.has(left! + right!)).toBe(true);
    }
    expect(vocabulary.tokens[vocabulary.special["<|im_end|>"]]).toBe("<|im_end|>");
  });
});

describe("inspectModelFile", () => {
  it("accepts the test model", async () => {
    const inspected = await inspectModelFile(join(dir, "tiny.gguf"));
    expect(inspected.architecture).toBe("llama");
    expect(inspected.vocabularySize).toBe(512);
  });

  it("reports garbage, truncated and incomplete files as model_invalid", async () => {
    await writeFile(join(dir, "garbage.gguf"), Buffer.from("this is not a model at all, just text"));
    const garbage = await inspectModelFile(join(dir, "garbage.gguf")).catch((error) => error);
    expect(garbage).toBeInstanceOf(LmxError);
    expect(garbage.code).toBe("model_invalid");
    expect(garbage.message).toMatch(/GGUF magic/);

    await writeTestModel(join(dir, "truncated.gguf"));
    await truncate(join(dir, "truncated.gguf"), 300_000);
    const truncated = await inspectModelFile(join(dir, "truncated.gguf")).catch((error) => error);
    expect(truncated.code).toBe("model_invalid");
    expect(truncated.message).toMatch(/truncated/);

    await writeTestModel(join(dir, "header-only.gguf"));
    await truncate(join(dir, "header-only.gguf"), 2_000);
    const headerOnly = await inspectModelFile(join(dir, "header-only.gguf")).catch((error) => error);
    expect(headerOnly.code).toBe("model_invalid");
  });
});
