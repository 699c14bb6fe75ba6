import { open } from "node:fs/promises";

/** GGUF metadata value types (ggml's `gguf_type`). */
export const GgufValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GgufValueType, "array">;

/** Tensor element types this writer can produce (ggml's `ggml_type`). */
export const GgmlTensorType = { F32: 0, F16: 1 } as const;
export type GgmlTensorType = keyof typeof GgmlTensorType;

/** One metadata entry: a typed scalar or a typed array. */
export type GgufMetadataValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: "array"; itemType: GgufScalarType; value: readonly (number | bigint | boolean | string)[] };

/** One tensor: its name, dims innermost-first (as ggml stores them), element type, and a data source. */
export type GgufTensor = {
  /** Tensor name, e.g. `blk.0.attn_q.weight`. */
  name: string;
  /** Dimensions innermost-first: `token_embd.weight` is `[n_embd, n_vocab]`. */
  dims: readonly number[];
  /** Element type. */
  type: GgmlTensorType;
  /** Produces the tensor's raw bytes (little-endian); called once, in file order, so memory stays bounded. */
  data: () => Uint8Array;
};

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
const GGUF_VERSION = 3;
const DEFAULT_ALIGNMENT = 32;

/** Byte size of a tensor of the given type and dims. */
export function tensorByteLength(type: GgmlTensorType, dims: readonly number[]): number {
  const elements = dims.reduce((product, dim) => product * dim, 1);
  return elements * (type === "F32" ? 4 : 2);
}

type ScalarWriter = (buffer: Buffer, value: number | bigint | boolean | string) => number;

/** Writes one little-endian scalar at offset 0 and returns its byte length. */
const SCALAR_WRITERS: Record<Exclude<GgufScalarType, "string">, ScalarWriter> = {
  uint8: (buffer, value) => buffer.writeUInt8(Number(value)),
  int8: (buffer, value) => buffer.writeInt8(Number(value)),
  uint16: (buffer, value) => buffer.writeUInt16LE(Number(value)),
  int16: (buffer, value) => buffer.writeInt16LE(Number(value)),
  uint32: (buffer, value) => buffer.writeUInt32LE(Number(value)),
  int32: (buffer, value) => buffer.writeInt32LE(Number(value)),
  float32: (buffer, value) => buffer.writeFloatLE(Number(value)),
  bool: (buffer, value) => buffer.writeUInt8(value ? 1 : 0),
  uint64: (buffer, value) => buffer.writeBigUInt64LE(BigInt(value)),
  int64: (buffer, value) => buffer.writeBigInt64LE(BigInt(value)),
  float64: (buffer, value) => buffer.writeDoubleLE(Number(value)),
};

/** Serialises GGUF v3 headers into growing buffers. */
class ByteWriter {
  private chunks: Buffer[] = [];
  length = 0;

  private push(buffer: Buffer): void {
    this.chunks.push(buffer);
    this.length += buffer.length;
  }

  u32(value: number): void {
    const buffer = Buffer.allocUnsafe(4);
    buffer.writeUInt32LE(value);
    this.push(buffer);
  }

  u64(value: number | bigint): void {
    const buffer = Buffer.allocUnsafe(8);
    buffer.writeBigUInt64LE(BigInt(value));
    this.push(buffer);
  }

  string(value: string): void {
    const bytes = Buffer.from(value, "utf8");
    this.u64(bytes.length);
    this.push(bytes);
  }

  scalar(type: GgufScalarType, value: number | bigint | boolean | string): void {
    if (type === "string") {
      this.string(String(value));
      return;
    }
    const buffer = Buffer.allocUnsafe(8);
    const length = SCALAR_WRITERS[type](buffer, value);
    this.push(buffer.subarray(0, length));
  }

  padTo(alignment: number): void {
    const padding = (alignment - (this.length % alignment)) % alignment;
    if (padding > 0) this.push(Buffer.alloc(padding));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/**
 * Writes a GGUF v3 file: header, metadata, tensor infos, then each tensor's data aligned to
 * `general.alignment` (32 unless the metadata says otherwise). Tensor data is produced one tensor
 * at a time, so a model of hundreds of megabytes never sits in memory whole.
 */
export async function writeGguf(
  path: string,
  metadata: ReadonlyMap<string, GgufMetadataValue>,
  tensors: readonly GgufTensor[],
): Promise<void> {
  const alignmentEntry = metadata.get("general.alignment");
  const alignment = alignmentEntry?.type === "uint32" ? Number(alignmentEntry.value) : DEFAULT_ALIGNMENT;
  const header = new ByteWriter();
  header.u32(GGUF_MAGIC);
  header.u32(GGUF_VERSION);
  header.u64(tensors.length);
  header.u64(metadata.size);
  for (const [key, entry] of metadata) {
    header.string(key);
    if (entry.type === "array") {
      header.u32(GgufValueType.array);
      header.u32(GgufValueType[entry.itemType]);
      header.u64(entry.value.length);
      for (const item of entry.value) header.scalar(entry.itemType, item);
    } else {
      header.u32(GgufValueType[entry.type]);
      header.scalar(entry.type, entry.value);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const tensor of tensors) {
    header.string(tensor.name);
    header.u32(tensor.dims.length);
    for (const dim of tensor.dims) header.u64(dim);
    header.u32(GgmlTensorType[tensor.type]);
    header.u64(offset);
    offsets.push(offset);
    offset += tensorByteLength(tensor.type, tensor.dims);
    offset += (alignment - (offset % alignment)) % alignment;
  }
  header.padTo(alignment);

  const file = await open(path, "w");
  try {
    await file.write(header.toBuffer());
    let written = 0;
    for (const [index, tensor] of tensors.entries()) {
      const padding = offsets[index]! - written;
      if (padding > 0) await file.write(Buffer.alloc(padding));
      const bytes = tensor.data();
      const expected = tensorByteLength(tensor.type, tensor.dims);
      if (bytes.byteLength !== expected) {
        throw new Error(`tensor ${tensor.name} produced ${bytes.byteLength} bytes, expected ${expected}`);
      }
      await file.write(bytes);
      written = offsets[index]! + bytes.byteLength;
    }
    const tail = (alignment - (written % alignment)) % alignment;
    if (tail > 0) await file.write(Buffer.alloc(tail));
  } finally {
    await file.close();
  }
}
