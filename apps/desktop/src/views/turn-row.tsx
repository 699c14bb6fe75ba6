import { createContext, memo, useContext, useState } from "react";
import { count, milliseconds, seconds } from "../format.js";
import { Markdown } from "../markdown/markdown.js";
import { liveTokensPerSecond, type ToolView, type TurnView } from "../state/session-view.js";
import { HookRow, HookSkippedRow } from "./hook-row.js";
import { headerArgument, ToolBody } from "./tool-cards.js";

/**
 * Which cards and thinking blocks are open. Rows unmount when they scroll away; keeping this outside
 * them means an expanded card is still expanded when the user scrolls back.
 */
export class ExpansionMemory {
  #open = new Map<string, boolean>();
  get(key: string, fallback: boolean): boolean {
    return this.#open.get(key) ?? fallback;
  }
  set(key: string, open: boolean): void {
    this.#open.set(key, open);
  }
}

export const ExpansionContext = createContext(new ExpansionMemory());

function useRemembered(key: string, fallback: boolean): [boolean, () => void] {
  const memory = useContext(ExpansionContext);
  const [open, setOpen] = useState(() => memory.get(key, fallback));
  const toggle = () => {
    memory.set(key, !open);
    setOpen(!open);
  };
  return [open, toggle];
}

const STATUS_LABEL: Record<ToolView["status"], string> = {
  pending: "running…",
  awaiting: "awaiting approval",
  ok: "ok",
  error: "error",
  denied: "denied",
};

const STATUS_ICON: Record<ToolView["status"], string> = {
  pending: "◌",
  awaiting: "!",
  ok: "✓",
  error: "✕",
  denied: "⊘",
};

/** One tool call: collapsed to a line by default; expands to its result, rendered for that tool. */
export const ToolCard = memo(function ToolCard({ tool }: { tool: ToolView }) {
  const [open, toggle] = useRemembered(`tool:${tool.callId}`, false);
  const argument = headerArgument(tool);
  const bodyId = `tool-body-${tool.callId}`;
  return (
    <div
      className={`tool-card tool-${tool.status}`}
      data-testid="tool-card"
      data-status={tool.status}
      data-tool={tool.name}
    >
      <button
        type="button"
        className="tool-header"
        aria-expanded={open}
        // Only while the body exists: aria-controls must name an element on the page.
        aria-controls={open ? bodyId : undefined}
        onClick={toggle}
      >
        <span className="tool-icon" aria-hidden="true">
          {STATUS_ICON[tool.status]}
        </span>
        <span className="tool-name">{tool.name}</span>
        {argument ? <span className="tool-arg">{argument}</span> : null}
        <span className="tool-summary">
          {tool.summary ?? STATUS_LABEL[tool.status]}
          {tool.permission?.decision ? ` · ${tool.permission.decision} by ${tool.permission.by ?? "user"}` : ""}
        </span>
        {tool.elapsedMs !== undefined ? (
          <span className="tool-time" title="Running time, without the wait for approval" data-testid="tool-time">
            {milliseconds(tool.elapsedMs)}
          </span>
        ) : null}
        <span className="visually-hidden">{open ? "collapse" : "expand"}</span>
      </button>
      {open ? (
        <div className="tool-body" id={bodyId}>
          <ToolBody tool={tool} />
        </div>
      ) : null}
    </div>
  );
});

/** Reasoning text: collapsed by default, counted separately from the answer. */
const ThinkingBlock = memo(function ThinkingBlock({ id, text, live }: { id: string; text: string; live: boolean }) {
  const [open, toggle] = useRemembered(`thinking:${id}`, false);
  return (
    <div className="thinking">
      <button type="button" className="thinking-header" aria-expanded={open} onClick={toggle}>
        <span aria-hidden="true">{open ? "▾" : "▸"}</span> Thinking{live ? "…" : ""}{" "}
        <span className="muted">· {count(text.length)} chars</span>
      </button>
      {open ? <div className="thinking-body">{text}</div> : null}
    </div>
  );
});

