import type { SessionEvent } from "@opta/protocol";

/** Builds session events with consecutive seqs, as the daemon would send them. */
export function eventFactory(sessionId = "s-test") {
  let seq = 0;
  const ts = (offsetMs = 0) => new Date(Date.UTC(2026, 2, 6, 14, 0, 0) + seq * 10 + offsetMs).toISOString();
  type Input = SessionEvent extends infer E
    ? E extends SessionEvent
      ? Omit<E, "seq" | "ts" | "sessionId">
      : never
    : never;
  return (event: Input): SessionEvent => {
    seq += 1;
    return { ...event, seq, ts: ts(), sessionId } as SessionEvent;
  };
}
