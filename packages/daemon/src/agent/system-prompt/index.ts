import { createHash } from "node:crypto";
import {
  CONFIG_DEFAULTS,
  type Mode,
  type OptaConfig,
  type SandboxLevel,
  type SessionEvent,
  type SystemPromptResponse,
  type SystemPromptSummary,
} from "@opta/protocol";
import { loadPolicies } from "../../permission/index.js";
import { DEFAULT_SANDBOX_LEVEL, SANDBOX_LEVEL_SUMMARY } from "../../sandbox/index.js";
import type { SessionStore } from "../../session/store.js";
import { gitSummary, localDay } from "./environment.js";
import { type InstructionFile, loadInstructions } from "./instructions.js";

export { INSTRUCTION_FILE_CAP, INSTRUCTIONS_TOTAL_CAP, PROJECT_INSTRUCTION_FILES } from "./instructions.js";

/** What a system prompt is built from. */
export interface SystemPromptOptions {
  /** The session's working directory (the workspace). */
  cwd: string;
  /** The Opta home: `$OPTA_HOME/AGENTS.md` is the user's instructions. */
  home: string;
  mode: Mode;
  /** The turn's step budget (Do mode says it). */
  maxSteps: number;
  /** The level run_command runs at this turn. */
  sandbox: SandboxLevel;
  /** The clock (tests fix it); only the day is used. */
  now?: Date;
  /** Masks known secrets in the text (an instruction file may hold one). */
  redact?: (text: string) => string;
  /**
   * The git summary taken earlier in the session (`gitSnapshot`): used as is, so the prompt stays
   * the same between turns; without it git runs now.
   */
  git?: string;
}

/** A built system prompt: the text and what it is made of. */
export interface SystemPrompt extends SystemPromptSummary {
  text: string;
  /** The git summary in the environment part (undefined outside a repository): the session's snapshot. */
  git?: string;
}

/**
 * The git summary a session's turns reuse: the one its latest `turn.system` recorded, unless the
 * session was compacted since (a compaction rewrites the conversation, so the cache is lost anyway
 * and a fresh summary costs nothing). Undefined: take a new one.
 */
export function gitSnapshot(events: readonly SessionEvent[]): string | undefined {
  for (let index = events.length - 1; index >= 0; index--) {
    const event = events[index]!;
    if (event.event === "session.compacted") return undefined;
    if (event.event === "turn.system" && event.git !== undefined) return event.git;
  }
  return undefined;
}

/**
 * Assembles the system prompt for one turn from named parts. The order is for the KV cache (LMX,
 * and prompt caching at the cloud providers, reuse the longest unchanged prefix): what never
 * changes within a session first (tool conventions, instructions), then what rarely does (mode,
 * environment with the date at day granularity), git status last. Git status is a snapshot
 * (`options.git`): the tool definitions and the whole conversation follow the system prompt, so a
 * git line that followed the agent's edits would cost the cache all of them (bench/agent/prompt-cache
 * measured 0.21 of the prompt reused instead of 0.99).
 */
export async function buildSystemPrompt(options: SystemPromptOptions): Promise<SystemPrompt> {
  const [instructions, git] = await Promise.all([
    loadInstructions({ cwd: options.cwd, home: options.home }),
    options.git ?? gitSummary(options.cwd, options.home),
  ]);
  const redact = options.redact ?? ((text: string) => text);
  const parts: Array<{ name: string; text: string }> = [
    { name: "tools", text: toolsPart(options.sandbox) },
    ...(instructions.length ? [{ name: "instructions", text: redact(instructionsPart(instructions)) }] : []),
    { name: "mode", text: modePart(options.mode, options.maxSteps) },
    { name: "environment", text: environmentPart(options, git) },
  ];
  const text = parts.map((part) => part.text).join("\n\n");
  return {
    text,
    parts: parts.map((part) => ({ name: part.name, bytes: Buffer.byteLength(part.text) })),
    sources: instructions.map(({ text: _text, ...source }) => source),
    bytes: Buffer.byteLength(text),
    hash: createHash("sha256").update(text).digest("hex").slice(0, 16),
    ...(git !== undefined ? { git } : {}),
  };
}

