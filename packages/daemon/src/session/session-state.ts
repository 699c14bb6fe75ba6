import type { SessionEvent, SessionInfo } from "@opta/protocol";
import { TurnErrorCode } from "@opta/protocol";

const TITLE_FROM_TEXT_LENGTH = 60;

/** Events that change what a session is called or where it is listed, not what happened in it. */
export const METADATA_EVENTS: ReadonlySet<SessionEvent["event"]> = new Set(["session.renamed", "session.pinned"]);

/** Session metadata plus what the store needs to verify its index against the file. */
export interface SessionRecord extends SessionInfo {
  /** Size of the JSONL file when this record was last brought up to date. */
  bytes: number;
  /**
   * Highest seq written to the file (and so replayable). `lastSeq` is the highest assigned, which runs
   * ahead while appends are queued; clients are told only this one, so resuming from it skips nothing.
   */
  writtenSeq: number;
  /** Title given at creation; empty means "derive from the first turn". */
  explicitTitle: string;
}

/** An empty record for a session whose first event has not been applied yet. */
export function emptyRecord(id: string): SessionRecord {
  return {
    id,
    title: "Untitled session",
    explicitTitle: "",
    cwd: "",
    mode: "chat",
    model: "",
    status: "idle",
    turnCount: 0,
    createdAt: "",
    updatedAt: "",
    lastSeq: 0,
    bytes: 0,
    writtenSeq: 0,
  };
}

/**
 * Folds one event into a session's metadata. The same reducer runs on live appends and when the
 * index is rebuilt from JSONL files, so the index is always what the files say.
 */
export function applyEvent(record: SessionRecord, event: SessionEvent): void {
  record.lastSeq = event.seq;
  // Renaming or pinning is not activity: the session keeps its place and its age (prune).
  if (!METADATA_EVENTS.has(event.event)) record.updatedAt = event.ts;
  switch (event.event) {
    case "session.start":
      record.explicitTitle = event.title;
      if (event.title) record.title = event.title;
      record.cwd = event.cwd;
      record.mode = event.mode;
      record.model = event.model;
      record.createdAt = event.ts;
      break;
    case "turn.start":
      record.turnCount += 1;
      record.status = "active";
      record.activeTurnId = event.turnId;
      if (!record.explicitTitle && record.turnCount === 1) record.title = titleFromText(event.text);
      break;
    case "turn.done":
      record.status = "done";
      record.activeTurnId = undefined;
      record.pausedTurnId = undefined;
      break;
    case "turn.error":
      record.status = event.code === TurnErrorCode.interrupted ? "interrupted" : "error";
      record.activeTurnId = undefined;
      record.pausedTurnId = undefined;
      break;
    case "session.cancelled":
      record.status = "cancelled";
      record.activeTurnId = undefined;
      record.pausedTurnId = undefined;
      break;
    case "turn.paused":
      // Not running, so a restart does not mark it interrupted; not over, so no new turn starts.
      record.status = "paused";
      record.activeTurnId = undefined;
      record.pausedTurnId = event.turnId;
      break;
    case "turn.resumed":
      record.status = "active";
      record.activeTurnId = event.turnId;
      record.pausedTurnId = undefined;
      break;
    case "session.rewound":
      // The rewound turns are out of the conversation: the count is of the turns it still has.
      record.turnCount = Math.max(0, record.turnCount - event.turnIds.length);
      if (event.turnIds.length > 0) record.status = record.turnCount === 0 ? "idle" : "done";
      break;
    case "session.renamed":
      // An explicit title: later turns never derive one again.
      record.explicitTitle = event.title;
      record.title = event.title;
      break;
    case "session.pinned":
      if (event.pinned) record.pinned = true;
      else delete record.pinned;
      break;
    default:
      break;
  }
}

/** Strips private fields for the wire. */
export function toSessionInfo(record: SessionRecord): SessionInfo {
  const { bytes: _bytes, explicitTitle: _explicit, writtenSeq, ...info } = record;
  info.lastSeq = writtenSeq;
  if (info.activeTurnId === undefined) delete info.activeTurnId;
  if (info.pausedTurnId === undefined) delete info.pausedTurnId;
  return info;
}

function titleFromText(text: string): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  if (oneLine.length <= TITLE_FROM_TEXT_LENGTH) return oneLine || "Untitled session";
  return `${oneLine.slice(0, TITLE_FROM_TEXT_LENGTH - 1)}…`;
}
