import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writableByOthers } from "@opta/local";
import {
  HOOK_DEFAULT_TIMEOUT_SECONDS,
  type HookConfig,
  type HookEventName,
  type HookScope,
  HooksFile,
} from "@opta/protocol";
import picomatch from "picomatch";
import YAML from "yaml";
import { findProjectFile } from "../permission/trust.js";

/** The name of the hooks file, in `$OPTA_HOME` (user) and in a project's `.opta/`. */
export const HOOKS_FILE_NAME = "hooks.yaml";

/** One hook ready to run. */
export interface LoadedHook {
  event: HookEventName;
  scope: HookScope;
  command: string;
  /** The configured tool-name glob, if any. */
  matcher?: string;
  /** Whether it applies to a tool (always true for turn_end and for hooks without a matcher). */
  matches: (tool: string) => boolean;
  timeoutMs: number;
  /** `FILE: pre_tool[0]`: where it is configured, for the event and for error messages. */
  source: string;
  /** The directory holding the project's `.opta` (project hooks), else undefined. */
  projectRoot?: string;
}

/** A hooks file that is not used, and why (recorded as `hook.skipped` each turn, and shown by `opta doctor`). */
export interface SkippedHooksFile {
  scope: HookScope;
  file: string;
  reason: string;
}

/** The hooks that apply to one session's turn. */
export interface HookSet {
  /** User hooks first, then project hooks, each in file order. */
  hooks: readonly LoadedHook[];
  /** Files that were found but not used. */
  skipped: readonly SkippedHooksFile[];
  /** Files whose hooks are in `hooks`. */
  files: readonly string[];
}

const EVENTS: readonly HookEventName[] = ["pre_tool", "post_tool", "turn_end"];

/**
 * Loads `$OPTA_HOME/hooks.yaml` and the project's `.opta/hooks.yaml` for `cwd`. The project file is
 * found and trusted under the same rule as `.opta/policy.yaml` and `.opta/mcp.yaml`
 * (permission/trust.ts): a hook runs a command on every tool call, so a file another user could
 * write, or one above the cwd in a directory that is neither a repository root nor trusted with
 * `opta trust DIR`, never runs. A user file another user could write is skipped as well.
 */
export async function loadHooks(options: { home: string; cwd: string }): Promise<HookSet> {
  const hooks: LoadedHook[] = [];
  const skipped: SkippedHooksFile[] = [];
  const files: string[] = [];
  const take = async (scope: HookScope, file: string, projectRoot?: string) => {
    const loaded = await readHooksFile(file, scope, projectRoot);
    if (typeof loaded === "string") skipped.push({ scope, file, reason: loaded });
    else {
      hooks.push(...loaded);
      files.push(file);
    }
  };

  const userFile = join(options.home, HOOKS_FILE_NAME);
  const unsafe = await writableByOthers(userFile).catch((error: NodeJS.ErrnoException) =>
    error.code === "ENOENT" ? null : `could not be checked (${error.message})`,
  );
  if (typeof unsafe === "string") skipped.push({ scope: "user", file: userFile, reason: `${userFile} ${unsafe}` });
  else if (unsafe === undefined) await take("user", userFile);

  const project = await findProjectFile(options.cwd, HOOKS_FILE_NAME, options.home);
  if (project.ignored) {
    skipped.push({ scope: "project", file: project.ignored.file, reason: project.ignored.message });
  } else if (project.file) await take("project", project.file, project.root);
  return { hooks, skipped, files };
}

/** The hooks of one file, or why the whole file is not used (a broken file runs nothing). */
async function readHooksFile(
  file: string,
  scope: HookScope,
  projectRoot: string | undefined,
): Promise<LoadedHook[] | string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    return `could not read ${file}: ${(error as Error).message}`;
  }
  const parsed = parseHooksText(text, file);
  if (typeof parsed === "string") return parsed;
  const hooks: LoadedHook[] = [];
  for (const event of EVENTS) {
    for (const [index, entry] of (parsed[event] ?? []).entries()) {
      const source = `${file}: ${event}[${index}]`;
      const matches = compileMatcher(entry, event, source);
      if (typeof matches === "string") return matches;
      hooks.push({
        event,
        scope,
        command: entry.command,
        ...(entry.matcher === undefined ? {} : { matcher: entry.matcher }),
        matches,
        timeoutMs: (entry.timeout ?? HOOK_DEFAULT_TIMEOUT_SECONDS) * 1000,
        source,
        ...(projectRoot === undefined ? {} : { projectRoot }),
      });
    }
  }
  return hooks;
}

/**
 * Parses a hooks file's text; a string is the reason it cannot be used, naming the file and the
 * bad key, e.g. `…/hooks.yaml: pre_tool[0].timeout: Number must be less than or equal to 600`.
 */
export function parseHooksText(text: string, file: string): HooksFile | string {
  let raw: unknown;
  try {
    raw = YAML.parse(text) ?? {};
  } catch (error) {
    return `${file} is not valid YAML (${(error as Error).message.split("\n")[0]}); fix it to run its hooks`;
  }
  const result = HooksFile.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const path = issue.path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
    return `${path.replace(/^\./, "") || "(top level)"}: ${issue.message}`;
  });
  return `${file} is not a valid hooks file (${issues.join("; ")}); expected pre_tool, post_tool and turn_end lists of { command, matcher?, timeout? }`;
}

function compileMatcher(entry: HookConfig, event: HookEventName, source: string): ((tool: string) => boolean) | string {
  if (entry.matcher === undefined) return () => true;
  if (event === "turn_end") return `${source}: matcher applies to pre_tool and post_tool only; remove it`;
  try {
    const isMatch = picomatch(entry.matcher, { dot: true });
    return (tool) => isMatch(tool);
  } catch (error) {
    return `${source}: "${entry.matcher}" is not a valid tool-name glob (${(error as Error).message})`;
  }
}