/** The turn's system prompt, collapsed: its size; open, its parts and the instruction files it carried. */
function SystemPromptSection({ turn }: { turn: TurnView }) {
  const [open, toggle] = useRemembered(`system:${turn.id}`, false);
  const system = turn.system;
  if (!system) return null;
  const included = system.sources.filter((source) => !source.skipped).length;
  return (
    <div className="thinking" data-testid="system-prompt">
      <button type="button" className="thinking-header" aria-expanded={open} onClick={toggle}>
        <span aria-hidden="true">{open ? "▾" : "▸"}</span> System prompt{" "}
        <span className="muted">
          · {count(system.bytes)} bytes · {included} instruction file{included === 1 ? "" : "s"}
        </span>
      </button>
      {open ? (
        <div className="thinking-body">
          <div className="muted">
            {system.parts.map((part) => `${part.name} ${count(part.bytes)} B`).join(" · ")} · hash {system.hash}
          </div>
          <ul>
            {system.sources.map((source) => (
              <li key={source.path}>
                <code>{source.path}</code> <span className="muted">({source.scope})</span>{" "}
                {source.skipped
                  ? `left out: ${source.skipped}`
                  : source.totalBytes !== undefined
                    ? `${count(source.bytes)} of ${count(source.totalBytes)} B (truncated)`
                    : `${count(source.bytes)} B`}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

function TurnStatsLine({ turn }: { turn: TurnView }) {
  const stats = turn.stats;
  if (!stats) return null;
  return (
    <div className="turn-stats" data-testid="turn-stats">
      <span>{count(stats.tokens)} tokens</span>
      <span>{stats.tokensPerSec.toFixed(1)} tok/s</span>
      <span>{seconds(stats.elapsed)}</span>
      <span>
        {stats.toolCalls} tool{stats.toolCalls === 1 ? "" : "s"}
      </span>
      {stats.steps > 1 ? <span>{stats.steps} steps</span> : null}
      {stats.thinkingTokens > 0 ? <span>{count(stats.thinkingTokens)} thinking</span> : null}
      {stats.stopReason !== "stop" ? <span className="warn-text">stopped: {stats.stopReason}</span> : null}
    </div>
  );
}

/** Which model and provider answered, and any fallback the daemon took on the way. */
function AnsweredBy({ turn }: { turn: TurnView }) {
  const by = turn.answeredBy;
  const fallback = turn.fallbacks.at(-1);
  if (!by && !fallback) return null;
  return (
    <div className="message-meta answered-by" data-testid="answered-by">
      <span className="who">Assistant</span>
      {by ? (
        <span className="pill" title="Model · provider that answered">
          {by.model}
          {by.provider ? ` · ${by.provider}` : ""}
        </span>
      ) : null}
      {fallback ? (
        <span className="pill pill-warn" title={fallback.reason} data-testid="fallback">
          fallback: {fallback.from} failed, answered by {fallback.to}
        </span>
      ) : null}
    </div>
  );
}

/** What a finished turn offers: rewind to before it, fork after it (absent: no buttons, e.g. in tests). */
export interface TurnActions {
  rewind(turnId: string): void;
  fork(turnId: string): void;
}
export const TurnActionsContext = createContext<TurnActions | undefined>(undefined);

function TurnActionButtons({ turn }: { turn: TurnView }) {
  const actions = useContext(TurnActionsContext);
  if (!actions || turn.status === "running" || turn.status === "paused") return null;
  return (
    <div className="turn-actions" data-testid="turn-actions">
      <button
        type="button"
        className="link-button"
        title="Put the files back as they were before this turn and take it and later turns out of the conversation"
        onClick={() => actions.rewind(turn.id)}
      >
        Rewind to here
      </button>
      <button
        type="button"
        className="link-button"
        title="Start a new session with the history up to this turn"
        onClick={() => actions.fork(turn.id)}
      >
        Fork from here
      </button>
    </div>
  );
}

/** One turn: the user's message, the streamed answer (text, thinking, tools) and its outcome. */
export const TurnRow = memo(function TurnRow({ turn }: { turn: TurnView }) {
  const running = turn.status === "running";
  const live = running ? liveTokensPerSecond(turn) : undefined;
  const lastPart = turn.parts.length - 1;
  return (
    <article className="turn" aria-label={`Turn ${turn.index}`} data-turn-id={turn.id}>
      <div className="user-message">
        <div className="message-meta">
          <span className="who">You</span>
          <span className={`pill pill-${turn.mode}`}>{turn.mode === "do" ? "Do" : "Chat"}</span>
          {turn.model ? <span className="pill">{turn.model}</span> : null}
          <span className="pill">{turn.permission}</span>
        </div>
        <div className="user-text">{turn.userText}</div>
      </div>
      <div className="assistant" data-testid="assistant">
        <AnsweredBy turn={turn} />
        {/* Parts only ever append, so a part's position is its identity. */}
        {turn.parts.map((part, index) => {
          if (part.kind === "text") {
            // biome-ignore lint/suspicious/noArrayIndexKey: parts are append-only
            return <Markdown key={`t${index}`} text={part.text} />;
          }
          if (part.kind === "thinking") {
            return (
              <ThinkingBlock
                // biome-ignore lint/suspicious/noArrayIndexKey: parts are append-only
                key={`k${index}`}
                id={`${turn.id}:${index}`}
                text={part.text}
                live={running && index === lastPart}
              />
            );
          }
          if (part.kind === "hook") {
            // biome-ignore lint/suspicious/noArrayIndexKey: parts are append-only
            return <HookRow key={`h${index}`} run={part.run} />;
          }
          if (part.kind === "hook-skipped") {
            // biome-ignore lint/suspicious/noArrayIndexKey: parts are append-only
            return <HookSkippedRow key={`s${index}`} skipped={part.skipped} />;
          }
          const tool = turn.tools[part.callId];
          return tool ? <ToolCard key={part.callId} tool={tool} /> : null;
        })}
        {running ? (
          // Not a live region: it changes every frame. The app announces a turn's start and end once.
          <div className="streaming" data-testid="streaming">
            <span className="pulse" aria-hidden="true" />{" "}
            {turn.parts.length === 0 ? "Waiting for the model…" : "Streaming…"}
            {live !== undefined ? <span className="muted"> · {live.toFixed(0)} tok/s</span> : null}
          </div>
        ) : null}
        {turn.status === "error" && turn.error ? (
          <div className="turn-error" role="alert">
            <strong>{turn.error.code}</strong> {turn.error.message}
            {turn.error.retryable ? <span className="muted"> · retryable</span> : null}
          </div>
        ) : null}
        {turn.status === "cancelled" ? <div className="turn-cancelled">Cancelled</div> : null}
        {turn.status === "paused" && turn.paused ? (
          <div className="turn-paused" data-testid="turn-paused">
            ⏸ Paused after {turn.paused.steps} step{turn.paused.steps === 1 ? "" : "s"} · {turn.paused.remainingSteps}{" "}
            left
          </div>
        ) : null}
        <TurnStatsLine turn={turn} />
        <SystemPromptSection turn={turn} />
        <TurnActionButtons turn={turn} />
      </div>
    </article>
  );
});
