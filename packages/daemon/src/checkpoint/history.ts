import { type SessionEvent, TURN_END_EVENTS, type TurnRef } from "@opta/protocol";
import { ApiError } from "../server/api-error.js";

/** A seq range [from, to] that a conversation rewind took out of the model's history. */
export interface RewoundRange {
  from: number;
  to: number;
}

/** One turn still in the conversation. */
export interface LiveTurn {
  turnId: string;
  /** 1-based position among the turns not rewound: what `--to N` names. */
  number: number;
  /** Seq of its `turn.start`. */
  startSeq: number;
  /** Seq of the event that ended it; undefined while it runs. */
  endSeq?: number;
}

/** Ranges that conversation rewinds removed: from the target turn's start to the rewind event. */
export function rewoundRanges(events: readonly SessionEvent[]): RewoundRange[] {
  const ranges: RewoundRange[] = [];
  for (const event of events) {
    if (event.event === "session.rewound" && event.scope !== "files") {
      ranges.push({ from: event.fromSeq, to: event.seq });
    }
  }
  return ranges;
}

/** Whether `seq` lies in a rewound range. */
export function isRewound(seq: number, ranges: readonly RewoundRange[]): boolean {
  return ranges.some((range) => seq >= range.from && seq <= range.to);
}

/** The turns of the conversation as the model sees it (rewound ones left out), in order. */
export function liveTurns(events: readonly SessionEvent[]): LiveTurn[] {
  const ranges = rewoundRanges(events);
  const turns: LiveTurn[] = [];
  const byId = new Map<string, LiveTurn>();
  for (const event of events) {
    if (isRewound(event.seq, ranges)) continue;
    if (event.event === "turn.start") {
      const turn: LiveTurn = { turnId: event.turnId, number: turns.length + 1, startSeq: event.seq };
      turns.push(turn);
      byId.set(event.turnId, turn);
    } else if (TURN_END_EVENTS.has(event.event) && "turnId" in event) {
      const turn = byId.get(event.turnId);
      if (turn && turn.endSeq === undefined) turn.endSeq = event.seq;
    }
  }
  return turns;
}

/** The live turn `ref` names (its number or id); TURN_NOT_FOUND says which turns there are. */
export function findTurn(sessionId: string, turns: readonly LiveTurn[], ref: TurnRef): LiveTurn {
  const found =
    typeof ref === "number"
      ? turns[ref - 1]
      : (turns.find((turn) => turn.turnId === ref) ?? (/^\d+$/.test(ref) ? turns[Number(ref) - 1] : undefined));
  if (found) return found;
  throw new ApiError(
    "TURN_NOT_FOUND",
    turns.length === 0
      ? `Session ${sessionId} has no turns (a rewound turn cannot be named again).`
      : `Session ${sessionId} has no turn '${ref}'; name one by number (1–${turns.length}) or by id (see 'opta sessions show ${sessionId}').`,
  );
}
