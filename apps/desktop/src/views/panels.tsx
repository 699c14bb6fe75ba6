import type { LogLevel, LogLine, ModelInfo } from "@opta/protocol";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { bytes, clock, count, seconds } from "../format.js";
import { useAppState, useController } from "../state/hooks.js";
import { lastTurn, liveTokensPerSecond, type SessionView } from "../state/session-view.js";

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function Metric({ label, value, detail, testId }: { label: string; value: string; detail?: string; testId?: string }) {
  return (
    <div className="metric" data-testid={testId}>
      <div className="metric-label">{label}</div>
      <div className="metric-value">{value}</div>
      {detail ? <div className="metric-detail">{detail}</div> : null}
    </div>
  );
}

/**
 * Live numbers: tokens per second, context fill, daemon heartbeat and memory. Only what the daemon
 * reports is shown; a figure nobody reports says so instead of guessing.
 */
export function TelemetryPanel({ view }: { view: SessionView | undefined }) {
  const state = useAppState();
  const now = useNow(1000);
  const turn = view ? lastTurn(view) : undefined;
  const running = turn?.status === "running";
  const live = turn && running ? liveTokensPerSecond(turn) : undefined;
  const tokensPerSec = running ? live : turn?.stats?.tokensPerSec;

  const modelName = view?.lastModel || view?.model;
  const model = state.models?.models.find(
    (item) => item.ref === modelName || item.id === modelName || item.id === state.models?.defaultModel,
  );
  const contextLength = model?.contextLength;
  const promptTokens = view?.lastPromptTokens;
  let contextValue = "—";
  let contextDetail = "not reported by the provider";
  let contextFill: number | undefined;
  if (promptTokens !== undefined && contextLength) {
    contextFill = Math.min(1, promptTokens / contextLength);
    contextValue = `${Math.round(contextFill * 100)}%`;
    contextDetail = `${count(promptTokens)} / ${count(contextLength)} tokens`;
  } else if (promptTokens !== undefined) {
    contextValue = count(promptTokens);
    contextDetail = "prompt tokens · context length unknown";
  }

  const heartbeat = state.heartbeat;
  const beatAge = heartbeat.lastOkAt ? Math.round((now - heartbeat.lastOkAt) / 1000) : undefined;
  const daemonUp = !heartbeat.failing && heartbeat.lastOkAt !== undefined;
  const providers = heartbeat.status?.providers ?? state.models?.providers ?? [];

  return (
    <section className="panel-body" aria-label="Telemetry">
      <div className="metrics">
        <Metric
          label={running ? "Tok/s · live" : "Tok/s · last turn"}
          value={tokensPerSec !== undefined ? tokensPerSec.toFixed(1) : "—"}
          {...(turn?.stats ? { detail: `${count(turn.stats.tokens)} tokens in ${seconds(turn.stats.elapsed)}` } : {})}
          testId="metric-toks"
        />
        <Metric label="Context" value={contextValue} detail={contextDetail} testId="metric-context" />
      </div>
      {contextFill !== undefined ? (
        <meter className="meter" min={0} max={1} value={contextFill} aria-label="Context fill" />
      ) : null}

      <h3>Daemon heartbeat</h3>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <span className={`status-dot ${daemonUp ? "status-active" : "status-error"}`} aria-hidden="true" />
          {daemonUp ? "Running" : heartbeat.stopped ? "Stopped" : "Not answering"}
        </dd>
        <dt>Last beat</dt>
        <dd>
          {beatAge === undefined
            ? "—"
            : `${beatAge}s ago${heartbeat.latencyMs !== undefined ? ` · ${heartbeat.latencyMs} ms` : ""}`}
        </dd>
        <dt>Daemon memory</dt>
        <dd>{heartbeat.status ? bytes(heartbeat.status.rss) : "—"}</dd>
      </dl>

      <h3>Providers</h3>
      {providers.length === 0 ? <p className="muted">No providers configured.</p> : null}
      <ul className="providers">
        {providers.map((provider) => (
          <li key={provider.name}>
            <span
              className={`status-dot ${provider.healthy ? "status-active" : provider.checkedAt ? "status-error" : ""}`}
              aria-hidden="true"
            />
            <strong>{provider.name}</strong> <span className="muted">{provider.type}</span>
            {provider.latencyMs !== undefined ? <span className="muted"> · {provider.latencyMs} ms</span> : null}
            {provider.error ? <div className="muted small">{provider.error}</div> : null}
          </li>
        ))}
      </ul>
      <h3>Model memory</h3>
      <ModelMemory models={state.models?.models ?? []} current={model} />
    </section>
  );
}

