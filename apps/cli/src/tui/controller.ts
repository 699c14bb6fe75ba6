/**
 * Everything `opta tui` does, without the drawing: it follows the session's events (batched into
 * at most one update per frame), owns the composer, the overlays and the approvals, and turns keys
 * into daemon calls. The Ink views read its state and re-render when it says something changed.
 */
import { writeFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import type {
  CompactResponse,
  CreateSessionRequest,
  ForkRequest,
  Mode,
  ModelsResponse,
  PauseTurnResponse,
  PermissionDecision,
  PermissionLevel,
  ResumeTurnRequest,
  ResumeTurnResponse,
  RewindRequest,
  RewindResponse,
  RewindScope,
  SessionEvent,
  SessionInfo,
  StopTurnResponse,
  SubmitTurnRequest,
  SubmitTurnResponse,
} from "@opta/protocol";
import {
  BUILTIN_COMMANDS,
  type BuiltinAction,
  expandCustomCommand,
  type PaletteCommand,
  parseSlash,
} from "./commands.js";
import * as composer from "./composer.js";
import type { DisplayOptions } from "./entry-lines.js";
import { fuzzyFilter } from "./fuzzy.js";
import { RecentStore, recentFirst } from "./recent.js";
import { Timeline } from "./timeline.js";

/** Connection state of the session stream, as the SDK reports it. */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "disconnected" | "closed";

/** The daemon calls the TUI makes (a `DaemonClient` plus compaction, adapted in commands/tui.ts). */
export interface TuiClient {
  createSession(request: CreateSessionRequest): Promise<SessionInfo>;
  getSession(sessionId: string): Promise<SessionInfo>;
  submitTurn(sessionId: string, request: SubmitTurnRequest): Promise<SubmitTurnResponse>;
  stopTurn(sessionId: string): Promise<StopTurnResponse>;
  pauseTurn(sessionId: string): Promise<PauseTurnResponse>;
  resumeTurn(sessionId: string, request?: ResumeTurnRequest): Promise<ResumeTurnResponse>;
  rewindSession(sessionId: string, request: RewindRequest): Promise<RewindResponse>;
  forkSession(sessionId: string, request?: ForkRequest): Promise<SessionInfo>;
  resolvePermission(sessionId: string, requestId: string, decision: PermissionDecision): Promise<unknown>;
  models(): Promise<ModelsResponse>;
  exportMarkdown(sessionId: string): Promise<string>;
  compact(sessionId: string): Promise<CompactResponse>;
  subscribe(
    sessionId: string,
    options: {
      afterSeq: number;
      onEvent: (event: SessionEvent) => void;
      onStatus?: (status: ConnectionStatus) => void;
      onError?: (error: Error) => void;
      onReplayed?: (lastSeq: number) => void;
    },
  ): { close(): void };
}

/** A key as Ink reports it (the fields the TUI uses). */
export interface KeyPress {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
  shift?: boolean;
  meta?: boolean;
  tab?: boolean;
  backspace?: boolean;
  delete?: boolean;
}

/** One row of the model picker. */
export interface ModelChoice {
  /** `provider/id`: what a turn is sent with. */
  ref: string;
  id: string;
  provider: string;
  /** "LMX local", "openai-compatible"… */
  label: string;
  healthy: boolean;
  recent: boolean;
}

/** Settings rows (the overlay toggles them). */
export type SettingKey = "mode" | "thinking" | "tools" | "permission" | "model";

export type Overlay =
  | { kind: "picker"; query: string; selected: number; models?: ModelChoice[]; error?: string }
  | { kind: "palette"; query: string; selected: number }
  | { kind: "help"; scroll: number }
  | { kind: "settings"; selected: number };

/** A transient line above the composer ("Press Ctrl+C again to exit"). */
export interface Flash {
  text: string;
  tone: "info" | "error" | "warn";
}

export const DECISIONS: readonly PermissionDecision[] = ["allow", "deny", "always"];
export const SETTINGS: readonly SettingKey[] = ["mode", "model", "permission", "thinking", "tools"];
const PERMISSION_LEVELS: readonly (PermissionLevel | undefined)[] = [undefined, "safe", "standard", "unrestricted"];

/** How long a first Ctrl+C (or Ctrl+D) waits for the second. */
const EXIT_WINDOW_MS = 3000;

/**
 * Bracketed paste markers (`ESC[200~` … `ESC[201~`, turned on by run.tsx with `ESC[?2004h`), as
 * Ink hands them over: their own input events, the ESC taken off.
 */
export const PASTE_START = "[200~";
export const PASTE_END = "[201~";

export interface ControllerOptions {
  client: TuiClient;
  session: SessionInfo;
  /** `--model`: used for every turn until the picker changes it. */
  model?: string;
  /** Recent models and commands (in memory by default). */
  recent?: RecentStore;
  /** Custom commands from `$OPTA_HOME/commands`. */
  customCommands?: PaletteCommand[];
  /** Where `/export` writes relative paths (default: process.cwd()). */
  cwd?: string;
  /** Minimum time between updates while events stream (default 33 ms: ≤ 30 frames a second). */
  frameMs?: number;
  /** Called once when the user leaves; the code is the process's exit code. */
  onExit: (code: number) => void;
  /** Clock, for tests. */
  now?: () => number;
}

/** The TUI's state and behaviour. */
export class TuiController {
  session: SessionInfo;
  timeline = new Timeline();
  connection: ConnectionStatus = "connecting";
  /** True once the stored history has been replayed. */
  replayed = false;
  mode: Mode;
  /** The model picked for this session (undefined: the session's own). */
  model: string | undefined;
  /** Permission level sent with turns (undefined: the daemon's config). */
  permission: PermissionLevel | undefined;
  buffer: composer.Buffer = composer.EMPTY;
  overlay: Overlay | undefined;
  flash: Flash | undefined;
  /** Index into DECISIONS of the highlighted approval button. */
  approvalChoice = 0;
  display: DisplayOptions = { thinkingExpanded: true, toolsExpanded: false };
  /** Lines scrolled up from the bottom of the timeline (0: following the live end). */
  scroll = 0;
  /** Set by the view each frame: rows the timeline has (page size for PageUp/PageDown). */
  viewportRows = 20;
  /** Set by the view: total timeline lines at the last frame (keeps a scrolled view anchored). */
  totalLines = 0;
  /** Bumped on every change; the views subscribe to it. */
  version = 0;
  /** Default model the daemon reported (for the header when the session has none). */
  defaultModel: string | undefined;
  readonly recent: RecentStore;
  readonly customCommands: PaletteCommand[];
  #client: TuiClient;
  #subscription: { close(): void } | undefined;
  #pending: SessionEvent[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flashTimer: ReturnType<typeof setTimeout> | undefined;
  #listeners = new Set<() => void>();
  #exitArmedAt: number | undefined;
  /** The text of a bracketed paste being received (undefined: not in a paste). */
  #paste: string | undefined;
  #cancelling = false;
  /** A pause was asked for and `turn.paused` has not come yet (the next Ctrl+C cancels). */
  #pausing = false;
  #submitting = false;
  #exited = false;
  #frameMs: number;
  #cwd: string;
  #onExit: (code: number) => void;
  #now: () => number;

  constructor(options: ControllerOptions) {
    this.#client = options.client;
    this.session = options.session;
    this.mode = options.session.mode;
    this.model = options.model;
    this.recent = options.recent ?? new RecentStore();
    this.customCommands = options.customCommands ?? [];
    this.#frameMs = options.frameMs ?? 33;
    this.#cwd = options.cwd ?? process.cwd();
    this.#onExit = options.onExit;
    this.#now = options.now ?? Date.now;
  }

  // ── lifecycle ──────────────────────────────────────────────────────────────────────────

  /** Follows the session from its first event (the full history), then live. */
  start(): void {
    this.#follow(this.session.id);
    // For the header before the first turn: the model the daemon would use when none is named.
    this.#client
      .models()
      .then((response) => {
        this.defaultModel =
          response.defaultModel ?? response.models.find((model) => model.provider === "lmx")?.id ?? undefined;
        this.#changed();
      })
      .catch(() => {
        // The picker reports it when it matters.
      });
  }

  /** Stops following and cancels timers (the process is leaving). */
  stop(): void {
    this.#subscription?.close();
    this.#subscription = undefined;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    if (this.#flashTimer) clearTimeout(this.#flashTimer);
    this.#flushTimer = undefined;
  }

  /** Calls `listener` after every change. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    this.version++;
    for (const listener of this.#listeners) listener();
  }

  #follow(sessionId: string): void {
    this.#subscription?.close();
    this.#pending = [];
    this.replayed = false;
    this.#subscription = this.#client.subscribe(sessionId, {
      afterSeq: 0,
      onEvent: (event) => {
        if (event.sessionId !== this.session.id) return;
        this.#pending.push(event);
        this.#scheduleFlush();
      },
      onStatus: (status) => {
        if (this.session.id !== sessionId) return;
        this.connection = status;
        this.#changed();
      },
      onReplayed: () => {
        if (this.session.id !== sessionId) return;
        this.#flush();
        if (!this.replayed) {
          this.replayed = true;
          this.#changed();
          this.#refreshSession();
        }
      },
      onError: (error) => {
        this.timeline.notice(`✗ ${error.message}`, "error");
        this.#changed();
      },
    });
  }

  #scheduleFlush(): void {
    if (this.#flushTimer) return;
    this.#flushTimer = setTimeout(() => this.#flush(), this.#frameMs);
  }

  /** Applies the queued events in one go (one render for many tokens). */
  #flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#pending.length === 0) return;
    const events = this.#pending;
    this.#pending = [];
    const wasBusy = this.timeline.activeTurn !== undefined || this.timeline.pausedTurn !== undefined;
    for (const event of events) this.timeline.apply(event);
    // The daemon titles a session from its first turn (and may retitle it): ask it, so the header
    // says what every other client says.
    if (this.replayed && events.some((event) => event.event === "turn.start" || event.event === "turn.done")) {
      this.#refreshSession();
    }
    if (!this.timeline.activeTurn) this.#pausing = false;
    if (wasBusy && !this.timeline.activeTurn && !this.timeline.pausedTurn) this.#cancelling = false;
    if (this.approvalChoice >= DECISIONS.length || this.timeline.approvals.length === 0) this.approvalChoice = 0;
    this.#changed();
  }

  /** Re-reads the session's metadata (title, model) from the daemon. */
  #refreshSession(): void {
    const id = this.session.id;
    this.#client
      .getSession(id)
      .then((info) => {
        if (this.session.id !== id) return; // moved on (/clear) meanwhile
        if (info.title === this.session.title && info.model === this.session.model) return;
        this.session = info;
        this.#changed();
      })
      .catch(() => {
        // The header keeps the title it had; the stream reports a lost daemon.
      });
  }

  // ── what the views show ───────────────────────────────────────────────────────────────

  /**
   * The model the next turn is sent with: the one picked here (or `--model`), else the one the
   * session's last turn asked for, so a resumed session goes on with the model it was using.
   * Undefined: none is sent and the daemon chooses (the session's model, else `default-model`).
   */
  get nextTurnModel(): string | undefined {
    return this.model ?? this.timeline.lastRequestedModel;
  }

  /** The model new turns use, as shown in the header and status bar. */
  get currentModel(): string {
    return this.nextTurnModel ?? (this.session.model || this.defaultModel || "default");
  }

  /** True while a turn of this session runs. */
  get running(): boolean {
    return this.timeline.activeTurn !== undefined;
  }

  /** True while a turn of this session is paused (Enter on an empty composer, or /resume, resumes it). */
  get paused(): boolean {
    return !this.running && this.timeline.pausedTurn !== undefined;
  }

  /** Palette entries for a query (a command name, fuzzy): recently used first, then best matches. */
  paletteItems(query: string): PaletteCommand[] {
    const all = recentFirst([...BUILTIN_COMMANDS, ...this.customCommands], this.recent.state.commands, (c) => c.name);
    return fuzzyFilter(all, query.replace(/^\//, ""), (command) => command.name);
  }

  /** Picker rows for the current query. */
  pickerItems(overlay: Extract<Overlay, { kind: "picker" }>): ModelChoice[] {
    return fuzzyFilter(overlay.models ?? [], overlay.query, (model) => `${model.id} ${model.label}`);
  }

  // ── keys ──────────────────────────────────────────────────────────────────────────────

  /**
   * Handles one input event from Ink: a key, or several characters that arrived in one read.
   *
   * Only a bracketed paste is a paste: everything between its markers is text, line breaks
   * included. Outside one, a read that ends in \r is text followed by Enter (`tmux send-keys
   * "xyz" Enter`, a fast typist, a program driving the terminal); a \r inside such a read is a
   * line break (a paste in a terminal without bracketed paste).
   */
  handleInput(input: string, key: KeyPress): void {
    if (this.#exited) return;
    if (this.#paste !== undefined) {
      if (input === PASTE_END && !hasModifier(key)) {
        const text = this.#paste;
        this.#paste = undefined;
        this.#pasted(text);
      } else this.#paste += key.return ? "\r" : key.tab ? "\t" : input;
      return;
    }
    if (input === PASTE_START && !hasModifier(key)) {
      this.#paste = "";
      return;
    }
    if (input.length > 1 && input.endsWith("\r") && !key.ctrl && !key.meta) {
      const text = input.replace(/\r+$/, "");
      if (text) this.handleInput(text, {});
      this.handleInput("", { return: true });
      return;
    }
    if (key.ctrl && input === "c") {
      this.#interrupt();
      return;
    }
    if (key.ctrl && input === "d") {
      if (!this.overlay && this.buffer.text === "") {
        this.#exitOrArm("Press Ctrl+D again to exit");
        return;
      }
      return;
    }
    if (key.ctrl && input === "t") {
      this.display = { ...this.display, thinkingExpanded: !this.display.thinkingExpanded };
      this.#changed();
      return;
    }
    if (key.ctrl && input === "o") {
      this.display = { ...this.display, toolsExpanded: !this.display.toolsExpanded };
      this.#changed();
      return;
    }
    if (key.tab && key.shift) {
      this.#toggleMode();
      return;
    }
    if (this.overlay) {
      this.#overlayKey(input, key);
      return;
    }
    if (key.pageUp || key.pageDown || key.upArrow || key.downArrow) {
      this.#scrollKey(key);
      return;
    }
    if (this.timeline.approvals.length > 0) {
      this.#approvalKey(input, key);
      return;
    }
    this.#composerKey(input, key);
  }

  #scrollKey(key: KeyPress): void {
    const page = Math.max(1, this.viewportRows - 2);
    const step = key.pageUp ? page : key.pageDown ? -page : key.upArrow ? 1 : -1;
    this.scrollBy(step);
  }

  /** Scrolls the timeline by `lines` (positive: up, into the past). */
  scrollBy(lines: number): void {
    const max = Math.max(0, this.totalLines - this.viewportRows);
    const next = Math.min(max, Math.max(0, this.scroll + lines));
    if (next === this.scroll) return;
    this.scroll = next;
    this.#changed();
  }

  #interrupt(): void {
    if (this.overlay) {
      this.overlay = undefined;
      this.#changed();
      return;
    }
    if (this.running || this.paused) {
      // This press pauses or cancels; it does not count towards leaving (that takes two presses when idle).
      this.#exitArmedAt = undefined;
      if (this.#cancelling) {
        this.#setFlash("Cancelling… press Ctrl+C again when idle to exit", "warn");
        return;
      }
      // In Do mode the first press pauses (the turn keeps its place); the next one cancels.
      if (this.running && this.timeline.activeTurn?.mode === "do" && !this.#pausing) {
        this.#pausing = true;
        this.#setFlash("Pausing after the running tool calls… (Ctrl+C again cancels)", "warn");
        this.#client.pauseTurn(this.session.id).catch((error: unknown) => this.#fail(error));
        return;
      }
      this.#cancelling = true;
      this.#setFlash(this.paused ? "Cancelling the paused turn…" : "Cancelling the turn…", "warn");
      this.#client.stopTurn(this.session.id).catch((error: unknown) => this.#fail(error));
      return;
    }
    if (this.buffer.text !== "" && !this.#armed()) {
      this.buffer = composer.EMPTY;
      this.#exitArmedAt = this.#now();
      this.#setFlash("Cleared. Press Ctrl+C again to exit", "info");
      return;
    }
    this.#exitOrArm("Press Ctrl+C again to exit");
  }

  #armed(): boolean {
    return this.#exitArmedAt !== undefined && this.#now() - this.#exitArmedAt < EXIT_WINDOW_MS;
  }

  #exitOrArm(message: string): void {
    if (this.#armed()) {
      this.exit(0);
      return;
    }
    this.#exitArmedAt = this.#now();
    this.#setFlash(message, "info");
  }

  /** Leaves the TUI. */
  exit(code: number): void {
    if (this.#exited) return;
    this.#exited = true;
    this.stop();
    this.#onExit(code);
  }

  #setFlash(text: string, tone: Flash["tone"], ms = EXIT_WINDOW_MS): void {
    this.flash = { text, tone };
    if (this.#flashTimer) clearTimeout(this.#flashTimer);
    this.#flashTimer = setTimeout(() => {
      this.flash = undefined;
      this.#flashTimer = undefined;
      this.#changed();
    }, ms);
    this.#flashTimer.unref?.();
    this.#changed();
  }

  #fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.timeline.notice(`✗ ${message}`, "error");
    this.#changed();
  }

  #toggleMode(): void {
    this.setMode(this.mode === "chat" ? "do" : "chat");
  }

  /** Sets the mode for the next turns. */
  setMode(mode: Mode): void {
    this.mode = mode;
    this.#changed();
  }

  #approvalKey(input: string, key: KeyPress): void {
    const approval = this.timeline.approvals[0];
    if (!approval) return;
    let decision: PermissionDecision | undefined;
    // (Shift+Tab never gets here: it switches the mode whatever has the focus.)
    if (key.leftArrow) this.approvalChoice = (this.approvalChoice + 2) % 3;
    else if (key.rightArrow || key.tab) this.approvalChoice = (this.approvalChoice + 1) % 3;
    else if (key.return) decision = DECISIONS[this.approvalChoice];
    else if (input === "y") decision = "allow";
    else if (input === "n" || key.escape) decision = "deny";
    else if (input === "a") decision = "always";
    else return;
    if (decision) this.decide(approval.requestId, decision);
    this.#changed();
  }

  /** Answers a permission request. */
  decide(requestId: string, decision: PermissionDecision): void {
    this.approvalChoice = 0;
    this.#client.resolvePermission(this.session.id, requestId, decision).catch((error: unknown) => this.#fail(error));
  }

  #composerKey(input: string, key: KeyPress): void {
    const newline = (key.return && (key.shift || key.meta)) || (input === "\n" && !key.return);
    if (newline) {
      this.buffer = composer.insert(this.buffer, "\n");
      this.#changed();
      return;
    }
    if (key.return) {
      this.#submitComposer();
      return;
    }
    if (key.tab) {
      this.openPicker();
      return;
    }
    if (key.ctrl && input === "k") {
      this.openPalette("");
      return;
    }
    if (key.escape) {
      if (this.scroll > 0) {
        this.scroll = 0;
        this.#changed();
      }
      return;
    }
    if (key.leftArrow) this.buffer = composer.move(this.buffer, -1);
    else if (key.rightArrow) this.buffer = composer.move(this.buffer, 1);
    else if (key.home || (key.ctrl && input === "a")) this.buffer = composer.lineEdge(this.buffer, "start");
    else if (key.end || (key.ctrl && input === "e")) this.buffer = composer.lineEdge(this.buffer, "end");
    else if (key.backspace || key.delete) this.buffer = composer.backspace(this.buffer);
    else if (key.ctrl && input === "u") this.buffer = composer.deleteToLineStart(this.buffer);
    else if (key.ctrl && input === "w") this.buffer = composer.deleteWord(this.buffer);
    else if (key.ctrl || key.meta) return;
    else if (input === "/" && this.buffer.text === "") {
      this.openPalette("");
      return;
    } else if (input) {
      // Several characters in one read (see handleInput); terminals send line breaks as \r.
      const text = composerText(input);
      if (!text) return;
      this.buffer = composer.insert(this.buffer, text);
    } else return;
    this.#changed();
  }

  /** A bracketed paste ended: its text goes where typing goes, as text (never as keys). */
  #pasted(raw: string): void {
    if (this.overlay) {
      // Into the picker's or the menu's filter, on one line; the other overlays take no text.
      const text = composerText(raw).replace(/\s+/g, " ").trim();
      if (text && (this.overlay.kind === "palette" || this.overlay.kind === "picker")) this.#overlayKey(text, {});
      return;
    }
    // While an approval waits, typing answers it; a paste must not.
    if (this.timeline.approvals.length > 0) return;
    const text = composerText(raw);
    if (!text) return;
    this.buffer = composer.insert(this.buffer, text);
    this.#changed();
  }

  #submitComposer(): void {
    const text = this.buffer.text;
    if (!text.trim()) {
      if (this.paused) this.resume();
      return;
    }
    if (text.trimStart().startsWith("/")) {
      const slash = parseSlash(text);
      if (slash) {
        const command = [...BUILTIN_COMMANDS, ...this.customCommands].find((c) => c.name === slash.name);
        if (!command) {
          this.#setFlash(`Unknown command /${slash.name} — Ctrl+K lists the commands`, "error");
          return;
        }
        this.buffer = composer.EMPTY;
        this.runCommand(command, slash.args);
        return;
      }
    }
    this.send(text);
  }

  /** Sends a prompt as a new turn (unless one runs). */
  send(text: string): void {
    if (this.running || this.#submitting) {
      this.#setFlash("A turn is running — wait for it, or Ctrl+C to cancel it", "warn");
      return;
    }
    if (this.paused) {
      this.#setFlash("A turn is paused — Enter on an empty line (or /resume) resumes it, Ctrl+C cancels it", "warn");
      return;
    }
    this.buffer = composer.EMPTY;
    this.scroll = 0;
    this.#submitting = true;
    const request: SubmitTurnRequest = { text, mode: this.mode, interactive: true };
    const model = this.nextTurnModel;
    if (model) request.model = model;
    if (this.permission) request.permission = this.permission;
    this.#changed();
    this.#client
      .submitTurn(this.session.id, request)
      .catch((error: unknown) => {
        // Give the text back so nothing typed is lost.
        if (this.buffer.text === "") this.buffer = { text, cursor: text.length };
        this.#fail(error);
      })
      .finally(() => {
        this.#submitting = false;
      });
  }

  /** Resumes the paused turn: the same turn goes on with the steps it had left. */
  resume(): void {
    if (!this.paused) {
      this.#setFlash(this.running ? "The turn is running, not paused" : "No turn is paused", "info");
      return;
    }
    this.#setFlash("Resuming the paused turn…", "info");
    this.#client.resumeTurn(this.session.id, { interactive: true }).catch((error: unknown) => this.#fail(error));
  }

  /**
   * `/rewind N [files|conversation|both] [--force]`: undoes turn N and the later ones (their file
   * changes and/or their place in the conversation). The result shows from the `session.rewound`
   * event; files changed outside the agent are refused unless `--force`.
   */
  async rewind(args: string): Promise<void> {
    const words = args.split(/\s+/).filter(Boolean);
    const force = words.includes("--force");
    const [target, scopeWord] = words.filter((word) => word !== "--force");
    const toTurn = target === undefined ? Number.NaN : /^t-/.test(target) ? target : Number(target);
    const scopes: readonly RewindScope[] = ["files", "conversation", "both"];
    if ((typeof toTurn === "number" && !(Number.isInteger(toTurn) && toTurn >= 1)) || words.length > 3) {
      this.#setFlash("Use /rewind N [files|conversation|both] [--force] — N is the turn number (1 = first)", "error");
      return;
    }
    if (scopeWord !== undefined && !scopes.includes(scopeWord as RewindScope)) {
      this.#setFlash(`Unknown rewind scope '${scopeWord}': use files, conversation or both`, "error");
      return;
    }
    if (this.running || this.paused) {
      this.#setFlash(`A turn is ${this.running ? "running" : "paused"} — Ctrl+C to cancel it before rewinding`, "warn");
      return;
    }
    try {
      const result = await this.#client.rewindSession(this.session.id, {
        toTurn,
        ...(scopeWord ? { scope: scopeWord as RewindScope } : {}),
        ...(force ? { force: true } : {}),
      });
      this.#setFlash(`Rewound to turn ${target} (${result.scope})`, "info");
    } catch (error) {
      this.#fail(error);
      if ((error as { code?: string }).code === "REWIND_CONFLICT") {
        this.timeline.notice(`/rewind ${args} --force puts them back anyway (the outside edits are lost)`, "muted");
        this.#changed();
      }
    }
  }

  /** `/fork [N]`: a new session with this one's history up to turn N (default: the last finished), followed here. */
  async fork(args: string): Promise<void> {
    const target = args.trim();
    const atTurn = target === "" ? undefined : /^t-/.test(target) ? target : Number(target);
    if (typeof atTurn === "number" && !(Number.isInteger(atTurn) && atTurn >= 1)) {
      this.#setFlash("Use /fork [N] — N is the turn number to fork after (default: the last finished one)", "error");
      return;
    }
    const previous = this.session;
    try {
      const session = await this.#client.forkSession(previous.id, atTurn === undefined ? {} : { atTurn });
      this.session = session;
      this.timeline = new Timeline();
      this.scroll = 0;
      this.connection = "connecting";
      this.#follow(session.id);
      this.timeline.notice(
        `Forked ${previous.id} into ${session.id}; the original stays: opta tui --session ${previous.id}`,
        "muted",
      );
      this.#changed();
    } catch (error) {
      this.#fail(error);
    }
  }

  // ── commands ──────────────────────────────────────────────────────────────────────────

  /** Runs a palette command with its arguments. */
  runCommand(command: PaletteCommand, args = ""): void {
    this.recent.rememberCommand(command.name);
    this.overlay = undefined;
    if (command.kind === "custom") {
      if (command.takesArguments && !args) {
        // Let the user type the arguments after the name.
        const prefill = `/${command.name} `;
        this.buffer = { text: prefill, cursor: prefill.length };
        this.#changed();
        return;
      }
      this.send(expandCustomCommand(command.body, args));
      return;
    }
    this.#builtin(command.action, args);
    this.#changed();
  }

  #builtin(action: BuiltinAction, args: string): void {
    switch (action) {
      case "clear":
        void this.newSession();
        break;
      case "compact":
        void this.compact();
        break;
      case "model":
        this.openPicker();
        break;
      case "mode": {
        const wanted = args.toLowerCase();
        if (wanted === "chat" || wanted === "do") this.setMode(wanted);
        else if (!wanted) this.#toggleMode();
        else this.#setFlash(`Unknown mode '${args}': use chat or do`, "error");
        break;
      }
      case "settings":
        this.overlay = { kind: "settings", selected: 0 };
        break;
      case "export":
        void this.exportTo(args);
        break;
      case "help":
        this.overlay = { kind: "help", scroll: 0 };
        break;
      case "exit":
        this.exit(0);
        break;
      case "resume":
        this.resume();
        break;
      case "rewind":
        void this.rewind(args);
        break;
      case "fork":
        void this.fork(args);
        break;
    }
  }

  /**
   * `/clear`: starts a new session with the same working directory, mode and model, and follows it.
   * The old session stays in the daemon (resume it with `opta tui --session <id>`).
   */
  async newSession(): Promise<void> {
    if (this.running) {
      this.#setFlash("A turn is running — Ctrl+C to cancel it first", "warn");
      return;
    }
    const previous = this.session;
    try {
      const request: CreateSessionRequest = { cwd: previous.cwd, mode: this.mode };
      if (this.model) request.model = this.model;
      else if (previous.model) request.model = previous.model;
      const session = await this.#client.createSession(request);
      this.session = session;
      this.timeline = new Timeline();
      this.scroll = 0;
      this.connection = "connecting";
      this.timeline.notice(
        `New session ${session.id}. The previous one is kept: opta tui --session ${previous.id}`,
        "muted",
      );
      this.#follow(session.id);
      this.#changed();
    } catch (error) {
      this.#fail(error);
    }
  }

  /** `/compact`: asks the daemon to summarise the history. */
  async compact(): Promise<void> {
    if (this.running) {
      this.#setFlash("A turn is running — compact when it ends", "warn");
      return;
    }
    this.#setFlash("Compacting…", "info");
    try {
      const result = await this.#client.compact(this.session.id);
      if (!result.compacted) {
        this.timeline.notice("Nothing to compact yet.", "muted");
        this.#changed();
      } else this.#setFlash("Context compacted", "info");
    } catch (error) {
      this.#fail(error);
    }
  }

  /** `/export [file]`: writes the Markdown transcript (default `opta-<session>.md` here). */
  async exportTo(file: string): Promise<void> {
    const target = file
      ? isAbsolute(file)
        ? file
        : resolve(this.#cwd, file)
      : resolve(this.#cwd, `opta-${this.session.id}.md`);
    try {
      const markdown = await this.#client.exportMarkdown(this.session.id);
      await writeFile(target, markdown);
      this.timeline.notice(`Exported to ${target}`, "success");
      this.#changed();
    } catch (error) {
      this.#fail(error);
    }
  }

  // ── overlays ──────────────────────────────────────────────────────────────────────────

  /** Opens the command palette with a query. */
  openPalette(query: string): void {
    this.overlay = { kind: "palette", query, selected: 0 };
    this.#changed();
  }

  /** Opens the model picker and loads the models. */
  openPicker(): void {
    const overlay: Extract<Overlay, { kind: "picker" }> = { kind: "picker", query: "", selected: 0 };
    this.overlay = overlay;
    this.#changed();
    this.#client
      .models()
      .then((response) => {
        overlay.models = orderModels(response, this.recent.state.models);
        const current = overlay.models.findIndex((m) => m.ref === this.model || m.id === this.currentModel);
        if (current >= 0 && overlay.query === "") overlay.selected = current;
        this.#changed();
      })
      .catch((error: unknown) => {
        overlay.error = error instanceof Error ? error.message : String(error);
        this.#changed();
      });
  }

  /** Uses a model for the next turns of this session. */
  pickModel(choice: ModelChoice): void {
    this.model = choice.ref;
    this.recent.rememberModel(choice.ref);
    this.overlay = undefined;
    this.#setFlash(`Model for this session: ${choice.id} (${choice.label})`, "info");
  }

  #overlayKey(input: string, key: KeyPress): void {
    const overlay = this.overlay!;
    if (key.escape || (key.tab && overlay.kind === "picker")) {
      this.overlay = undefined;
      this.#changed();
      return;
    }
    switch (overlay.kind) {
      case "help":
        if (key.upArrow || key.pageUp) overlay.scroll = Math.max(0, overlay.scroll - (key.pageUp ? 10 : 1));
        else if (key.downArrow || key.pageDown) overlay.scroll += key.pageDown ? 10 : 1;
        else if (key.return || input === "q") this.overlay = undefined;
        break;
      case "settings":
        if (key.upArrow) overlay.selected = (overlay.selected + SETTINGS.length - 1) % SETTINGS.length;
        else if (key.downArrow) overlay.selected = (overlay.selected + 1) % SETTINGS.length;
        else if (key.return || input === " ") this.#toggleSetting(SETTINGS[overlay.selected]!);
        else if (input === "q") this.overlay = undefined;
        break;
      case "palette":
      case "picker": {
        const items =
          overlay.kind === "palette" ? this.paletteItems(paletteQuery(overlay.query).name) : this.pickerItems(overlay);
        if (key.upArrow) overlay.selected = Math.max(0, overlay.selected - 1);
        else if (key.downArrow) overlay.selected = Math.min(Math.max(0, items.length - 1), overlay.selected + 1);
        else if (key.pageUp) overlay.selected = Math.max(0, overlay.selected - 10);
        else if (key.pageDown) overlay.selected = Math.min(Math.max(0, items.length - 1), overlay.selected + 10);
        else if (key.return) {
          const item = items[Math.min(overlay.selected, items.length - 1)];
          if (!item) break;
          if (overlay.kind === "palette") this.runCommand(item as PaletteCommand, paletteQuery(overlay.query).args);
          else this.pickModel(item as ModelChoice);
          this.#changed();
          return;
        } else if (key.backspace || key.delete) {
          if (overlay.query === "" && overlay.kind === "palette") this.overlay = undefined;
          overlay.query = overlay.query.slice(0, -1);
          overlay.selected = 0;
        } else if (input && !key.ctrl && !key.meta) {
          overlay.query += input.replace(/[\u0000-\u001f\u007f]/g, "");
          overlay.selected = 0;
        } else return;
        break;
      }
    }
    this.#changed();
  }

  #toggleSetting(setting: SettingKey): void {
    switch (setting) {
      case "mode":
        this.#toggleMode();
        break;
      case "thinking":
        this.display = { ...this.display, thinkingExpanded: !this.display.thinkingExpanded };
        break;
      case "tools":
        this.display = { ...this.display, toolsExpanded: !this.display.toolsExpanded };
        break;
      case "permission": {
        const index = PERMISSION_LEVELS.indexOf(this.permission);
        this.permission = PERMISSION_LEVELS[(index + 1) % PERMISSION_LEVELS.length];
        break;
      }
      case "model":
        this.openPicker();
        break;
    }
  }
}

