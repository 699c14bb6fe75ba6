import { randomBytes } from "node:crypto";

/** A prefixed, time-sortable id (`inc-…`, `mnt-…`, `lmx-…`): id order is creation order. */
export function newId(prefix: string, now: number): string {
  return `${prefix}-${now.toString(36).padStart(9, "0")}${randomBytes(6).toString("hex")}`;
}
