/**
 * A small line diff, shared by the daemon (the bounded `diff` of a write_file result) and Code
 * Desktop (the diff card of write_file and edit_file), so both speak the same unified format.
 * Pure: no I/O.
 */

/** One line of a diff. Line numbers are 1-based; an added line has no old number, a removed one no new. */
export interface DiffLine {
  kind: "context" | "add" | "remove";
  text: string;
  oldLine?: number;
  newLine?: number;
}

/** Beyond this many edits the diff gives up on a minimal script and shows a full replacement. */
const MAX_EDIT_DISTANCE = 1_000;

function splitTextLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/**
 * Every line of `before` and `after` as context, removed or added (Myers' O(ND) algorithm; past
 * MAX_EDIT_DISTANCE edits, everything removed then everything added, so a huge rewrite stays linear).
 */
export function diffLines(before: string, after: string): DiffLine[] {
  const a = splitTextLines(before);
  const b = splitTextLines(after);
  // Common prefix and suffix first: most edits touch a few lines of a long file.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const middle = myers(a.slice(start, endA), b.slice(start, endB));
  const out: DiffLine[] = [];
  for (let index = 0; index < start; index++) {
    out.push({ kind: "context", text: a[index]!, oldLine: index + 1, newLine: index + 1 });
  }
  let oldLine = start + 1;
  let newLine = start + 1;
  for (const op of middle) {
    if (op.kind === "context") out.push({ kind: "context", text: op.text, oldLine: oldLine++, newLine: newLine++ });
    else if (op.kind === "remove") out.push({ kind: "remove", text: op.text, oldLine: oldLine++ });
    else out.push({ kind: "add", text: op.text, newLine: newLine++ });
  }
  for (let index = endA; index < a.length; index++) {
    out.push({ kind: "context", text: a[index]!, oldLine: oldLine++, newLine: newLine++ });
  }
  return out;
}

function myers(a: string[], b: string[]): Array<{ kind: DiffLine["kind"]; text: string }> {
  const n = a.length;
  const m = b.length;
  const replaceAll = () => [
    ...a.map((text) => ({ kind: "remove" as const, text })),
    ...b.map((text) => ({ kind: "add" as const, text })),
  ];
  if (n === 0 || m === 0) return replaceAll();
  const max = Math.min(n + m, MAX_EDIT_DISTANCE);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return replaceAll();
  // Walk the trace back from the end to recover the edit script.
  const ops: Array<{ kind: DiffLine["kind"]; text: string }> = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const previous = trace[d]!;
    const k = x - y;
    const down = k === -d || (k !== d && previous[offset + k - 1]! < previous[offset + k + 1]!);
    const prevK = down ? k + 1 : k - 1;
    const prevX = previous[offset + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push({ kind: "context", text: a[--x]! });
      y--;
    }
    if (down) ops.push({ kind: "add", text: b[--y]! });
    else ops.push({ kind: "remove", text: a[--x]! });
  }
  while (x > 0 && y > 0) {
    ops.push({ kind: "context", text: a[--x]! });
    y--;
  }
  return ops.reverse();
}

/** A unified diff (`@@ -a,b +c,d @@` hunks with `context` lines around each change), at most `maxChars`. */
export function unifiedDiff(
  before: string,
  after: string,
  options: { context?: number; maxChars?: number } = {},
): { text: string; truncated: boolean; added: number; removed: number } {
  const context = options.context ?? 3;
  const maxChars = options.maxChars ?? Number.POSITIVE_INFINITY;
  const lines = diffLines(before, after);
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    if (line.kind === "add") added++;
    else if (line.kind === "remove") removed++;
  }
  // Which lines are shown: every change and `context` lines either side.
  const shown = new Uint8Array(lines.length);
  lines.forEach((line, index) => {
    if (line.kind === "context") return;
    for (let at = Math.max(0, index - context); at <= Math.min(lines.length - 1, index + context); at++) shown[at] = 1;
  });
  const out: string[] = [];
  let size = 0;
  let truncated = false;
  let index = 0;
  while (index < lines.length && !truncated) {
    if (!shown[index]) {
      index++;
      continue;
    }
    let end = index;
    while (end < lines.length && shown[end]) end++;
    const hunk = lines.slice(index, end);
    const oldStart = hunk.find((line) => line.oldLine !== undefined)?.oldLine ?? lineBefore(lines, index, "oldLine");
    const newStart = hunk.find((line) => line.newLine !== undefined)?.newLine ?? lineBefore(lines, index, "newLine");
    const oldCount = hunk.filter((line) => line.kind !== "add").length;
    const newCount = hunk.filter((line) => line.kind !== "remove").length;
    const body = [
      `@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`,
      ...hunk.map((line) => `${line.kind === "add" ? "+" : line.kind === "remove" ? "-" : " "}${line.text}`),
    ];
    for (const text of body) {
      if (size + text.length + 1 > maxChars) {
        truncated = true;
        break;
      }
      out.push(text);
      size += text.length + 1;
    }
    index = end;
  }
  return { text: out.join("\n"), truncated, added, removed };
}

function lineBefore(lines: DiffLine[], index: number, key: "oldLine" | "newLine"): number {
  for (let at = index - 1; at >= 0; at--) {
    const value = lines[at]![key];
    if (value !== undefined) return value;
  }
  return 0;
}

/** The lines of a unified diff (as `unifiedDiff` writes it), numbered; hunk headers become `null` gaps. */
export function parseUnifiedDiff(text: string): Array<DiffLine | null> {
  const out: Array<DiffLine | null> = [];
  let oldLine = 0;
  let newLine = 0;
  for (const raw of text.split("\n")) {
    const header = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(raw);
    if (header) {
      if (out.length > 0) out.push(null);
      oldLine = Number(header[1]);
      newLine = Number(header[2]);
      continue;
    }
    const sign = raw[0];
    const body = raw.slice(1);
    if (sign === "+") out.push({ kind: "add", text: body, newLine: newLine++ });
    else if (sign === "-") out.push({ kind: "remove", text: body, oldLine: oldLine++ });
    else if (sign === " ") out.push({ kind: "context", text: body, oldLine: oldLine++, newLine: newLine++ });
  }
  return out;
}