/** Whether a key press had Ctrl, Alt/Meta or Shift held. */
function hasModifier(key: KeyPress): boolean {
  return Boolean(key.ctrl || key.meta || key.shift);
}

/** Typed or pasted text for the composer: line breaks as \n, other control characters dropped. */
function composerText(input: string): string {
  return input.replace(/\r\n?/g, "\n").replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "");
}

/** The palette's query: a command name, then optional arguments after a space ("mode do"). */
export function paletteQuery(query: string): { name: string; args: string } {
  const trimmed = query.trimStart();
  const space = trimmed.search(/\s/);
  if (space < 0) return { name: trimmed, args: "" };
  return { name: trimmed.slice(0, space), args: trimmed.slice(space + 1).trim() };
}

/** Picker order: recently used first, then LMX's models when LMX is healthy, then the rest. */
export function orderModels(response: ModelsResponse, recent: readonly string[]): ModelChoice[] {
  const health = new Map(response.providers.map((provider) => [provider.name, provider]));
  const lmxHealthy = response.providers.some((provider) => provider.type === "lmx" && provider.healthy);
  const choices: ModelChoice[] = response.models.map((model) => {
    const provider = health.get(model.provider);
    const isLmx = provider?.type === "lmx" || model.provider === "lmx";
    return {
      ref: model.ref,
      id: model.id,
      provider: model.provider,
      label: isLmx ? "LMX local" : model.provider,
      healthy: provider?.healthy ?? true,
      recent: recent.includes(model.ref),
    };
  });
  const rank = (choice: ModelChoice) => {
    if (!choice.healthy) return 3;
    if (choice.label === "LMX local") return lmxHealthy ? 1 : 2;
    return 2;
  };
  const byProvider = choices
    .map((choice, index) => ({ choice, index }))
    .sort((a, b) => rank(a.choice) - rank(b.choice) || a.index - b.index)
    .map((entry) => entry.choice);
  return recentFirst(byProvider, recent, (choice) => choice.ref);
}
