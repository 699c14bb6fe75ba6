import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { clock } from "../format.js";
import type { SessionView, TimelineItem } from "../state/session-view.js";
import { ExpansionContext, ExpansionMemory, TurnRow } from "./turn-row.js";

/** Pixels from the bottom within which the timeline keeps following new output. */
const FOLLOW_SLACK = 48;

const Row = memo(function Row({ item }: { item: TimelineItem }) {
  if (item.kind === "turn") return <TurnRow turn={item} />;
  return (
    <div className="compaction" role="note">
      <span className="muted">Context compacted · {clock(item.ts)}</span>
      <div>{item.summary}</div>
    </div>
  );
});

/**
 * The session's turns, virtualised: only the rows near the viewport are mounted, each measured as it
 * renders, so a 5,000-turn session costs what a screenful costs. While the user is at the bottom it
 * follows the stream; scrolling up stops following until they come back down.
 */
export function Timeline({ view, virtualize = true }: { view: SessionView; virtualize?: boolean }) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const [following, setFollowing] = useState(true);
  const followingRef = useRef(true);
  const expansion = useMemo(() => new ExpansionMemory(), []);
  const items = view.items;

  const virtualizer = useVirtualizer({
    count: virtualize ? items.length : 0,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 180,
    overscan: 3,
    getItemKey: (index) => items[index]?.id ?? index,
  });

  const onScroll = useCallback(() => {
    const element = scrollRef.current;
    if (!element) return;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < FOLLOW_SLACK;
    if (atBottom !== followingRef.current) {
      followingRef.current = atBottom;
      setFollowing(atBottom);
    }
  }, []);

  const scrollToEnd = useCallback(() => {
    const element = scrollRef.current;
    if (!element) return;
    if (virtualize && items.length > 0) virtualizer.scrollToIndex(items.length - 1, { align: "end" });
    element.scrollTop = element.scrollHeight;
    followingRef.current = true;
    setFollowing(true);
  }, [virtualize, items.length, virtualizer]);

  const totalSize = virtualize ? virtualizer.getTotalSize() : 0;
  // New content while following: stay pinned to the bottom (after layout, before paint).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the content grows
  useLayoutEffect(() => {
    const element = scrollRef.current;
    if (element && followingRef.current) element.scrollTop = element.scrollHeight;
  }, [totalSize, items]);

  // A different session starts at its end.
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed on the session only
  useEffect(() => {
    followingRef.current = true;
    setFollowing(true);
    requestAnimationFrame(() => scrollToEnd());
  }, [view.sessionId]);

  if (items.length === 0) {
    return (
      <div className="timeline empty" ref={scrollRef}>
        <div className="empty-state">
          <h2>{view.title || "New session"}</h2>
          <p className="muted">Write a message below. Ctrl/⌘+Enter sends it.</p>
        </div>
      </div>
    );
  }

  return (
    <ExpansionContext.Provider value={expansion}>
      <div
        className="timeline"
        ref={scrollRef}
        onScroll={onScroll}
        role="log"
        aria-label="Session timeline"
        aria-live="off"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        tabIndex={0}
        data-testid="timeline"
      >
        {virtualize ? (
          <div className="timeline-inner" style={{ height: totalSize }}>
            {virtualizer.getVirtualItems().map((virtual) => {
              const item = items[virtual.index]!;
              return (
                <div
                  key={virtual.key}
                  className="timeline-row"
                  data-index={virtual.index}
                  ref={virtualizer.measureElement}
                  style={{ transform: `translateY(${virtual.start}px)` }}
                >
                  <Row item={item} />
                </div>
              );
            })}
          </div>
        ) : (
          <div className="timeline-flow">
            {items.map((item) => (
              <div key={item.id} className="timeline-row static">
                <Row item={item} />
              </div>
            ))}
          </div>
        )}
      </div>
      {following ? null : (
        <button type="button" className="jump-to-end" onClick={scrollToEnd}>
          ↓ Jump to latest
        </button>
      )}
    </ExpansionContext.Provider>
  );
}
