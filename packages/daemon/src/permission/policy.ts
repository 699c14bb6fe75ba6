import { readdir, readFile, realpath } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { optaPaths } from "@opta/local";
import { SandboxLevel } from "@opta/protocol";
import picomatch from "picomatch";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { parseShellCommand, splitAssignments } from "./shell.js";
import { findProjectFile, type ProjectFileSearch } from "./trust.js";

/** A gate decision a rule can carry. */
export type RuleDecision = "allow" | "ask" | "deny";

/**
 * Where a rule comes from. Project rules win over user rules; `always` is the `allow:` list of
 * `$OPTA_HOME/policies/always.yaml` (the user's "always" answers), which beats any ask and the
 * defaults but never a deny (see evaluatePermission).
 */
export type PolicyLevel = "project" | "user" | "always";

/** The user policy file that "Always allow" writes to; its `allow:` list is the `always` level. */
export const ALWAYS_FILE_NAME = "always.yaml";

/** One rule of a policy file, e.g. `run_command(npm test)` under `allow:`. */
export interface PolicyRule {
  /** What the rule decides when it matches. */
  decision: RuleDecision;
  /** Project or user policy. */
  level: PolicyLevel;
  /** Tool-name glob, e.g. `run_command`, `github__*`, `*`. */
  tool: string;
  /** Argument pattern inside the parentheses, if any. */
  spec?: string;
  /** The rule as written, e.g. `run_command(npm test)`. */
  text: string;
  /** Policy file it was read from. */
  source: string;
  /** 1-based line in that file. */
  line?: number;
  /** Directory that relative path globs are resolved against (project root, or the session cwd). */
  base: string;
  /** Compiled tool-name matcher. */
  matchesTool: (name: string) => boolean;
  /** Word-wise command prefix for run_command (`*` matches any one word), without assignments. */
  commandPrefix?: string[];
  /** Variable assignments the run_command pattern names (`GIT_DIR=/x` in `run_command(GIT_DIR=/x git status)`). */
  commandEnv?: string[];
}

/** A problem found in a policy file. */
export interface PolicyProblem {
  /** The file (or `OPTA_POLICY` for the environment variable). */
  file: string;
  /** 1-based line, when known. */
  line?: number;
  /** What is wrong, in one sentence. */
  message: string;
}

/** Every policy that applies to one session: loaded once, evaluated many times. */
export interface PolicySet {
  /** Rules in precedence order: project rules first, then user rules, then the always level. */
  rules: readonly PolicyRule[];
  /** Extra directories the policies grant file tools (pass as ToolContext.extraRoots). */
  extraRoots: readonly string[];
  /** OPTA_POLICY=unrestricted was set: every call is allowed unless a rule explicitly denies it. */
  unrestricted: boolean;
  /** Broken files and rules that were ignored, so a reason can say so. */
  problems: readonly PolicyProblem[];
  /** Policy files that were read. */
  files: readonly string[];
  /** The session cwd the set was loaded for. */
  cwd: string;
  /** The `sandbox:` level the policies set (project beats user), and where; absent: the default, workspace-write. */
  sandbox?: PolicySandbox;
}

/** A policy file's `sandbox:` line. */
export interface PolicySandbox {
  level: SandboxLevel;
  source: string;
  line?: number;
}

/** Tools whose pattern is a path glob, and the argument holding the path (default "."). */
export const PATH_ARGUMENT: Readonly<Record<string, string>> = {
  read_file: "path",
  write_file: "path",
  edit_file: "path",
  list_dir: "path",
  search_files: "path",
  grep: "path",
};

const BUILTIN_TOOLS = new Set([...Object.keys(PATH_ARGUMENT), "run_command"]);
const RULE_SYNTAX = /^([A-Za-z0-9_.*?\-[\]]+)(?:\((.*)\))?$/s;
const TOP_LEVEL_KEYS = new Set(["allow", "ask", "deny", "roots", "sandbox", "version"]);

/** `~` and `~/x` expanded to the user's home directory. */
export function expandHome(path: string): string {
  if (path === "~") return homedir();
  if (path.startsWith("~/")) return join(homedir(), path.slice(2));
  return path;
}

