import type { SessionEvent, SessionEventInput, TurnRef } from "@opta/protocol";
import { ApiError } from "../server/api-error.js";
import type { SessionRecord } from "../session/session-state.js";
import type { SessionStore } from "../session/store.js";
import type { CheckpointBlobs } from "./blobs.js";
import { findTurn, isRewound, liveTurns, rewoundRanges } from "./history.js";

/** Events that describe the source session itself, not its history: the fork writes its own. */
const NOT_COPIED: ReadonlySet<SessionEvent["event"]> = new Set([
  "session.start",
  "session.renamed",
  "session.pinned",
  "session.forked",
]);

/**
 * Starts a new session with the source's history up to the end of turn `atTurn` (default: its last
 * finished turn). The events are copied (renumbered, rewound turns left out) after the new
 * session's `session.start` and a `session.forked` event; the checkpoint copies they refer to are
 * shared by hard link, so the fork can rewind its own files too. The two sessions then go their
 * own ways; they share the working directory.
 */
export async function forkSession(
  deps: { store: SessionStore; blobs: CheckpointBlobs },
  sourceId: string,
  request: { atTurn?: TurnRef; title?: string },
): Promise<SessionRecord> {
  const { store } = deps;
  const source = store.get(sourceId);
  if (!source) throw new ApiError("SESSION_NOT_FOUND", `No session '${sourceId}'.`);
  const events = await store.readEvents(sourceId);
  const turns = liveTurns(events);
  const finished = turns.filter((turn) => turn.endSeq !== undefined);
  const at = request.atTurn === undefined ? finished.at(-1) : findTurn(sourceId, turns, request.atTurn);
  if (at && at.endSeq === undefined) {
    throw new ApiError(
      "TURN_IN_PROGRESS",
      `Turn ${at.number} of session ${sourceId} is still running; fork at an earlier turn or wait for it to end.`,
    );
  }
  const ranges = rewoundRanges(events);
  const cut = at?.endSeq ?? 0;
  const copied = events.filter(
    (event) => event.seq <= cut && !isRewound(event.seq, ranges) && !NOT_COPIED.has(event.event),
  );
  const record = store.create({
    title: request.title ?? `${source.title} (fork)`,
    cwd: source.cwd,
    mode: source.mode,
    model: source.model,
  });
  store.append(record.id, {
    event: "session.forked",
    from: sourceId,
    ...(at ? { atTurnId: at.turnId } : {}),
    turns: at ? at.number : 0,
  });
  const hashes: string[] = [];
  const seqs = new Map<number, number>();
  for (const event of copied) {
    const { seq, ts: _ts, sessionId: _session, ...input } = event;
    if (event.event === "checkpoint") {
      for (const file of event.files) if (file.sha256) hashes.push(file.sha256);
    }
    if (input.event === "session.rewound") input.fromSeq = seqs.get(input.fromSeq) ?? 1;
    seqs.set(seq, store.append(record.id, input as SessionEventInput).seq);
  }
  await deps.blobs.share(sourceId, record.id, hashes);
  store.flush(true);
  return record;
}
