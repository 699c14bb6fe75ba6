import { SECRET_DOTS as DOTS, maskSecret } from "@opta/local";

/** Known secrets shorter than this are not masked at all (too many false positives). */
export const MIN_SECRET_LENGTH = 6;
/**
 * Known secrets shorter than this are masked only as they are, not in their encoded forms: the
 * base64 of a 6-byte value is 8 characters that ordinary base64 or hex text contains by chance.
 */
export const MIN_ENCODED_SECRET_LENGTH = 8;

// Shapes of credentials, masked wherever they appear even when the exact key is unknown here.
const SECRET_SHAPES: RegExp[] = [/\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{8,}/g, /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi];
// The start of a shape at the end of streamed text: held back until it is complete.
const SHAPE_AT_END = /(?:\bsk-|\bBearer\s+)[A-Za-z0-9._~+/=-]*$/i;
const SHAPE_HOLD_LIMIT = 512;

/** A stretch of text to replace: [start, end) and what goes there. */
interface MaskRange {
  start: number;
  end: number;
  replacement: string;
}

type Encoding = "base64" | "hex" | "url-encoded";

/**
 * Every way a secret can show up encoded in tool output: base64 (standard and URL-safe alphabet,
 * padded or not), hex (lower and upper case) and percent-encoding; none for a secret shorter than
 * MIN_ENCODED_SECRET_LENGTH.
 *
 * A secret inside a larger base64 blob (`base64 /proc/self/environ`) starts at any byte offset, so
 * its characters there depend on that offset mod 3. For each of the three alignments this takes
 * the base64 of (offset filler bytes + secret) and keeps only the characters that depend on the
 * secret's bytes alone: those appear verbatim in the encoding of any blob holding the secret at
 * that alignment, whatever surrounds it.
 */
export function encodedForms(secret: string): Array<{ text: string; encoding: Encoding }> {
  if (secret.length < MIN_ENCODED_SECRET_LENGTH) return [];
  const bytes = Buffer.from(secret, "utf8");
  const base64 = new Set<string>();
  for (const offset of [0, 1, 2]) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const encoded = padded.toString("base64");
    // Characters 0..skip-1 carry bits of the filler; after the last full 3-byte group, only the
    // characters whose 6 bits all come from the secret are stable (1 of 2 after one byte, 2 of 3 after two).
    const skip = [0, 2, 3][offset] as number;
    const stableEnd = Math.floor(padded.length / 3) * 4 + Math.floor(((padded.length % 3) * 8) / 6);
    base64.add(encoded.slice(skip, stableEnd));
  }
  const whole = bytes.toString("base64");
  base64.add(whole).add(whole.replace(/=+$/, ""));
  for (const form of [...base64]) base64.add(form.replaceAll("+", "-").replaceAll("/", "_"));

  const hex = bytes.toString("hex");
  const everyByte = hex.replace(/../g, "%$&");
  const url = new Set([encodeURIComponent(secret), everyByte, everyByte.toUpperCase()]);
  url.delete(secret);
  return [
    ...[...base64].map((text) => ({ text, encoding: "base64" as const })),
    ...[hex, hex.toUpperCase()].map((text) => ({ text, encoding: "hex" as const })),
    ...[...url].map((text) => ({ text, encoding: "url-encoded" as const })),
  ].filter((form) => form.text.length >= MIN_ENCODED_SECRET_LENGTH);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** One alternation of literals, longest first so the longest form at a position wins. */
function literalPattern(literals: Iterable<string>, flags = "g"): RegExp | undefined {
  const sorted = [...new Set(literals)].sort((a, b) => b.length - a.length);
  return sorted.length ? new RegExp(sorted.map(escapeRegExp).join("|"), flags) : undefined;
}

// Stands in for text already masked, so that no encoded match can span it.
const BARRIER = "\u0000";

