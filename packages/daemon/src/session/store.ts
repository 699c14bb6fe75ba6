import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import {
  createId,
  isSafeId,
  type Mode,
  type RemovedSession,
  SessionEvent,
  type SessionEventInput,
  type SessionEventName,
  type SessionInfo,
  TurnErrorCode,
} from "@opta/protocol";
import { peekSeq, readLines, SessionFile } from "../event-log/session-file.js";
import type { Logger } from "../log/logger.js";
import type { GlobalFeed } from "./global-feed.js";
import { applyEvent, emptyRecord, type SessionRecord, toSessionInfo } from "./session-state.js";

/** Called with every event appended to a session, after it is in the file. */
export type SessionListener = (event: SessionEvent, line: string) => void;

/** Events after which the file is fsynced: turn boundaries and anything a user waits on. */
const DURABLE_EVENTS: ReadonlySet<SessionEventName> = new Set([
  "session.start",
  "turn.start",
  "turn.done",
  "turn.error",
  "session.cancelled",
  "turn.paused",
  "turn.resumed",
  "session.compacted",
  "compaction.cancelled",
  "permission.request",
  "permission.resolved",
]);

const INDEX_VERSION = 1;
const IDLE_FILE_CLOSE_MS = 60_000;

interface Pending {
  lines: string[];
  events: SessionEvent[];
}

interface OpenFile {
  file: SessionFile;
  lastUsed: number;
}

/** Input to create a session. */
export interface CreateSessionInput {
  title?: string;
  cwd: string;
  mode: Mode;
  model: string;
}

/**
 * Owns every session: its append-only JSONL file, its metadata record, and the live fan-out of its
 * events. Appends assign `seq` (gapless from 1) and `ts`, are batched within an event-loop turn,
 * written before any listener sees them, and fsynced at turn boundaries.
 */
