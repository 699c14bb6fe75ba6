import { type FileHandle, open } from "node:fs/promises";

/**
 * A bounds check of a GGUF header, run before node-llama-cpp's parser ever sees the file.
 *
 * That parser believes every count and length it reads: its file reader zero-fills reads past the
 * end of the file, so a 24-byte file claiming 2^40 tensors makes it fabricate empty tensor entries
 * forever (gigabytes of RSS, the event loop busy for minutes), and a string length of 2^32 makes it
 * allocate a 4 GiB buffer. This walk reads the header in chunks, checks every count and length
 * against the bytes left in the file and against absolute caps, and never allocates more than one
 * chunk (or one key), so a hostile file costs at most a few milliseconds and a megabyte.
 */

/** Absolute caps, far above any real model (the largest have ~1M-entry vocabularies, ~50k tensors). */
export const GGUF_LIMITS = {
  /** Tensor entries in one file. */
  tensors: 1 << 20,
  /** Metadata key/value pairs. */
  metadataEntries: 1 << 16,
  /** Bytes in a metadata key (the GGUF spec's own limit). */
  keyBytes: 65_535,
  /** Bytes in one string value (chat templates, embedded tokenizer JSON). */
  stringBytes: 64 * 1024 * 1024,
  /** Elements in one array value (vocabularies, merges). */
  arrayElements: 1 << 24,
  /** Nested array levels. */
  arrayDepth: 2,
  /** Bytes in a tensor name (llama.cpp's GGML_MAX_NAME is 64). */
  tensorNameBytes: 4096,
  /** Dimensions per tensor (llama.cpp's GGML_MAX_DIMS). */
  tensorDims: 4,
  /** Bytes of header (metadata + tensor infos); node-llama-cpp holds all of it in one buffer. */
  headerBytes: 256 * 1024 * 1024,
} as const;

/** Smallest encoding of one tensor entry: name length, one name byte, n_dims, one dim, type, offset. */
export const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8;
/** Smallest encoding of one metadata entry: key length, one key byte, value type, a one-byte value. */
export const MIN_METADATA_ENTRY_BYTES = 8 + 1 + 4 + 1;
/** Magic, version, tensor count, metadata count. */
const PREAMBLE_BYTES = 4 + 4 + 8 + 8;
// Small enough that walking one chunk's worth of entries takes about a millisecond.
const CHUNK_BYTES = 256 * 1024;

// GGUF value types: byte width of the fixed-size ones; 8 is string, 9 is array.
const FIXED_WIDTH: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** Why a header was refused, as the second half of a sentence ("it is truncated: …"). */
export class GgufHeaderError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "GgufHeaderError";
  }
}

/** What the walk learned. */
export type GgufHeaderSummary = {
  /** GGUF version (2 or 3). */
  version: number;
  /** Tensor entries. */
  tensorCount: number;
  /** Metadata key/value pairs. */
  metadataCount: number;
  /** Byte offset where the tensor infos end. */
  headerEndOffset: number;
  /** File size in bytes. */
  sizeBytes: number;
};

/**
 * The cheap part of the check: magic, version and the two counts against the file size (one
 * 24-byte read). Used when listing the models directory.
 */
export async function checkGgufPreamble(path: string): Promise<GgufHeaderSummary> {
  return withFile(path, async (reader) => {
    const { version, tensorCount, metadataCount } = await readPreamble(reader);
    return { version, tensorCount, metadataCount, headerEndOffset: PREAMBLE_BYTES, sizeBytes: reader.size };
  });
}

/**
 * The whole header walk: every metadata key and value and every tensor entry, each length checked
 * against the rest of the file and {@link GGUF_LIMITS}. Throws {@link GgufHeaderError}.
 */
export async function checkGgufHeader(path: string): Promise<GgufHeaderSummary> {
  return withFile(path, async (reader) => {
    const { version, tensorCount, metadataCount } = await readPreamble(reader);
    for (let index = 0; index < metadataCount; index++) {
      const at = () => `metadata entry ${index}`;
      const keyLength = await reader.u64Exact(() => `the key length of ${at()}`);
      if (keyLength === 0n || keyLength > BigInt(GGUF_LIMITS.keyBytes)) {
        throw new GgufHeaderError(`${at()} has a key of ${keyLength} bytes (1 to ${GGUF_LIMITS.keyBytes} allowed)`);
      }
      const key = await reader.text(Number(keyLength), () => `the key of ${at()}`);
      const type = await reader.u32(() => `the value type of '${key}'`);
      await skipValue(reader, type, () => `'${key}'`, 0);
      reader.checkHeaderSize();
    }
    for (let index = 0; index < tensorCount; index++) {
      const at = () => `tensor entry ${index}`;
      const nameLength = await reader.u64Exact(() => `the name length of ${at()}`);
      if (nameLength === 0n || nameLength > BigInt(GGUF_LIMITS.tensorNameBytes)) {
        throw new GgufHeaderError(
          `${at()} has a name of ${nameLength} bytes (1 to ${GGUF_LIMITS.tensorNameBytes} allowed)`,
        );
      }
      const name = await reader.text(Number(nameLength), () => `the name of ${at()}`);
      const dims = await reader.u32(() => `the dimension count of tensor ${name}`);
      if (dims > GGUF_LIMITS.tensorDims) {
        throw new GgufHeaderError(`tensor ${name} claims ${dims} dimensions (at most ${GGUF_LIMITS.tensorDims})`);
      }
      // Dimensions (u64 each), the ggml type (u32) and the data offset (u64).
      reader.skip(dims * 8 + 4 + 8, () => `the shape, type and offset of tensor ${name}`);
      reader.checkHeaderSize();
    }
    return { version, tensorCount, metadataCount, headerEndOffset: reader.position, sizeBytes: reader.size };
  });
}

