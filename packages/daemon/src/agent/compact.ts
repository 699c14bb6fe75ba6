import type { OptaConfig } from "@opta/protocol";
import type { Logger } from "../log/logger.js";
import type { ProviderRegistry } from "../provider/registry.js";
import type { ChatMessage } from "../provider/types.js";
import type { SessionStore } from "../session/store.js";
import { buildConversation } from "./conversation.js";
import { knownContextWindow, outputTokenCap } from "./limits.js";

const SUMMARY_PROMPT = `Summarise the conversation above so that the work can continue from the summary alone.
Keep: the user's goals and constraints, decisions made and why, files read or changed (with paths),
commands run and their outcomes, and open questions or next steps. Be concise; use short bullet points.`;

/**
 * Summarises a session's history through its model and records `session.compacted`; later turns
 * see the summary in place of the turns it covers. Returns undefined when there is nothing to compact.
 */
export async function compactSession(
  deps: { store: SessionStore; providers: ProviderRegistry; logger: Logger; redact?: (text: string) => string },
  sessionId: string,
  options: {
    model?: string | undefined;
    signal?: AbortSignal;
    keepLastTurn?: boolean;
    /** For the summary's output cap (`max-output-tokens`, `context-window`). */
    config?: OptaConfig;
  } = {},
): Promise<string | undefined> {
  let events = await deps.store.readEvents(sessionId);
  if (options.keepLastTurn) {
    // Automatic compaction runs after the new turn.start: summarise everything before it, and put the
    // new user message back after the summary so the turn still sees its task.
    const lastStart = events.findLastIndex((event) => event.event === "turn.start");
    if (lastStart > 0) events = events.slice(0, lastStart);
  }
  const history = buildConversation(events);
  const turnIds = events.filter((event) => event.event === "turn.start").map((event) => event.turnId);
  if (history.length === 0 || turnIds.length === 0) return undefined;
  const resolved = await deps.providers.resolve(options.model, options.signal);
  const messages: ChatMessage[] = [...history, { role: "user", content: SUMMARY_PROMPT }];
  let summary = "";
  const config = options.config ?? {};
  const window = config["context-window"] ?? knownContextWindow(resolved.model);
  for await (const chunk of resolved.stream({
    messages,
    // A summary ends by itself too: without a cap a small local model can run on for minutes.
    maxTokens: outputTokenCap(config, window, { messages }),
    signal: options.signal ?? new AbortController().signal,
  })) {
    if (chunk.type === "text") summary += chunk.delta;
  }
  // The summary is model output that later requests carry: mask secrets it may repeat.
  summary = (deps.redact ? deps.redact(summary) : summary).trim();
  if (!summary) throw new Error(`${resolved.provider.name}/${resolved.model} returned an empty summary`);
  deps.store.append(sessionId, { event: "session.compacted", summary, turnIds });
  deps.logger.info("session", `Compacted ${turnIds.length} turns of ${sessionId}`, { chars: summary.length });
  return summary;
}
