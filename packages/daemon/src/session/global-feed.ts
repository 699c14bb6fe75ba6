import { randomBytes } from "node:crypto";

/** A frame on `WS /v3/events`, kept in memory so a client can resume from its cursor. */
interface FeedEntry {
  index: number;
  tsMillis: number;
  frame: string;
}

/** Where a cursor points: this daemon's epoch and position, and the event time as a fallback. */
export interface ParsedCursor {
  epoch: string;
  index: number;
  tsMillis: number;
}

/**
 * The daemon-wide event feed. Every session event and daemon event gets a cursor
 * `<epoch>.<index>.<ms>`; a resume within this process's memory is exact, an older one (another
 * epoch, or evicted) falls back to replaying by time, a superset that clients dedupe by (sessionId, seq).
 */
export class GlobalFeed {
  readonly epoch = randomBytes(4).toString("hex");
  private next = 1;
  private readonly ring: FeedEntry[] = [];
  private readonly listeners = new Set<(frame: string) => void>();

  constructor(private readonly capacity = 50_000) {}

  /** Adds an event (its JSON object text) and returns the frame with its cursor. */
  publish(json: string, tsMillis: number): string {
    const index = this.next++;
    const cursor = `${this.epoch}.${index.toString(36)}.${tsMillis.toString(36)}`;
    const frame = `${json.slice(0, -1)},"cursor":"${cursor}"}`;
    this.ring.push({ index, tsMillis, frame });
    if (this.ring.length > this.capacity * 1.25) this.ring.splice(0, this.ring.length - this.capacity);
    for (const listener of this.listeners) listener(frame);
    return frame;
  }

  /** Frames strictly after the cursor when it can be honoured exactly from memory, else undefined. */
  framesAfter(cursor: ParsedCursor): string[] | undefined {
    if (cursor.epoch !== this.epoch) return undefined;
    const first = this.ring[0];
    if (first && cursor.index < first.index - 1) return undefined;
    const start = first ? Math.max(0, cursor.index - first.index + 1) : 0;
    return this.ring.slice(start).map((entry) => entry.frame);
  }

  /** Last cursor issued (or a start cursor when nothing has been published). */
  currentCursor(): string {
    const last = this.ring.at(-1);
    return `${this.epoch}.${(last?.index ?? 0).toString(36)}.${(last?.tsMillis ?? Date.now()).toString(36)}`;
  }

  onFrame(listener: (frame: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Parses a cursor; undefined when it is not one of ours. */
export function parseCursor(cursor: string): ParsedCursor | undefined {
  const parts = cursor.split(".");
  if (parts.length !== 3) return undefined;
  const [epoch, index, ts] = parts as [string, string, string];
  const parsedIndex = Number.parseInt(index, 36);
  const parsedTs = Number.parseInt(ts, 36);
  if (!/^[0-9a-f]{8}$/.test(epoch) || !Number.isFinite(parsedIndex) || !Number.isFinite(parsedTs)) return undefined;
  return { epoch, index: parsedIndex, tsMillis: parsedTs };
}