/**
 * Memory of the loaded models, as `GET /v3/models` reports it (Opta LMX reports load state and
 * bytes per model). A provider that does not report memory says so rather than have us guess.
 */
function ModelMemory({ models, current }: { models: ModelInfo[]; current: ModelInfo | undefined }) {
  const loaded = models.filter((item) => item.loaded);
  const shown = loaded.length > 0 ? loaded : current ? [current] : [];
  if (shown.length === 0) {
    return (
      <p className="muted small" data-testid="model-memory">
        No provider reports a loaded model.
      </p>
    );
  }
  const reported = loaded.filter((item) => item.memoryBytes !== undefined);
  const total = reported.reduce((sum, item) => sum + (item.memoryBytes ?? 0), 0);
  return (
    <div data-testid="model-memory">
      {reported.length > 1 ? (
        <Metric label="Model memory · loaded" value={bytes(total)} detail={`${reported.length} models`} />
      ) : null}
      <dl className="facts model-memory">
        {shown.map((item) => (
          <div key={item.ref} className="fact-row">
            <dt title={item.ref}>{item.id}</dt>
            <dd>
              {item.memoryBytes !== undefined ? (
                bytes(item.memoryBytes)
              ) : (
                <span className="muted">
                  {item.loaded === false ? "not loaded · " : ""}not reported by this provider
                </span>
              )}
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

const LEVELS: Array<{ level: LogLevel; label: string }> = [
  { level: "error", label: "ERROR" },
  { level: "warn", label: "WARN" },
  { level: "info", label: "INFO" },
];

/** How close to the end (px) the log viewer counts as "at the end". */
const LOG_END_SLACK = 8;
/** Lines the viewer keeps (and asks for as backlog on every connect). */
const LOG_KEEP = 1000;
/** What starts the daemon: the page cannot, a terminal can. */
export const START_COMMAND = "opta daemon start";

/** A command shown as code, with a button that copies it and says so. */
function CopyCommand({ command, testId }: { command: string; testId?: string }) {
  const controller = useController();
  const [copied, setCopied] = useState<"yes" | "no" | undefined>();
  return (
    <div className="copy-command" data-testid={testId}>
      <code>{command}</code>
      <button
        type="button"
        className="button small"
        onClick={async () => setCopied((await controller.shell.copyText(command)) ? "yes" : "no")}
        aria-label={`Copy ${command}`}
      >
        {copied === "yes" ? "Copied" : "Copy"}
      </button>
      {copied === "no" ? <span className="muted small">Copy refused by the browser: select the text.</span> : null}
    </div>
  );
}

/**
 * The daemon's log as it is written (`WS /v3/daemon/logs/stream`, not polling): the server
 * filters by the lowest level shown, the chips by each level. Reconnects replace the lines with
 * the new backlog, so nothing is doubled.
 */
function useDaemonLog(shown: Record<string, boolean>): LogLine[] {
  const controller = useController();
  const [lines, setLines] = useState<LogLine[]>([]);
  const lowest = [...LEVELS].reverse().find(({ level }) => shown[level])?.level ?? "error";
  useEffect(
    () =>
      controller.followLogs({
        level: lowest,
        backlog: LOG_KEEP,
        onBacklog: (backlog) => setLines(backlog),
        onLine: (line) => setLines((previous) => [...previous.slice(-(LOG_KEEP - 1)), line]),
      }),
    [controller, lowest],
  );
  return lines;
}

/** Daemon status, Start (how) / Stop / Restart, the CLI handoff, and a streaming log viewer. */
export function DaemonPanel() {
  const controller = useController();
  const state = useAppState();
  const now = useNow(1000);
  const [shown, setShown] = useState<Record<string, boolean>>({ error: true, warn: true, info: true });
  const [confirmStop, setConfirmStop] = useState(false);
  const [wide, setWide] = useState(false);
  const [startCopied, setStartCopied] = useState(false);
  const lines = useDaemonLog(shown);
  const heartbeat = state.heartbeat;
  const status = heartbeat.status;
  const up = !heartbeat.failing && heartbeat.lastOkAt !== undefined;
  const down = heartbeat.failing;
  const seenAgo = heartbeat.lastOkAt ? Math.round((now - heartbeat.lastOkAt) / 1000) : undefined;
  const downLabel = heartbeat.stopped ? "stopped" : "not answering";
  // Between beats the uptime goes on counting; once the daemon is down it says so instead of freezing.
  const uptime =
    up && status && heartbeat.lastOkAt !== undefined
      ? seconds(status.uptime + Math.max(0, Math.floor((now - heartbeat.lastOkAt) / 1000)))
      : down
        ? downLabel
        : "—";
  const sessionId = state.selectedId;

  useEffect(() => {
    if (!wide) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        setWide(false);
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, [wide]);

  const log = (
    <LogViewer lines={lines} shown={shown} setShown={setShown} wide={wide} toggleWide={() => setWide(!wide)} />
  );

  return (
    <section className="panel-body" aria-label="Daemon">
      <dl className="facts" data-testid="daemon-facts">
        <dt>Process</dt>
        <dd>
          <span className={`status-dot ${up ? "status-active" : "status-error"}`} aria-hidden="true" />
          {up ? "Running" : heartbeat.stopped ? "Stopped" : "Not answering"}
          {down && seenAgo !== undefined ? <span className="muted"> · last seen {seenAgo}s ago</span> : null}
        </dd>
        <dt>PID</dt>
        <dd>{status?.pid ?? "—"}</dd>
        <dt>Port</dt>
        <dd>{status?.port ?? "—"}</dd>
        <dt>Version</dt>
        <dd>{status?.version ?? "—"}</dd>
        <dt>Uptime</dt>
        <dd data-testid="daemon-uptime">{uptime}</dd>
        <dt>Sessions</dt>
        <dd>{status && up ? `${status.sessions.active} active · ${status.sessions.total} total` : "—"}</dd>
        <dt>Memory</dt>
        <dd data-testid="daemon-memory">{up && status ? bytes(status.rss) : down ? downLabel : "—"}</dd>
      </dl>
      <div className="lifecycle">
        {down ? (
          <button
            type="button"
            className="button primary"
            data-testid="start-button"
            // The page cannot start a process: Start copies the command that does.
            onClick={async () => setStartCopied(await controller.shell.copyText(START_COMMAND))}
          >
            ▶ Start
          </button>
        ) : null}
        {down && startCopied ? (
          <span className="muted small" role="status">
            Copied <code>{START_COMMAND}</code>: paste it in a terminal.
          </span>
        ) : null}
        <button
          type="button"
          className="button"
          onClick={() => void controller.restartDaemon()}
          // Restart is an API call: a stopped (or unreachable) daemon cannot take it.
          disabled={state.auth !== "ok" || state.restarting || !up}
        >
          ↻ Restart
        </button>
        {confirmStop ? (
          <>
            <button
              type="button"
              className="button danger"
              onClick={() => {
                setConfirmStop(false);
                void controller.stopDaemon();
              }}
            >
              Stop the daemon
            </button>
            <button type="button" className="button" onClick={() => setConfirmStop(false)}>
              Keep running
            </button>
          </>
        ) : (
          <button
            type="button"
            className="button"
            onClick={() => setConfirmStop(true)}
            disabled={state.auth !== "ok" || !up}
          >
            ■ Stop
          </button>
        )}
      </div>
      {down ? (
        <div className="start-daemon" id="start-daemon" data-testid="start-daemon">
          <p>
            The daemon is {downLabel}. This page cannot start it: run this in a terminal, and this window reconnects by
            itself (no new sign-in).
          </p>
          <CopyCommand command={START_COMMAND} testId="start-command" />
          <p className="muted small">The native Code Desktop shell will offer a Start button here.</p>
        </div>
      ) : null}
      <p className="muted small" data-testid="lifecycle-help">
        Restart rotates the token and reconnects this window by itself; sessions and running turns carry on. Other
        signed-in windows reconnect by themselves too. Stop ends running turns; start the daemon again with{" "}
        <code>{START_COMMAND}</code>.
      </p>
      {sessionId ? (
        <div className="handoff" data-testid="cli-handoff">
          <h3>Continue in the terminal</h3>
          <CopyCommand command={`opta tui --session ${sessionId}`} />
        </div>
      ) : null}
      {wide ? (
        <div className="log-drawer" role="dialog" aria-label="Daemon log" data-testid="log-drawer">
          {log}
        </div>
      ) : (
        log
      )}
    </section>
  );
}

/** The log viewer: level chips, a Wide toggle (a full-width drawer), and the lines, following the end. */
function LogViewer({
  lines,
  shown,
  setShown,
  wide,
  toggleWide,
}: {
  lines: LogLine[];
  shown: Record<string, boolean>;
  setShown: (shown: Record<string, boolean>) => void;
  wide: boolean;
  toggleWide: () => void;
}) {
  const logRef = useRef<HTMLDivElement>(null);
  const visible = lines.filter((line) => shown[line.level] ?? false);
  // Follow new lines only while the viewer is scrolled to its end: a user reading older lines
  // keeps their place when the next line arrives.
  const atEnd = useRef(true);
  const onLogScroll = useCallback(() => {
    const element = logRef.current;
    if (element) atEnd.current = element.scrollHeight - element.scrollTop - element.clientHeight <= LOG_END_SLACK;
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the lines, filters or width change
  useLayoutEffect(() => {
    const element = logRef.current;
    if (element && atEnd.current) element.scrollTop = element.scrollHeight;
  }, [lines, shown, wide]);
  return (
    <>
      <div className="log-header">
        <h3>Logs</h3>
        <fieldset className="log-filters">
          <legend className="visually-hidden">Show levels</legend>
          {LEVELS.map(({ level, label }) => (
            <button
              key={level}
              type="button"
              className={`chip level-${level}`}
              aria-pressed={shown[level] ?? false}
              onClick={() => setShown({ ...shown, [level]: !shown[level] })}
            >
              {label}
            </button>
          ))}
          <button type="button" className="chip" aria-pressed={wide} onClick={toggleWide} data-testid="log-wide">
            {wide ? "⤡ Narrow" : "⤢ Wide"}
          </button>
        </fieldset>
      </div>
      {/* Focusable so the log can be scrolled with the keyboard. */}
      <div
        className="log-view"
        ref={logRef}
        onScroll={onLogScroll}
        role="log"
        aria-label="Daemon log"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        tabIndex={0}
        data-testid="log-view"
      >
        {visible.length === 0 ? <div className="muted">No log lines at these levels.</div> : null}
        {visible.map((line, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: log lines have no id; the list is replaced wholesale
          <div key={index} className={`log-line level-${line.level}`}>
            <span className="log-time">{clock(line.ts)}</span>
            <span className="log-level">{line.level.toUpperCase()}</span>
            <span className="log-scope">[{line.scope}]</span> {line.message}
          </div>
        ))}
      </div>
    </>
  );
}