/**
 * Masks a fixed set of secrets, exactly and in their encoded forms, in one pass per kind: the
 * secrets themselves in the text as it is (in any letter case), the encoded forms and the secrets
 * again in the text with whitespace removed (so base64 wrapped at 76 columns, `od -An -tx1`, `xxd
 * -p`, `fold` and `sed 's/./& /g'` output are caught too). Built once per set of secrets (see
 * secretMasker) and reused for every text. Other transformations (reversed, rot13, base32,
 * compressed, split over two commands, dumps with offsets between the bytes) are not caught: the
 * sandbox keeps the daemon's secrets out of a command's reach.
 */
export class SecretMasker {
  private readonly rawPattern: RegExp | undefined;
  private readonly encodedPattern: RegExp | undefined;
  /** The secrets (long enough to encode), lower case, sought in the whitespace-free text in any case. */
  private readonly spreadPattern: RegExp | undefined;
  private readonly raw: string[];
  private readonly encoded: string[];
  private readonly spread: string[];
  private readonly replacements = new Map<string, string>();

  constructor(secrets: Iterable<string | undefined>) {
    const raw = new Set<string>();
    const encoded = new Set<string>();
    const spread = new Set<string>();
    for (const secret of secrets) {
      if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
      raw.add(secret);
      this.replacements.set(secret, maskSecret(secret));
      this.replacements.set(secret.toLowerCase(), maskSecret(secret));
      if (secret.length < MIN_ENCODED_SECRET_LENGTH) continue;
      // `fold`, `sed 's/./& /g'` and `tr a-z A-Z` keep the secret readable: seek it spaced out and in any case.
      spread.add(secret.toLowerCase());
      for (const form of encodedForms(secret)) {
        if (this.replacements.has(form.text)) continue;
        encoded.add(form.text);
        this.replacements.set(form.text, `[${form.encoding} of ${maskSecret(secret)}]`);
      }
    }
    this.raw = [...raw].map((secret) => secret.toLowerCase());
    this.encoded = [...encoded];
    this.spread = [...spread];
    this.rawPattern = literalPattern(raw, "gi");
    this.encodedPattern = literalPattern(encoded);
    this.spreadPattern = literalPattern(spread, "gi");
  }

  /** `text` with every known secret (and anything shaped like an API key) replaced by its mask. */
  mask(text: string): string {
    return this.maskShapes(applyRanges(text, this.ranges(text)));
  }

  /** Masks text that arrives in pieces (a model's streamed answer); see SecretStream. */
  stream(): SecretStream {
    return new SecretStream(this);
  }

  /** Where the secrets and their encoded forms are in `text`, in order, not overlapping. */
  ranges(text: string): MaskRange[] {
    const found: MaskRange[] = [];
    if (this.rawPattern) {
      for (const match of text.matchAll(this.rawPattern)) {
        found.push({ start: match.index, end: match.index + match[0].length, replacement: this.replace(match[0]) });
      }
    }
    if (!this.encodedPattern && !this.spreadPattern) return found;
    const { view, positions } = whitespaceFree(text, found);
    const encoded: MaskRange[] = [];
    for (const pattern of [this.encodedPattern, this.spreadPattern]) {
      if (!pattern) continue;
      for (const match of view.matchAll(pattern)) {
        const start = positions[match.index] as number;
        const end = (positions[match.index + match[0].length - 1] as number) + 1;
        encoded.push({ start, end, replacement: this.replace(match[0]) });
      }
    }
    if (encoded.length === 0) return found;
    // Overlaps (a secret spread out inside its own base64, say) are skipped by applyRanges.
    return [...found, ...encoded].sort((a, b) => a.start - b.start || b.end - a.end);
  }

