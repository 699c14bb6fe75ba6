/**
 * The composer's text buffer: multi-line text with a cursor, and its layout into rows of the
 * terminal's width (soft-wrapped), with the row and column of the cursor.
 */
import { width as textWidth } from "./text.js";

/** Text and cursor (an index into the text, in UTF-16 units at grapheme boundaries). */
export interface Buffer {
  text: string;
  cursor: number;
}

export const EMPTY: Buffer = { text: "", cursor: 0 };

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

function previousBoundary(text: string, index: number): number {
  let last = 0;
  for (const { index: at } of segmenter.segment(text)) {
    if (at >= index) break;
    last = at;
  }
  return last;
}

function nextBoundary(text: string, index: number): number {
  for (const { index: at, segment } of segmenter.segment(text)) {
    if (at >= index) return at + segment.length;
  }
  return text.length;
}

/** Inserts text at the cursor. */
export function insert(buffer: Buffer, text: string): Buffer {
  return {
    text: buffer.text.slice(0, buffer.cursor) + text + buffer.text.slice(buffer.cursor),
    cursor: buffer.cursor + text.length,
  };
}

/** Deletes the grapheme before the cursor. */
export function backspace(buffer: Buffer): Buffer {
  if (buffer.cursor === 0) return buffer;
  const start = previousBoundary(buffer.text, buffer.cursor);
  return { text: buffer.text.slice(0, start) + buffer.text.slice(buffer.cursor), cursor: start };
}

/** Moves the cursor one grapheme left or right. */
export function move(buffer: Buffer, direction: -1 | 1): Buffer {
  const cursor =
    direction < 0
      ? buffer.cursor === 0
        ? 0
        : previousBoundary(buffer.text, buffer.cursor)
      : nextBoundary(buffer.text, buffer.cursor);
  return { ...buffer, cursor };
}

/** Moves the cursor to the start or end of its line. */
export function lineEdge(buffer: Buffer, edge: "start" | "end"): Buffer {
  if (edge === "start") return { ...buffer, cursor: buffer.text.lastIndexOf("\n", buffer.cursor - 1) + 1 };
  const end = buffer.text.indexOf("\n", buffer.cursor);
  return { ...buffer, cursor: end < 0 ? buffer.text.length : end };
}

/** Deletes from the start of the line to the cursor (Ctrl+U). */
export function deleteToLineStart(buffer: Buffer): Buffer {
  const start = buffer.text.lastIndexOf("\n", buffer.cursor - 1) + 1;
  const from = start === buffer.cursor && start > 0 ? start - 1 : start;
  return { text: buffer.text.slice(0, from) + buffer.text.slice(buffer.cursor), cursor: from };
}

/** Deletes the word before the cursor (Ctrl+W). */
export function deleteWord(buffer: Buffer): Buffer {
  const before = buffer.text.slice(0, buffer.cursor);
  const match = /\S*\s*$/.exec(before);
  const start = buffer.cursor - (match?.[0].length ?? 0);
  return { text: buffer.text.slice(0, start) + buffer.text.slice(buffer.cursor), cursor: start };
}

/** One composer row: its text and where the cursor is on it, if it is. */
export interface Row {
  text: string;
  cursorColumn?: number;
}

/** Lays the buffer out in rows of at most `columns` cells (hard wrap; newlines start rows). */
export function layout(buffer: Buffer, columns: number): Row[] {
  const max = Math.max(2, columns);
  const rows: Row[] = [];
  let offset = 0;
  for (const line of buffer.text.split("\n")) {
    let row = "";
    let rowWidth = 0;
    let cursorColumn: number | undefined;
    let position = offset;
    for (const { segment } of segmenter.segment(line)) {
      const w = textWidth(segment);
      // Keep one cell free at the end of a row for the cursor.
      if (rowWidth + w > max - 1) {
        rows.push({ text: row, cursorColumn });
        row = "";
        rowWidth = 0;
        cursorColumn = undefined;
      }
      if (position === buffer.cursor) cursorColumn = rowWidth;
      row += segment;
      rowWidth += w;
      position += segment.length;
    }
    if (position === buffer.cursor) cursorColumn = rowWidth;
    rows.push({ text: row, cursorColumn });
    offset += line.length + 1;
  }
  return rows;
}