function toolsPart(sandbox: SandboxLevel): string {
  return [
    "You are Opta, a coding agent. You work in the user's workspace through the tools you are given.",
    "",
    "# Tools",
    "- Paths are relative to the workspace (the working directory below). A path outside it is refused unless a policy grants that root; .opta/ and the Opta home are never writable.",
    "- Read a file before you change it. edit_file replaces an exact string, so copy old_string from what read_file returned.",
    `- run_command runs \`/bin/sh -c COMMAND\` in the workspace, sandboxed (${sandbox}: ${SANDBOX_LEVEL_SUMMARY[sandbox]}). It is not a terminal: nothing can answer a prompt, so pass non-interactive flags and avoid pagers.`,
    "- Some calls ask the user first (the permission policy decides; in Chat mode every call no rule allows asks). A denied call comes back as an error with the reason: do not repeat it; take another way or say what you need.",
  ].join("\n");
}

function instructionsPart(files: readonly InstructionFile[]): string {
  const sections = files.map((file) => {
    const heading = `## ${file.path} (${file.scope === "user" ? "the user's" : "project"})`;
    return file.skipped ? `${heading}\nLeft out: ${file.skipped}.` : `${heading}\n${file.text.trimEnd()}`;
  });
  return [
    "# Instructions",
    "The user's and the project's instructions, each under its file's path. Follow them; where they disagree, the later (nearer the working directory) file wins.",
    "",
    sections.join("\n\n"),
  ].join("\n");
}

function modePart(mode: Mode, maxSteps: number): string {
  if (mode === "do") {
    return [
      "# Mode: Do",
      `Work the task through to completion on your own: read, change, run and check without stopping to ask. You have at most ${maxSteps} steps (model calls) in this turn. Ask only when the task cannot go on without the user. End with a short summary of what you changed and anything left undone.`,
    ].join("\n");
  }
  return [
    "# Mode: Chat",
    "The user is talking with you turn by turn. Answer what is asked. Before changing files or running commands, say what you intend and ask, unless the user asked for exactly that; each such call also waits for the user's approval.",
  ].join("\n");
}

function environmentPart(options: SystemPromptOptions, git: string | undefined): string {
  const userShell = process.env.SHELL;
  return [
    "# Environment",
    `- Working directory (the workspace): ${options.cwd}`,
    `- Platform: ${process.platform} (${process.arch})`,
    `- Shell: run_command uses /bin/sh${userShell ? `; the user's shell is ${userShell}` : ""}`,
    `- Today's date: ${localDay(options.now ?? new Date())}`,
    // Last, and a snapshot: see buildSystemPrompt. The model is told so, and how to get the current state.
    git === undefined
      ? "- Git: not a git repository (or git is not available)"
      : `- Git (a snapshot from this session's start, not updated as files change; run \`git status\` for the current state): ${git}`,
  ].join("\n");
}

/**
 * Builds the turn's system prompt, records its summary as `turn.system` (part names, sources,
 * sizes, hash: small, so every client can show it; the text itself is GET /v3/sessions/:id/system)
 * and returns it as the first message of every request the turn makes.
 */
export async function systemMessageForTurn(
  store: {
    append(
      sessionId: string,
      event: { event: "turn.system"; turnId: string; git?: string } & SystemPromptSummary,
    ): unknown;
  },
  turn: { sessionId: string; turnId: string },
  options: SystemPromptOptions,
): Promise<{ role: "system"; content: string }> {
  const { text, ...summary } = await buildSystemPrompt(options);
  store.append(turn.sessionId, { event: "turn.system", turnId: turn.turnId, ...summary });
  return { role: "system", content: text };
}

/**
 * The system prompt a session's next turn sends, rebuilt now (GET /v3/sessions/:id/system): the
 * mode and sandbox of its last turn (else the session's mode and the policy's sandbox), the
 * configured step budget, the session's git snapshot. Up to the date, it is the prompt the next turn sends.
 */
export async function systemPromptForSession(
  deps: { store: SessionStore; home: string; config: () => OptaConfig; redact?: (text: string) => string },
  sessionId: string,
): Promise<SystemPromptResponse | undefined> {
  const session = deps.store.get(sessionId);
  if (!session) return undefined;
  const events = await deps.store.readEvents(sessionId);
  const last = events.findLast((event) => event.event === "turn.start");
  const policies = await loadPolicies({ home: deps.home, cwd: session.cwd });
  const mode = last?.mode ?? session.mode;
  const prompt = await buildSystemPrompt({
    cwd: session.cwd,
    home: deps.home,
    mode,
    maxSteps: deps.config()["max-steps"] ?? CONFIG_DEFAULTS["max-steps"],
    sandbox: last?.sandbox ?? policies.sandbox?.level ?? DEFAULT_SANDBOX_LEVEL,
    ...(deps.redact ? { redact: deps.redact } : {}),
    git: gitSnapshot(events),
  });
  const { git: _git, ...shown } = prompt;
  return { sessionId, mode, ...shown };
}