  /**
   * Where the unfinished start of a secret, an encoded form or a key-shaped token may begin at the
   * end of `text`: the earliest position at or after `from` from which the rest of `text` (at
   * least `minimum` characters of it, whitespace aside for encoded forms) is a proper prefix of
   * one; `text.length` when there is none.
   */
  holdStart(text: string, from: number, minimum: number): number {
    let hold = text.length;
    const longestRaw = this.raw.reduce((most, secret) => Math.max(most, secret.length), 0);
    for (let index = Math.max(0, text.length - longestRaw + 1); index <= text.length - minimum; index += 1) {
      const tail = text.slice(index).toLowerCase();
      if (this.raw.some((secret) => secret.length > tail.length && secret.startsWith(tail))) {
        hold = Math.max(index, from);
        break;
      }
    }
    const longestEncoded = [...this.encoded, ...this.spread].reduce((most, form) => Math.max(most, form.length), 0);
    if (longestEncoded > 0) {
      // The last longestEncoded-1 non-whitespace characters: where an unfinished form could start.
      const tailPositions: number[] = [];
      for (let index = text.length - 1; index >= 0 && tailPositions.length < longestEncoded - 1; index -= 1) {
        if (!isBlank(text.charCodeAt(index))) tailPositions.unshift(index);
      }
      let view = tailPositions.map((index) => text[index]).join("");
      for (const position of tailPositions) {
        if (view.length < minimum || position >= hold) break;
        const lower = view.toLowerCase();
        if (
          this.encoded.some((form) => form.length > view.length && form.startsWith(view)) ||
          this.spread.some((form) => form.length > view.length && form.startsWith(lower))
        ) {
          hold = Math.min(hold, Math.max(position, from));
          break;
        }
        view = view.slice(1);
      }
    }
    const window = Math.max(from, text.length - SHAPE_HOLD_LIMIT);
    const shape = SHAPE_AT_END.exec(text.slice(window));
    if (shape) hold = Math.min(hold, window + shape.index);
    return hold;
  }

  /** The key-shaped tokens of SECRET_SHAPES in `text` masked. */
  maskShapes(text: string): string {
    let out = text;
    for (const shape of SECRET_SHAPES) {
      out = out.replace(shape, (match, bearer?: string) =>
        typeof bearer === "string" ? `${bearer}${DOTS}` : maskSecret(match),
      );
    }
    return out;
  }

  private replace(found: string): string {
    return this.replacements.get(found) ?? this.replacements.get(found.toLowerCase()) ?? DOTS;
  }
}

/**
 * Streamed text is held back only when its end is at least this many characters into a possible
 * secret or encoded form, so ordinary deltas pass as they come (a shorter tail would match by
 * chance in one delta of five). The price: up to STREAM_MIN_PREFIX-1 leading characters of a
 * form can go out before it is recognised; the rest of it is masked.
 */
export const STREAM_MIN_PREFIX = 4;
// Text already let go that a later match may start in (at most STREAM_MIN_PREFIX-1 characters, plus whitespace).
const STREAM_CARRY = 128;

/**
 * Masks a stream of text deltas. A secret or one of its encoded forms can be split across deltas:
 * the end of what has arrived is held back while it is well into one, and a match that began in
 * text already let go is masked from where the new text starts. `flush` lets the rest go at the
 * end of the stream.
 */
export class SecretStream {
  private pending = "";
  private carry = "";

  constructor(private readonly masker: SecretMasker) {}

  /** Takes the next delta; returns the masked text that can be shown and stored now (maybe ""). */
  push(delta: string): string {
    this.pending += delta;
    const context = this.carry + this.pending;
    const offset = this.carry.length;
    const ranges = this.masker.ranges(context);
    let cut = this.masker.holdStart(context, offset, STREAM_MIN_PREFIX);
    for (const range of ranges) {
      // Never split a match: hold one that starts in the new text, finish one that started before it.
      if (range.start < cut && range.end > cut) cut = range.start >= offset ? range.start : range.end;
    }
    return cut <= offset ? "" : this.release(context, offset, cut, ranges);
  }