/** Names what is being read, for an error message; built only when one is thrown. */
type Describe = () => string;

async function withFile<T>(path: string, walk: (reader: HeaderReader) => Promise<T>): Promise<T> {
  const handle = await open(path, "r");
  try {
    return await walk(new HeaderReader(handle, (await handle.stat()).size));
  } finally {
    await handle.close();
  }
}

async function readPreamble(
  reader: HeaderReader,
): Promise<{ version: number; tensorCount: number; metadataCount: number }> {
  if (reader.size < PREAMBLE_BYTES) {
    throw new GgufHeaderError(`the file is only ${reader.size} bytes long (a GGUF header takes at least 24)`);
  }
  const magic = await reader.text(4, () => "the magic bytes");
  if (magic !== "GGUF") throw new GgufHeaderError("it does not start with the GGUF magic bytes");
  const version = await reader.u32(() => "the version");
  if (version !== 2 && version !== 3) {
    throw new GgufHeaderError(`GGUF version ${version} is not supported (llama.cpp reads versions 2 and 3)`);
  }
  const tensorCount = await reader.u64Exact(() => "the tensor count");
  const metadataCount = await reader.u64Exact(() => "the metadata count");
  const rest = BigInt(reader.size - PREAMBLE_BYTES);
  // The size bounds first: they say what is wrong with the file; the caps only catch huge files.
  if (tensorCount * BigInt(MIN_TENSOR_INFO_BYTES) > rest) {
    throw new GgufHeaderError(
      `its header claims ${tensorCount} tensors but the file is ${reader.size} bytes (each tensor entry takes at least ${MIN_TENSOR_INFO_BYTES})`,
    );
  }
  if (metadataCount * BigInt(MIN_METADATA_ENTRY_BYTES) + tensorCount * BigInt(MIN_TENSOR_INFO_BYTES) > rest) {
    throw new GgufHeaderError(
      `its header claims ${metadataCount} metadata entries and ${tensorCount} tensors but the file is ${reader.size} bytes (each metadata entry takes at least ${MIN_METADATA_ENTRY_BYTES})`,
    );
  }
  if (tensorCount > BigInt(GGUF_LIMITS.tensors)) {
    throw new GgufHeaderError(`its header claims ${tensorCount} tensors (at most ${GGUF_LIMITS.tensors} are accepted)`);
  }
  if (metadataCount > BigInt(GGUF_LIMITS.metadataEntries)) {
    throw new GgufHeaderError(
      `its header claims ${metadataCount} metadata entries (at most ${GGUF_LIMITS.metadataEntries} are accepted)`,
    );
  }
  return { version, tensorCount: Number(tensorCount), metadataCount: Number(metadataCount) };
}

async function skipValue(reader: HeaderReader, type: number, what: Describe, depth: number): Promise<void> {
  const width = FIXED_WIDTH[type];
  if (width !== undefined) return reader.skip(width, () => `the value of ${what()}`);
  if (type === STRING) return reader.skipStrings(1, what);
  if (type !== ARRAY) throw new GgufHeaderError(`${what()} has an unknown value type ${type}`);
  if (depth >= GGUF_LIMITS.arrayDepth) {
    throw new GgufHeaderError(`${what()} nests arrays deeper than ${GGUF_LIMITS.arrayDepth} levels`);
  }
  const elementType = await reader.u32(() => `the element type of ${what()}`);
  const count = await reader.u64Exact(() => `the array length of ${what()}`);
  if (count > BigInt(GGUF_LIMITS.arrayElements)) {
    throw new GgufHeaderError(
      `${what()} claims an array of ${count} elements (at most ${GGUF_LIMITS.arrayElements} are accepted)`,
    );
  }
  const elementWidth = FIXED_WIDTH[elementType];
  // Every element takes at least its fixed width, a string at least its 8-byte length, an array 12.
  const minimum = elementWidth ?? (elementType === STRING ? 8 : elementType === ARRAY ? 12 : undefined);
  if (minimum === undefined) throw new GgufHeaderError(`${what()} has an array of unknown value type ${elementType}`);
  const left = reader.size - reader.position;
  if (count * BigInt(minimum) > BigInt(left)) {
    throw new GgufHeaderError(
      `${what()} claims an array of ${count} elements but only ${left} bytes of the file remain`,
    );
  }
  const elements = Number(count);
  if (elementWidth !== undefined) return reader.skip(elements * elementWidth, () => `the array of ${what()}`);
  if (elementType === STRING) return reader.skipStrings(elements, what);
  for (let index = 0; index < elements; index++) {
    await skipValue(reader, elementType, () => `${what()}[${index}]`, depth + 1);
  }
}

