import { copyFile, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { checkGgufHeader, GgufHeaderError } from "../src/gguf/header.js";
import { type LmxServer, writeTestModel } from "../src/index.js";
import { blockProbe, client, post, startTestLmx } from "./helpers.js";

// Hostile GGUF headers: each claims counts or lengths its file cannot hold. node-llama-cpp's parser
// believes them (it reads zeros past the end of the file), so without the bounds check a 24-byte
// file claiming 2^40 tensors grows RSS by gigabytes and keeps the event loop busy for minutes.

const STRING = 8;
const ARRAY = 9;
const U32 = 4;

const u32 = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
};
const u64 = (value: bigint) => {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(value);
  return buffer;
};
const text = (value: string) => Buffer.concat([u64(BigInt(Buffer.byteLength(value))), Buffer.from(value)]);
const preamble = (tensors: bigint, entries: bigint, version = 3) =>
  Buffer.concat([Buffer.from("GGUF"), u32(version), u64(tensors), u64(entries)]);
/** A header with one metadata entry `key` of `type`, followed by `value` bytes. */
const oneEntry = (key: string, type: number, ...value: Buffer[]) =>
  Buffer.concat([preamble(0n, 1n), text(key), u32(type), ...value]);

const ATTACKS: Record<string, Buffer | "truncated"> = {
  "2^40 tensors in 24 bytes": preamble(2n ** 40n, 0n),
  "2^40 metadata entries in 24 bytes": preamble(0n, 2n ** 40n),
  "2^64-1 tensors and metadata entries": preamble(2n ** 64n - 1n, 2n ** 64n - 1n),
  "a string of 2^62 bytes": oneEntry("general.name", STRING, u64(2n ** 62n), Buffer.from("xx")),
  "a string of 4 GiB (an allocation node-llama-cpp would make)": oneEntry("general.name", STRING, u64(2n ** 32n)),
  "an array of 2^40 strings": oneEntry("tokenizer.ggml.tokens", ARRAY, u32(STRING), u64(2n ** 40n)),
  "an array of 10^6 u32 in a 60-byte file": oneEntry("tokenizer.ggml.token_type", ARRAY, u32(U32), u64(1_000_000n)),
  "an array of arrays whose inner array claims 2^40 elements": oneEntry(
    "x.nested",
    ARRAY,
    u32(ARRAY),
    u64(1n),
    u32(U32),
    u64(2n ** 40n),
  ),
  "a metadata key of 2^40 bytes": Buffer.concat([preamble(0n, 1n), u64(2n ** 40n), Buffer.alloc(16)]),
  "a tensor with 2^31 dimensions": Buffer.concat([preamble(1n, 0n), text("t"), u32(2 ** 31), Buffer.alloc(40)]),
  "a tensor name of 2^62 bytes": Buffer.concat([preamble(1n, 0n), u64(2n ** 62n), Buffer.alloc(40)]),
  "a big-endian version field": preamble(0n, 0n, 0x03000000),
  "a real model cut inside its header": "truncated",
};

let dir: string;
let server: LmxServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "opta-lmx-gguf-header-"));
  await writeTestModel(join(dir, "good.gguf"), { size: "tiny", seed: 1 });
  for (const [index, content] of Object.values(ATTACKS).entries()) {
    const path = join(dir, `attack-${index}.gguf`);
    if (content === "truncated") {
      await copyFile(join(dir, "good.gguf"), path);
      await truncate(path, 2_000);
    } else await writeFile(path, content);
  }
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("GGUF header bounds", () => {
  it("shows the unchecked parser believes a count the file cannot hold", async () => {
    // Scaled down so that it finishes: 2,000 tensors claimed by a 24-byte file.
    const path = join(dir, "small-claim.bin");
    await writeFile(path, preamble(2000n, 0n));
    const info = await readGgufFileInfo(path, { logWarnings: false, sourceType: "filesystem" });
    expect(info.tensorInfo).toHaveLength(2000);
    const refused = await checkGgufHeader(path).catch((error) => error);
    expect(refused).toBeInstanceOf(GgufHeaderError);
    expect(refused.reason).toBe(
      "its header claims 2000 tensors but the file is 24 bytes (each tensor entry takes at least 33)",
    );
  });

  it("accepts a real model's header", async () => {
    const summary = await checkGgufHeader(join(dir, "good.gguf"));
    expect(summary.version).toBe(3);
    expect(summary.tensorCount).toBeGreaterThan(0);
    expect(summary.headerEndOffset).toBeLessThan(summary.sizeBytes);
  });

  it("refuses every hostile header with a clear error, and keeps serving the good model", async ({ task }) => {
    const logs: Record<string, unknown>[] = [];
    server = await startTestLmx({ modelsDir: dir, log: (line) => logs.push(line as Record<string, unknown>) });
    const status = (await (await fetch(`${server.url}/api/v1/models`)).json()) as {
      models: { id: string; state: string; error: string | null }[];
    };
    const listed = (await client(server).models.list()).data.map((model) => model.id);
    // The preamble attacks are marked in the listing (and left out of /v1/models) already.
    expect(status.models.find((model) => model.id === "attack-0")).toMatchObject({
      state: "invalid",
      error: expect.stringContaining(
        "attack-0.gguf is not a usable GGUF model: its header claims 1099511627776 tensors",
      ),
    });
    expect(listed).toContain("good");
    expect(listed).not.toContain("attack-0");
    expect(logs.some((line) => line.event === "model.invalid" && line.model === "attack-0")).toBe(true);

    const cases: SecurityCase[] = [];
    const probe = blockProbe();
    const rssBefore = process.memoryUsage().rss;
    for (const [index, attack] of Object.keys(ATTACKS).entries()) {
      const id = `attack-${index}`;
      const loaded = await post(server, "/api/v1/models/load", { model: id });
      const chat = await post(server, "/v1/chat/completions", {
        model: id,
        messages: [{ role: "user", content: "x" }],
      });
      const health = await fetch(`${server.url}/health`);
      const rssGrowth = process.memoryUsage().rss - rssBefore;
      const message = loaded.json.error?.message ?? "";
      const refused =
        loaded.status === 422 &&
        chat.status === 422 &&
        loaded.json.error?.code === "model_invalid" &&
        message.startsWith(`${id}.gguf is not a usable GGUF model: `) &&
        health.status === 200 &&
        rssGrowth < 200 * 1024 * 1024;
      cases.push({
        attack,
        refused,
        detail: `load ${loaded.status} ${message}; health ${health.status}; RSS +${Math.round(rssGrowth / 2 ** 20)} MiB`,
      });
    }
    const blocked = probe.stop();
    cases.push({
      attack: "event-loop delay across all hostile loads",
      refused: blocked < 100,
      detail: `longest block ${blocked.toFixed(0)} ms`,
    });

    const answer = await client(server).chat.completions.create({
      model: "good",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 2,
    });
    cases.push({ attack: "the good model still answers", refused: answer.choices.length === 1 });

    const report = reportFamily(task, "gguf-header", cases);
    expect(report.through).toEqual([]);
  });
});