  /** Everything still held back, masked. */
  flush(): string {
    if (!this.pending) return "";
    const context = this.carry + this.pending;
    return this.release(context, this.carry.length, context.length, this.masker.ranges(context));
  }

  private release(context: string, offset: number, cut: number, ranges: readonly MaskRange[]): string {
    let out = "";
    let at = offset;
    for (const range of ranges) {
      if (range.end <= at || range.start >= cut) continue;
      out += context.slice(at, Math.max(range.start, at)) + range.replacement;
      at = range.end;
    }
    out += context.slice(at, cut);
    this.carry = context.slice(Math.max(0, cut - STREAM_CARRY), cut);
    this.pending = context.slice(cut);
    return this.masker.maskShapes(out);
  }
}

/** Space, tab, line feed, vertical tab, form feed, carriage return: what base64, od and xxd put between characters. */
function isBlank(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/** `text` without whitespace (masked ranges as one barrier each), and each kept character's index in `text`. */
function whitespaceFree(text: string, masked: readonly MaskRange[]): { view: string; positions: Int32Array } {
  const positions = new Int32Array(text.length);
  const parts: string[] = [];
  let length = 0;
  let next = 0;
  let runStart = 0;
  for (let index = 0; index < text.length; index += 1) {
    const range = masked[next];
    if (range && index === range.start) {
      parts.push(text.slice(runStart, index), BARRIER);
      positions[length++] = index;
      index = range.end - 1;
      runStart = range.end;
      next += 1;
      continue;
    }
    if (isBlank(text.charCodeAt(index))) {
      parts.push(text.slice(runStart, index));
      runStart = index + 1;
      continue;
    }
    positions[length++] = index;
  }
  parts.push(text.slice(runStart));
  return { view: parts.join(""), positions };
}

function applyRanges(text: string, ranges: readonly MaskRange[]): string {
  if (ranges.length === 0) return text;
  let out = "";
  let at = 0;
  for (const range of ranges) {
    if (range.start < at) continue;
    out += text.slice(at, range.start) + range.replacement;
    at = range.end;
  }
  return out + text.slice(at);
}

// A daemon asks with the same few secrets thousands of times; building the patterns is the costly part.
const MASKER_CACHE_SIZE = 16;
const maskers = new Map<string, SecretMasker>();

/** The masker for a set of secrets, built once and cached (the last 16 sets). */
export function secretMasker(secrets: Iterable<string | undefined>): SecretMasker {
  const list = [...new Set([...secrets].filter((secret): secret is string => Boolean(secret)))].sort();
  const key = list.join("\u0000");
  let masker = maskers.get(key);
  if (masker) {
    maskers.delete(key);
  } else {
    masker = new SecretMasker(list);
    if (maskers.size >= MASKER_CACHE_SIZE) maskers.delete(maskers.keys().next().value as string);
  }
  maskers.set(key, masker);
  return masker;
}

/**
 * Replaces every known secret — as it is, and (for secrets of 8 characters or more) in base64,
 * hex and URL-encoded form — and anything shaped like an API key in `text` with its mask.
 */
export function redactSecrets(text: string, secrets: Iterable<string | undefined> = []): string {
  return secretMasker(secrets).mask(text);
}

/** `value` with `redact` applied to every string in it (keys included); the same object when nothing changed. */
export function redactValue<T>(value: T, redact: (text: string) => string): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) {
    let changed = false;
    const mapped = value.map((item) => {
      const masked = redactValue(item, redact);
      if (masked !== item) changed = true;
      return masked;
    });
    return (changed ? mapped : value) as T;
  }
  if (value !== null && typeof value === "object") {
    let changed = false;
    const entries = Object.entries(value).map(([key, item]) => {
      const maskedKey = redact(key);
      const masked = redactValue(item, redact);
      if (masked !== item || maskedKey !== key) changed = true;
      return [maskedKey, masked] as const;
    });
    return (changed ? Object.fromEntries(entries) : value) as T;
  }
  return value;
}