/**
 * Reads a file forward in chunks of {@link CHUNK_BYTES}. Reads inside the current chunk are
 * synchronous (an await per value would keep the walk in the microtask queue anyway); only a chunk
 * refill awaits real I/O, which also lets other requests in between.
 */
class HeaderReader {
  position = 0;
  private chunk = Buffer.alloc(0);
  private chunkStart = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** Refuses headers beyond {@link GGUF_LIMITS.headerBytes}. */
  checkHeaderSize(): void {
    if (this.position > GGUF_LIMITS.headerBytes) {
      throw new GgufHeaderError(
        `its header is larger than ${GGUF_LIMITS.headerBytes} bytes (metadata and tensor entries); no real model needs that`,
      );
    }
  }

  async u32(what: Describe): Promise<number> {
    await this.ensure(4, what);
    const value = this.chunk.readUInt32LE(this.position - this.chunkStart);
    this.position += 4;
    return value;
  }

  /** A u64 exactly (counts that appear in error messages). */
  async u64Exact(what: Describe): Promise<bigint> {
    await this.ensure(8, what);
    const value = this.chunk.readBigUInt64LE(this.position - this.chunkStart);
    this.position += 8;
    return value;
  }

  /** `length` bytes as UTF-8 (callers bound `length` first). */
  async text(length: number, what: Describe): Promise<string> {
    await this.ensure(length, what);
    const offset = this.position - this.chunkStart;
    this.position += length;
    return this.chunk.toString("utf8", offset, offset + length);
  }

  /** Moves past `length` bytes without reading them (a long string is never held in memory). */
  skip(length: number, what: Describe): void {
    if (length > this.size - this.position) this.truncated(length, what);
    this.position += length;
  }

  /**
   * Moves past `count` length-prefixed strings, each bounded by the rest of the file and
   * {@link GGUF_LIMITS.stringBytes}. A tight loop: vocabularies have hundreds of thousands.
   */
  async skipStrings(count: number, what: Describe): Promise<void> {
    for (let index = 0; index < count; index++) {
      if (this.position + 8 > this.chunkStart + this.chunk.length) {
        await this.ensure(8, () => `the string length of ${count === 1 ? what() : `${what()}[${index}]`}`);
      }
      const length = this.readU64At(this.position - this.chunkStart);
      this.position += 8;
      const left = this.size - this.position;
      if (length > left || length > GGUF_LIMITS.stringBytes) {
        const exact = this.chunk.readBigUInt64LE(this.position - 8 - this.chunkStart);
        const claim = `${count === 1 ? what() : `${what()}[${index}]`} claims a string of ${exact} bytes`;
        throw new GgufHeaderError(
          length > left
            ? `${claim} but only ${left} bytes of the file remain`
            : `${claim} (at most ${GGUF_LIMITS.stringBytes} are accepted)`,
        );
      }
      this.position += length;
    }
  }

  private readU64At(offset: number): number {
    return this.chunk.readUInt32LE(offset + 4) * 2 ** 32 + this.chunk.readUInt32LE(offset);
  }

  private ensure(length: number, what: Describe): Promise<void> | undefined {
    if (length > this.size - this.position) this.truncated(length, what);
    if (this.position + length <= this.chunkStart + this.chunk.length) return;
    return this.fill(length);
  }

  private async fill(length: number): Promise<void> {
    const size = Math.min(Math.max(length, CHUNK_BYTES), this.size - this.position);
    const buffer = Buffer.allocUnsafe(size);
    const { bytesRead } = await this.handle.read(buffer, 0, size, this.position);
    if (bytesRead < length)
      throw new GgufHeaderError(`the file shrank while it was read (${this.size} bytes at start)`);
    this.chunk = buffer.subarray(0, bytesRead);
    this.chunkStart = this.position;
  }

  private truncated(length: number, what: Describe): never {
    throw new GgufHeaderError(
      `it is truncated: ${what()} at byte ${this.position} needs ${length} bytes but the file ends at byte ${this.size} (an interrupted download? pull it again)`,
    );
  }
}
