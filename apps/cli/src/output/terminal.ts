/** Small output helpers: colour only on a TTY and without NO_COLOR. */
import { UsageError } from "./errors.js";

const colorOn = (stream: NodeJS.WriteStream) => Boolean(stream.isTTY) && !process.env.NO_COLOR;

function wrap(open: number, close: number) {
  return (text: string, stream: NodeJS.WriteStream = process.stdout) =>
    colorOn(stream) ? `\u001b[${open}m${text}\u001b[${close}m` : text;
}

export const bold = wrap(1, 22);
export const dim = wrap(2, 22);
export const red = wrap(31, 39);
export const green = wrap(32, 39);
export const yellow = wrap(33, 39);

/** Writes a line to stdout. */
export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a line to stderr (notices that are not the command's output). */
export function notice(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Prints rows as aligned columns; the last column is not padded. */
export function table(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  print(dim(line(header)));
  for (const row of rows) print(line(row));
}

/** "3s ago", "5m ago", "2h ago", "4d ago". */
export function ago(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return iso;
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

/** "1h 2m", "3m 4s", "5s". */
export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

/** Shortens text to `max` characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Parses a positive integer flag value or throws a usage error naming the flag. */
export function parseCount(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new UsageError(`${flag} must be a whole number, got '${value}'`);
  return number;
}
