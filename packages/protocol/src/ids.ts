/** Prefix of each kind of id: sessions, turns, tool calls, permission requests, client grants. */
export type IdPrefix = "s" | "t" | "c" | "p" | "g";

let lastTime = 0;
let counter = 0;

/**
 * Creates a prefixed, time-sortable id (`s-…`): 9 base36 chars of milliseconds, a 3-char counter
 * for ids made in the same millisecond, then random chars. Lexical order is creation order.
 */
export function createId(prefix: IdPrefix): string {
  const now = Date.now();
  if (now === lastTime) counter += 1;
  else {
    lastTime = now;
    counter = 0;
  }
  const time = now.toString(36).padStart(9, "0");
  const seq = counter.toString(36).padStart(3, "0");
  const bytes = new Uint8Array(5);
  globalThis.crypto.getRandomValues(bytes);
  const random = Array.from(bytes, (b) => (b % 36).toString(36)).join("");
  return `${prefix}-${time}${seq}${random}`;
}

/** True when a string looks like an id this package made (safe to use in a file name). */
export function isSafeId(value: string): boolean {
  return /^[a-z]-[0-9a-z]{8,64}$/.test(value);
}