/** Parses `tool` or `tool(spec)` into a rule, or returns a problem message. */
export function compileRule(
  text: string,
  fields: Pick<PolicyRule, "decision" | "level" | "source" | "line" | "base">,
): PolicyRule | string {
  const trimmed = text.trim();
  const match = RULE_SYNTAX.exec(trimmed);
  if (!match) {
    return `"${text}" is not a rule; write a tool name or glob, optionally with a pattern: run_command(npm test), write_file(src/**), github__*`;
  }
  const tool = match[1] as string;
  const spec = match[2]?.trim();
  if (spec === "") return `"${text}" has empty parentheses; drop them to match every call of ${tool}`;
  let matchesTool: (name: string) => boolean;
  try {
    const isMatch = picomatch(tool, { dot: true });
    matchesTool = (name) => isMatch(name);
  } catch (error) {
    return `"${tool}" is not a valid tool-name glob: ${(error as Error).message}`;
  }
  const rule: PolicyRule = { ...fields, tool, text: trimmed, matchesTool };
  if (spec !== undefined) {
    rule.spec = spec;
    if (matchesTool("run_command")) {
      const parsed = parseShellCommand(spec);
      // A pattern is matched word by word against commands the gate reads with certainty; one the
      // gate itself cannot split (a CR, `$'…'`, an unclosed quote) would match nothing reliably.
      const unreadable = parsed.uncertain.find((doubt) => doubt.kind === "syntax");
      if (unreadable) return `"${text}": the gate cannot read this pattern: ${unreadable.reason}`;
      if (tool === "run_command" && parsed.commands.length !== 1) {
        return `"${text}": a run_command pattern must be one simple command (a word-wise prefix), not ${parsed.commands.length === 0 ? "nothing" : "a compound command"}`;
      }
      const { assignments, argv } = splitAssignments(parsed.commands[0] ?? []);
      rule.commandPrefix = argv;
      if (assignments.length > 0) rule.commandEnv = assignments;
    }
  }
  return rule;
}

function lineOf(node: Node | null | undefined, counter: LineCounter): number | undefined {
  const offset = node?.range?.[0];
  return offset === undefined ? undefined : counter.linePos(offset).line;
}

/** A `roots:` entry: the absolute directory and where it was written. */
interface RootEntry {
  path: string;
  text: string;
  line?: number;
}

interface ParsedFile {
  rules: PolicyRule[];
  roots: RootEntry[];
  problems: PolicyProblem[];
  sandbox?: PolicySandbox;
}

function isWithin(child: string, root: string): boolean {
  const inside = relative(root, child);
  return inside === "" || (inside !== ".." && !inside.startsWith(`..${sep}`) && !isAbsolute(inside));
}

/** The directory part of a glob before its first wildcard (`src/**` → `src`, `**` → ``). */
function globBase(glob: string): string {
  const scanned = picomatch.scan(glob);
  return scanned.isGlob ? scanned.base : glob;
}

/**
 * Why a project rule may not grant what it says, or undefined. A project policy comes with the
 * repository, so its `allow:` path globs must stay inside the project root: a cloned repository
 * cannot pre-approve writes to `~/.bashrc`.
 */
