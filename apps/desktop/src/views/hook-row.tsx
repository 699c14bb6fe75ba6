import type { HookRun, TurnPart } from "../state/session-view.js";

/** How a hook run ended, in a few words. */
function outcome(run: HookRun): { text: string; tone: "ok" | "warn" | "error" } {
  if (run.decision === "deny") return { text: `denied the call${run.reason ? `: ${run.reason}` : ""}`, tone: "warn" };
  if (run.timedOut) return { text: "timed out (killed)", tone: "error" };
  if (run.error) return { text: `could not run: ${run.error}`, tone: "error" };
  if (run.exitCode === null) return { text: `killed${run.signal ? ` by ${run.signal}` : ""}`, tone: "error" };
  if (run.exitCode !== 0) return { text: `exit ${run.exitCode}`, tone: "error" };
  return { text: run.decision === "allow" ? "allowed" : "exit 0", tone: "ok" };
}

/**
 * One run of a user's hook in the turn where it happened: which hook, its command, how it ended
 * (a pre_tool denial with the reason the model read), and what it printed, folded away.
 */
export function HookRow({ run }: { run: HookRun }) {
  const ended = outcome(run);
  const printed = [run.stdout, run.stderr].some((text) => text !== "");
  return (
    <details className={`hook-row hook-${ended.tone}`} data-testid="hook-row">
      <summary>
        <span className="hook-name">hook {run.hook}</span>
        {run.tool ? <span className="muted"> · {run.tool}</span> : null}
        <code className="hook-command">{run.command}</code>
        <span className="hook-outcome">{ended.text}</span>
        <span className="muted">
          {" "}
          · {Math.round(run.elapsedMs)} ms{run.sandbox === "unavailable" ? " · unsandboxed" : ""}
        </span>
      </summary>
      <div className="hook-details">
        <div className="muted">{run.source}</div>
        {printed ? null : <div className="muted">It printed nothing.</div>}
        {run.stdout ? (
          <figure className="hook-output">
            <figcaption className="muted">stdout</figcaption>
            <pre className="hook-text">{run.stdout}</pre>
          </figure>
        ) : null}
        {run.stderr ? (
          <figure className="hook-output">
            <figcaption className="muted">stderr</figcaption>
            <pre className="hook-text">{run.stderr}</pre>
          </figure>
        ) : null}
      </div>
    </details>
  );
}

/** A hooks file this turn did not use, and why (an untrusted project file, one others can write…). */
export function HookSkippedRow({ skipped }: { skipped: Extract<TurnPart, { kind: "hook-skipped" }>["skipped"] }) {
  return (
    <div className="hook-row hook-warn" data-testid="hook-skipped">
      <span className="hook-name">hooks not used</span> <code className="hook-command">{skipped.file}</code>{" "}
      <span className="muted">{skipped.reason}</span>
    </div>
  );
}