export class SessionStore {
  private readonly records = new Map<string, SessionRecord>();
  private readonly files = new Map<string, OpenFile>();
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<SessionListener>>();
  private readonly removedListeners = new Map<string, Set<() => void>>();
  private flushScheduled = false;
  private indexDirty = false;
  private indexTimer: NodeJS.Timeout | undefined;
  private indexSave: Promise<void> = Promise.resolve();
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastTsMillis = 0;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    private readonly feed: GlobalFeed,
  ) {}

  /**
   * Loads the index, rebuilds any record whose file changed behind it (or that it lacks), repairs torn
   * last lines, and marks turns that were running when the daemon died as interrupted (a paused
   * turn was not running: it stays paused, to be resumed).
   */
  async init(): Promise<{ interrupted: string[]; repaired: string[] }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const indexed = await this.loadIndex();
    const names = (await readdir(this.dir)).filter((name) => name.endsWith(".jsonl"));
    const repaired: string[] = [];
    for (const name of names) {
      const id = name.slice(0, -".jsonl".length);
      if (!isSafeId(id)) continue;
      const path = this.pathOf(id);
      const size = (await stat(path)).size;
      const known = indexed.get(id);
      if (known && known.bytes === size && size > 0) {
        this.records.set(id, known);
        continue;
      }
      const { file, repair } = SessionFile.open(path);
      file.close();
      if (repair.truncatedBytes > 0) {
        repaired.push(id);
        this.logger.warn("session", `Repaired torn last line of session ${id}`, { bytes: repair.truncatedBytes });
      }
      const record = await this.rebuild(id);
      if (record) this.records.set(id, record);
    }
    const interrupted: string[] = [];
    for (const record of this.records.values()) {
      if (record.activeTurnId) {
        interrupted.push(record.id);
        this.append(record.id, {
          event: "turn.error",
          turnId: record.activeTurnId,
          code: TurnErrorCode.interrupted,
          message: "The daemon stopped before this turn finished; send the turn again to continue.",
          retryable: true,
        });
      }
    }
    this.flush();
    this.indexDirty = true;
    await this.saveIndex();
    this.sweepTimer = setInterval(() => this.closeIdleFiles(), IDLE_FILE_CLOSE_MS).unref();
    return { interrupted, repaired };
  }

  /** Creates a session and writes its `session.start` event. */
  create(input: CreateSessionInput): SessionRecord {
    const id = createId("s");
    const record = emptyRecord(id);
    this.records.set(id, record);
    this.append(id, {
      event: "session.start",
      title: input.title ?? "",
      cwd: input.cwd,
      mode: input.mode,
      model: input.model,
    });
    return record;
  }

  get(id: string): SessionRecord | undefined {
    return this.records.get(id);
  }

  /** Sessions newest first, filtered by a case-insensitive match on title or id. */
  list(options: { q?: string; limit: number }): SessionInfo[] {
    const query = options.q?.trim().toLowerCase();
    const matches: SessionRecord[] = [];
    for (const record of this.records.values()) {
      if (!query || record.id.toLowerCase().includes(query) || record.title.toLowerCase().includes(query)) {
        matches.push(record);
      }
    }
    matches.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : b.id.localeCompare(a.id)));
    return matches.slice(0, options.limit).map(toSessionInfo);
  }

  /** Count of sessions and of those with a running turn. */
  counts(): { total: number; active: number } {
    let active = 0;
    for (const record of this.records.values()) if (record.activeTurnId) active += 1;
    return { total: this.records.size, active };
  }

  /**
   * Appends one event: assigns seq and ts, queues the write, and returns the envelope. Listeners are
   * called once the line is in the file (same event-loop turn for durable events, else the next).
   */
  append(sessionId: string, input: SessionEventInput): SessionEvent {
    if (this.closed) throw new Error("session store is closed");
    const record = this.records.get(sessionId);
    if (!record) throw new Error(`unknown session ${sessionId}`);
    const now = Math.max(Date.now(), this.lastTsMillis);
    this.lastTsMillis = now;
    // Key order puts seq first on the line, which replay relies on to skip lines without parsing them.
    const head = { seq: record.lastSeq + 1, event: input.event, ts: new Date(now).toISOString(), sessionId };
    const envelope = Object.assign(head, input) as SessionEvent;
    applyEvent(record, envelope);
    const line = JSON.stringify(envelope);
    let pending = this.pending.get(sessionId);
    if (!pending) {
      pending = { lines: [], events: [] };
      this.pending.set(sessionId, pending);
    }
    pending.lines.push(line);
    pending.events.push(envelope);
    this.indexDirty = true;
    if (DURABLE_EVENTS.has(input.event)) {
      this.flushSession(sessionId, true);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    this.scheduleIndexSave();
    return envelope;
  }

  /** Writes every queued event and notifies listeners; `durable` also fsyncs. */
  flush(durable = false): void {
    this.flushScheduled = false;
    for (const sessionId of [...this.pending.keys()]) this.flushSession(sessionId, durable);
  }

  /** Stored lines (exact bytes of each envelope) with seq > afterSeq. */
  async readLines(sessionId: string, afterSeq = 0): Promise<string[]> {
    if (!this.records.has(sessionId)) throw new Error(`unknown session ${sessionId}`);
    const path = this.pathOf(sessionId);
    if (!existsSync(path)) return [];
    const lines = await readLines(path);
    if (afterSeq <= 0) return lines;
    // Seqs are gapless from 1, so line i holds seq i+1: jump there, then verify.
    let start = Math.min(afterSeq, lines.length);
    while (start > 0 && peekSeq(lines[start - 1]!) > afterSeq) start -= 1;
    while (start < lines.length && peekSeq(lines[start]!) <= afterSeq) start += 1;
    return lines.slice(start);
  }

  /** Parsed events with seq > afterSeq. */
  async readEvents(sessionId: string, afterSeq = 0): Promise<SessionEvent[]> {
    const lines = await this.readLines(sessionId, afterSeq);
    const events: SessionEvent[] = [];
    for (const line of lines) events.push(JSON.parse(line) as SessionEvent);
    return events;
  }

  /** Validates a stored file line by line (used by tests and `opta doctor`). */
  async verify(sessionId: string): Promise<{ ok: boolean; problems: string[] }> {
    const lines = await readLines(this.pathOf(sessionId));
    const problems: string[] = [];
    lines.forEach((line, index) => {
      const parsed = SessionEvent.safeParse(JSON.parse(line));
      if (!parsed.success) problems.push(`line ${index + 1}: ${parsed.error.issues[0]?.message}`);
      else if (parsed.data.seq !== index + 1) problems.push(`line ${index + 1}: seq ${parsed.data.seq}`);
    });
    return { ok: problems.length === 0, problems };
  }

  /** Listens to one session's events as they are written. */
  subscribe(sessionId: string, listener: SessionListener): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) {
      set = new Set();
      this.listeners.set(sessionId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(sessionId);
    };
  }

  /**
   * Takes a session out of the store: its JSONL file is gzipped to `archive/<id>.jsonl.gz` (written
   * to a temp name, then renamed: an archive is never half-written) and removed, or with `purge`
   * simply removed. Streams following it are told (`onRemoved`). The caller checks for a running turn.
   */
  async remove(sessionId: string, options: { purge: boolean }): Promise<RemovedSession> {
    const record = this.records.get(sessionId);
    if (!record) throw new Error(`unknown session ${sessionId}`);
    this.flushSession(sessionId, true);
    this.files.get(sessionId)?.file.close();
    this.files.delete(sessionId);
    const path = this.pathOf(sessionId);
    const removed: RemovedSession = {
      id: record.id,
      title: record.title,
      cwd: record.cwd,
      updatedAt: record.updatedAt,
    };
    // Out of the store before the first await: no turn, rename or stream can start on it meanwhile.
    this.records.delete(sessionId);
    try {
      if (!options.purge && existsSync(path)) {
        const archiveDir = join(this.dir, "archive");
        await mkdir(archiveDir, { recursive: true, mode: 0o700 });
        const target = join(archiveDir, `${sessionId}.jsonl.gz`);
        const temp = `${target}.${process.pid}.tmp`;
        await pipeline(createReadStream(path), createGzip(), createWriteStream(temp, { mode: 0o600 }));
        await rename(temp, target);
        removed.archivedTo = target;
      }
    } catch (error) {
      // Could not archive: the session stays, untouched.
      this.records.set(sessionId, record);
      throw error;
    }
    this.listeners.delete(sessionId);
    await rm(path, { force: true });
    // Its checkpoint copies go with it (an archive keeps the conversation, not the file snapshots).
    await rm(this.checkpointsDir(sessionId), { recursive: true, force: true });
    this.indexDirty = true;
    await this.saveIndex();
    const removedListeners = this.removedListeners.get(sessionId);
    this.removedListeners.delete(sessionId);
    for (const listener of removedListeners ?? []) listener();
    this.logger.info("session", `Session ${sessionId} ${removed.archivedTo ? "archived" : "purged"}`, {
      ...(removed.archivedTo ? { archivedTo: removed.archivedTo } : {}),
    });
    return removed;
  }

  /** Calls `listener` once if the session is removed (deleted or pruned). */
  onRemoved(sessionId: string, listener: () => void): () => void {
    let set = this.removedListeners.get(sessionId);
    if (!set) {
      set = new Set();
      this.removedListeners.set(sessionId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.removedListeners.delete(sessionId);
    };
  }

  /** Sessions last updated before `cutoff` (ISO time), oldest first, with those that must be kept. */
  staleSessions(cutoff: string): { stale: SessionRecord[]; kept: Array<{ id: string; reason: "running" | "pinned" }> } {
    const stale: SessionRecord[] = [];
    const kept: Array<{ id: string; reason: "running" | "pinned" }> = [];
    for (const record of this.records.values()) {
      if (!(record.updatedAt < cutoff)) continue;
      if (record.activeTurnId) kept.push({ id: record.id, reason: "running" });
      else if (record.pinned) kept.push({ id: record.id, reason: "pinned" });
      else stale.push(record);
    }
    stale.sort((a, b) => (a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : a.id.localeCompare(b.id)));
    return { stale, kept };
  }

  /** Flushes and closes every file and saves the index. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush(true);
    this.closed = true;
    if (this.indexTimer) clearTimeout(this.indexTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const { file } of this.files.values()) file.close();
    this.files.clear();
    this.indexDirty = true;
    await this.saveIndex();
  }

  /** Where one session's checkpoint copies live (`sessions/checkpoints/<id>/`). */
  checkpointsDir(sessionId?: string): string {
    return sessionId === undefined ? join(this.dir, "checkpoints") : join(this.dir, "checkpoints", sessionId);
  }

  pathOf(sessionId: string): string {
    return join(this.dir, `${sessionId}.jsonl`);
  }

  private flushSession(sessionId: string, durable: boolean): void {
    const pending = this.pending.get(sessionId);
    if (!pending) return;
    this.pending.delete(sessionId);
    const file = this.fileOf(sessionId);
    try {
      file.append(`${pending.lines.join("\n")}\n`);
      if (durable) file.sync();
    } catch (error) {
      this.logger.error("session", `Could not write session ${sessionId}`, { error: (error as Error).message });
      throw error;
    }
    const record = this.records.get(sessionId);
    if (record) {
      record.bytes = file.size;
      record.writtenSeq = pending.events.at(-1)!.seq;
    }
    const listeners = this.listeners.get(sessionId);
    for (let index = 0; index < pending.events.length; index += 1) {
      const event = pending.events[index]!;
      const line = pending.lines[index]!;
      if (listeners) for (const listener of listeners) listener(event, line);
      this.feed.publish(line, Date.parse(event.ts));
    }
  }

  private fileOf(sessionId: string): SessionFile {
    const open = this.files.get(sessionId);
    if (open) {
      open.lastUsed = Date.now();
      return open.file;
    }
    const { file, repair } = SessionFile.open(this.pathOf(sessionId));
    if (repair.truncatedBytes > 0) {
      this.logger.warn("session", `Repaired torn last line of session ${sessionId}`, { bytes: repair.truncatedBytes });
    }
    this.files.set(sessionId, { file, lastUsed: Date.now() });
    return file;
  }

  private closeIdleFiles(): void {
    const cutoff = Date.now() - IDLE_FILE_CLOSE_MS;
    for (const [sessionId, open] of this.files) {
      if (open.lastUsed < cutoff && !this.pending.has(sessionId) && !this.records.get(sessionId)?.activeTurnId) {
        open.file.close();
        this.files.delete(sessionId);
      }
    }
  }

  private async rebuild(sessionId: string): Promise<SessionRecord | undefined> {
    const lines = await readLines(this.pathOf(sessionId));
    const record = emptyRecord(sessionId);
    let bytes = 0;
    for (const [index, line] of lines.entries()) {
      bytes += Buffer.byteLength(line) + 1;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.logger.warn("session", `Skipping unreadable line ${index + 1} of session ${sessionId}`);
        continue;
      }
      const result = SessionEvent.safeParse(parsed);
      if (result.success) applyEvent(record, result.data);
      else this.logger.warn("session", `Skipping invalid event on line ${index + 1} of session ${sessionId}`);
    }
    if (record.lastSeq === 0) return undefined;
    record.bytes = bytes;
    record.writtenSeq = record.lastSeq;
    return record;
  }

  private async loadIndex(): Promise<Map<string, SessionRecord>> {
    const map = new Map<string, SessionRecord>();
    try {
      const raw = JSON.parse(await readFile(join(this.dir, "index.json"), "utf8")) as {
        version?: number;
        sessions?: SessionRecord[];
      };
      if (raw.version === INDEX_VERSION && Array.isArray(raw.sessions)) {
        for (const record of raw.sessions) {
          if (!record || typeof record.id !== "string") continue;
          // Everything in an index is on disk (it is only trusted when the file size matches).
          record.writtenSeq = record.lastSeq;
          map.set(record.id, record);
        }
      }
    } catch {
      // Missing or unreadable index: every record is rebuilt from its JSONL file.
    }
    return map;
  }

  private scheduleIndexSave(): void {
    if (this.indexTimer || this.closed) return;
    this.indexTimer = setTimeout(() => {
      this.indexTimer = undefined;
      void this.saveIndex().catch((error: Error) =>
        this.logger.warn("session", "Could not save the session index", { error: error.message }),
      );
    }, 500);
    this.indexTimer.unref();
  }

  /**
   * Saves run one after another: two at once (the timer's and close()'s) would share the temp file,
   * and the second rename would find it gone.
   */
  private saveIndex(): Promise<void> {
    const run = this.indexSave.then(() => this.writeIndex());
    this.indexSave = run.catch(() => undefined);
    return run;
  }

  private async writeIndex(): Promise<void> {
    if (!this.indexDirty) return;
    this.indexDirty = false;
    const path = join(this.dir, "index.json");
    const temp = `${path}.${process.pid}.tmp`;
    try {
      await writeFile(temp, JSON.stringify({ version: INDEX_VERSION, sessions: [...this.records.values()] }), {
        mode: 0o600,
      });
      await rename(temp, path);
    } catch (error) {
      // Not saved: the next save tries again (the session files stay the truth; init rebuilds from them).
      this.indexDirty = true;
      throw error;
    }
  }
}