function projectAllowOutside(rule: PolicyRule): string | undefined {
  if (rule.decision !== "allow" || rule.spec === undefined) return undefined;
  if (!Object.keys(PATH_ARGUMENT).some((tool) => rule.matchesTool(tool))) return undefined;
  const spec = expandHome(rule.spec);
  const base = resolve(rule.base, globBase(spec.replace(/^\.\//, "")));
  if (isWithin(base, rule.base)) return undefined;
  return `"${rule.text}" allows paths outside the project (${rule.base}); a project policy may only allow paths inside its repository, put this rule in a user policy ($OPTA_HOME/policies/*.yaml) instead`;
}

/** Reads one policy file's text. Problems are reported; whatever is valid is kept. */
export function parsePolicyText(
  text: string,
  options: { file: string; level: PolicyLevel; base: string; strict?: boolean },
): ParsedFile {
  const out: ParsedFile = { rules: [], roots: [], problems: [] };
  const problem = (message: string, line?: number) =>
    out.problems.push(line === undefined ? { file: options.file, message } : { file: options.file, line, message });
  const counter = new LineCounter();
  const document = parseDocument(text, { lineCounter: counter, uniqueKeys: true });
  if (document.errors.length > 0) {
    for (const error of document.errors)
      problem(`YAML syntax error: ${error.message.split("\n")[0]?.replace(/:$/, "")}`, error.linePos?.[0].line);
    out.problems.push({ file: options.file, message: "the whole file was ignored because it is not valid YAML" });
    return out;
  }
  const root = document.contents;
  if (root === null || root === undefined) return out; // an empty file is a valid, empty policy
  if (!isMap(root)) {
    problem("a policy file must be a mapping with allow:, ask:, deny: and roots: lists", lineOf(root, counter));
    return out;
  }
  for (const pair of root.items) {
    const keyNode = pair.key as Node | null;
    const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
    const keyLine = lineOf(keyNode, counter);
    if (key === undefined || !TOP_LEVEL_KEYS.has(key)) {
      problem(`unknown key "${key ?? "?"}"; expected allow, ask, deny, roots, sandbox or version`, keyLine);
      continue;
    }
    const value = pair.value as Node | null;
    if (key === "sandbox") {
      const line = lineOf(value, counter) ?? keyLine;
      const level = SandboxLevel.safeParse(isScalar(value) ? value.value : undefined);
      if (!level.success) problem(`sandbox must be one of ${SandboxLevel.options.join(", ")}`, line);
      else if (level.data === "off" && options.level === "project") {
        // A cloned repository must not switch off the containment of the commands run in it.
        problem(
          "sandbox: off is only honoured in a user policy ($OPTA_HOME/policies/*.yaml) or for one turn (opta do --sandbox off), not in a project policy",
          line,
        );
      } else out.sandbox = { level: level.data, source: options.file, ...(line === undefined ? {} : { line }) };
      continue;
    }
    if (key === "version") {
      if (!isScalar(value) || value.value !== 1) problem("version must be 1", lineOf(value, counter) ?? keyLine);
      continue;
    }
    if (value === null || (isScalar(value) && value.value === null)) continue; // `allow:` with nothing under it
    if (!isSeq(value)) {
      problem(`${key} must be a list (lines starting with "- ")`, lineOf(value, counter) ?? keyLine);
      continue;
    }
    for (const item of value.items as Array<Node | null>) {
      const line = lineOf(item, counter);
      if (!isScalar(item) || typeof item.value !== "string") {
        problem(`each entry of ${key} must be a string`, line);
        continue;
      }
      if (key === "roots") {
        const expanded = expandHome(item.value);
        if (!isAbsolute(expanded) && options.level === "user") {
          problem(`root "${item.value}" must be absolute (or start with ~/) in a user policy`, line);
          continue;
        }
        const path = resolve(options.base, expanded);
        if (options.level === "project" && !isWithin(path, options.base)) {
          problem(
            `root "${item.value}" is outside the project (${options.base}); a project policy may only grant directories inside its repository, put it in a user policy ($OPTA_HOME/policies/*.yaml) instead`,
            line,
          );
          continue;
        }
        out.roots.push(line === undefined ? { path, text: item.value } : { path, text: item.value, line });
        continue;
      }
      const compiled = compileRule(item.value, {
        decision: key as RuleDecision,
        level: options.level,
        source: options.file,
        base: options.base,
        ...(line === undefined ? {} : { line }),
      });
      if (typeof compiled === "string") {
        problem(compiled, line);
        continue;
      }
      if (
        options.strict &&
        !/[*?[]/.test(compiled.tool) &&
        !BUILTIN_TOOLS.has(compiled.tool) &&
        !compiled.tool.includes("__") &&
        !compiled.tool.startsWith("browser_")
      ) {
        problem(
          `unknown tool "${compiled.tool}"; built-in tools are ${[...BUILTIN_TOOLS].join(", ")}, MCP tools are named server__tool`,
          line,
        );
      }
      const outside = options.level === "project" ? projectAllowOutside(compiled) : undefined;
      if (outside) {
        problem(outside, line);
        continue;
      }
      out.rules.push(compiled);
    }
  }
  return out;
}

/**
 * The project policy for a cwd: the nearest `.opta/policy.yaml` at or above it, not past the
 * repository root, if it may govern the session (see findProjectFile: the user's own file, in
 * the cwd, a repository or a directory the user trusted); otherwise `ignored` says why not.
 */
export async function findProjectPolicy(cwd: string, home: string): Promise<ProjectFileSearch> {
  return findProjectFile(cwd, "policy.yaml", home);
}

/** User policy files: `$OPTA_HOME/policies/*.yaml` (and .yml), by name. */
export async function userPolicyFiles(home: string): Promise<string[]> {
  const directory = optaPaths(home).policies;
  const names = await readdir(directory).catch(() => [] as string[]);
  return names
    .filter((name) => name.endsWith(".yaml") || name.endsWith(".yml"))
    .sort()
    .map((name) => join(directory, name));
}

async function readPolicyFile(file: string, level: PolicyLevel, base: string, strict: boolean): Promise<ParsedFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    return { rules: [], roots: [], problems: [{ file, message: `could not read: ${(error as Error).message}` }] };
  }
  return parsePolicyText(text, { file, level, base, strict });
}

/**
 * The project roots whose real path (symlinks followed) is still inside the real project root; a
 * root that is a symlink out of the repository is dropped with a problem. A root that does not
 * exist yet is kept: the file tools ignore it until it exists, and resolve it again on every call.
 */
async function rootsReallyInside(parsed: ParsedFile, base: string, file: string): Promise<RootEntry[]> {
  const realBase = await realpath(base).catch(() => base);
  const kept: RootEntry[] = [];
  for (const root of parsed.roots) {
    const real = await realpath(root.path).catch(() => undefined);
    if (real !== undefined && !isWithin(real, realBase)) {
      parsed.problems.push({
        file,
        ...(root.line === undefined ? {} : { line: root.line }),
        message: `root "${root.text}" is a symbolic link to ${real}, outside the project (${realBase}); a project policy may only grant directories inside its repository`,
      });
      continue;
    }
    kept.push(root);
  }
  return kept;
}

/** Loads project and user policies (never throws on a broken file: it is skipped and reported). */
export async function loadPolicySet(opts: {
  home: string;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  strict?: boolean;
}): Promise<PolicySet> {
  const cwd = resolve(opts.cwd);
  const strict = opts.strict ?? false;
  const rules: PolicyRule[] = [];
  const roots: string[] = [];
  const problems: PolicyProblem[] = [];
  const files: string[] = [];
  let sandbox: PolicySandbox | undefined;
  const add = (parsed: ParsedFile, file: string) => {
    files.push(file);
    sandbox ??= parsed.sandbox; // the project file is added first, then user files by name
    rules.push(...parsed.rules);
    roots.push(...parsed.roots.map((root) => root.path));
    problems.push(...parsed.problems);
  };
  const project = await findProjectPolicy(cwd, opts.home);
  // An ignored file is a problem, so the gate's reasons and `opta doctor` name it and say why.
  if (project.ignored) problems.push(project.ignored);
  if (project.file && project.root) {
    const parsed = await readPolicyFile(project.file, "project", project.root, strict);
    parsed.roots = await rootsReallyInside(parsed, project.root, project.file);
    add(parsed, project.file);
  }
  for (const file of await userPolicyFiles(opts.home)) {
    const parsed = await readPolicyFile(file, "user", cwd, strict);
    // The allow list of always.yaml holds the user's "always" answers: a level of its own.
    if (basename(file) === ALWAYS_FILE_NAME)
      for (const rule of parsed.rules) if (rule.decision === "allow") rule.level = "always";
    add(parsed, file);
  }

  const env = opts.env ?? process.env;
  const policyEnv = env.OPTA_POLICY?.trim();
  let unrestricted = false;
  if (policyEnv === "unrestricted") unrestricted = true;
  else if (policyEnv)
    problems.push({ file: "OPTA_POLICY", message: `unknown value "${policyEnv}"; the only value is "unrestricted"` });
  return {
    rules,
    extraRoots: [...new Set(roots)],
    unrestricted,
    problems,
    files,
    cwd,
    ...(sandbox ? { sandbox } : {}),
  };
}
