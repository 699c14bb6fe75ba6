import { open } from "node:fs/promises";

/** Bytes inspected to decide whether a file is binary. */
export const BINARY_SNIFF_BYTES = 8192;

/** A file is treated as binary when its first bytes contain a NUL byte (as git and grep do). */
export function looksBinary(sample: Uint8Array): boolean {
  return sample.subarray(0, BINARY_SNIFF_BYTES).includes(0);
}

/** Reads the first BINARY_SNIFF_BYTES of a file and says whether it looks binary. */
export async function fileLooksBinary(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(BINARY_SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, BINARY_SNIFF_BYTES, 0);
    return looksBinary(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** Cuts an over-long line and says how much was cut, so the model knows it saw a fragment. */
export function capLine(line: string, max: number): string {
  if (line.length <= max) return line;
  return `${line.slice(0, max)} … [line truncated, ${line.length - max} more characters]`;
}

/** Splits text into lines, accepting \n and \r\n, without a phantom empty last line. */
export function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Human count with a singular/plural noun: "1 line", "3 lines". */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}
