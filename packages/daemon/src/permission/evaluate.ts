import { isAbsolute, relative, resolve, sep } from "node:path";
import type { Mode, PermissionLevel } from "@opta/protocol";
import picomatch from "picomatch";
import { suggestPolicyLine } from "./always.js";
import { expandHome, PATH_ARGUMENT, type PolicyRule, type PolicySet, type RuleDecision } from "./policy.js";
import { joinShellWords, parseShellCommand, splitAssignments } from "./shell.js";

/** What the gate says about one tool call. */
export type GateDecision = "allow" | "ask" | "deny";

/** One tool call as the gate sees it. */
export interface PermissionQuery {
  /** Tool name, e.g. `run_command` or `github__create_issue`. */
  tool: string;
  /** The call's arguments. */
  args: Record<string, unknown>;
  /** What the tool does; MCP tools are `mcp`. */
  kind: "read" | "write" | "execute" | "mcp";
  /** The session's working directory. */
  cwd: string;
  /** Chat or Do mode of the turn. */
  mode: Mode;
  /** Permission level of the turn. */
  level: PermissionLevel;
}

/** The gate's answer, with the rule that decided it. */
export interface GateResult {
  /** allow: run now; ask: wait for the user; deny: refuse. */
  decision: GateDecision;
  /** One readable sentence explaining the decision. */
  reason: string;
  /** The rule that decided: a policy line, or the defaults. */
  rule?: { source: string; line?: number; text: string };
  /**
   * For a run_command denied by the default rule (no explicit deny involved): the YAML snippet
   * (from suggestPolicyLine) that would allow it, for the error message the model and user read.
   */
  suggestion?: string;
}

const STRENGTH: Record<GateDecision, number> = { allow: 0, ask: 1, deny: 2 };

/** The contract's defaults, by tool name, then by kind. */
export function defaultDecision(tool: string, kind: PermissionQuery["kind"]): GateDecision {
  switch (tool) {
    case "read_file":
    case "list_dir":
    case "search_files":
    case "grep":
      return "allow";
    case "write_file":
    case "edit_file":
      return "ask";
    case "run_command":
      return "deny";
  }
  if (tool.startsWith("browser_") || tool.includes("__") || kind === "mcp") return "ask";
  return kind === "read" ? "allow" : kind === "execute" ? "deny" : "ask";
}

/** One thing a call does that the policy must allow: a simple command, a path, or the call as a whole. */
type Target =
  /** `argv` without its leading assignments; `env` holds them (only the significant ones). */
  | { type: "command"; argv: string[]; env: string[]; words: string[] }
  | { type: "path"; tool: string; path: string }
  | { type: "call"; tool: string; what?: string };

function targetsOf(query: PermissionQuery): Target[] {
  if (query.tool === "run_command") {
    const command = typeof query.args.command === "string" ? query.args.command : "";
    const parsed = parseShellCommand(command);
    const targets: Target[] = parsed.commands.map((words) => {
      const { assignments, argv } = splitAssignments(words);
      return { type: "command", argv, env: assignments, words };
    });
    if (targets.length === 0) targets.push({ type: "command", argv: [], env: [], words: [] });
    const cwdArg = typeof query.args.cwd === "string" ? query.args.cwd : ".";
    for (const write of parsed.writes) {
      targets.push({ type: "path", tool: "write_file", path: resolve(query.cwd, cwdArg, expandHome(write)) });
    }
    // A redirection after `cd $dir` could land anywhere: only a rule for every write_file covers it.
    for (const write of parsed.unknownWrites) targets.push({ type: "call", tool: "write_file", what: write });
    return targets;
  }
  const argument = PATH_ARGUMENT[query.tool];
  if (argument !== undefined) {
    const raw = query.args[argument];
    const path = typeof raw === "string" && raw !== "" ? raw : ".";
    return [{ type: "path", tool: query.tool, path: resolve(query.cwd, expandHome(path)) }];
  }
  return [{ type: "call", tool: query.tool }];
}

/** System directories whose programs match a rule by their bare name (`/usr/bin/rm` is `rm`). */
const SYSTEM_BIN = /^\/(usr\/(local\/)?)?s?bin\/[^/]+$|^\/opt\/homebrew\/bin\/[^/]+$/;

/**
 * Whether a rule's inline assignments fit a command's. An allow rule must name exactly the
 * assignments the command makes (in any order): `run_command(git status)` does not allow
 * `GIT_DIR=/ git status`, and a rule of assignments only allows only those assignments on their
 * own. Ask and deny rules match whatever else the command assigns: `deny: run_command(rm)` still
 * catches `FOO=1 rm -rf /`.
 */
function envMatches(rule: PolicyRule, target: { argv: readonly string[]; env: readonly string[] }): boolean {
  const wanted = rule.commandEnv ?? [];
  if (rule.decision !== "allow") return wanted.every((word) => target.env.includes(word));
  if (wanted.length !== target.env.length) return false;
  const given = new Set(target.env);
  if (!wanted.every((word) => given.has(word))) return false;
  return wanted.length === 0 || (rule.commandPrefix ?? []).length > 0 || target.argv.length === 0;
}

function commandMatches(prefix: readonly string[], argv: readonly string[], decision: RuleDecision): boolean {
  if (prefix.length > argv.length) return false;
  return prefix.every((word, index) => {
    if (word === "*") return true;
    const actual = argv[index] as string;
    if (word === actual) return true;
    if (index !== 0 || word.includes("/")) return false;
    // /usr/bin/rm is rm; a deny rule also catches ./rm or any path ending in /rm.
    const base = actual.slice(actual.lastIndexOf("/") + 1);
    return base === word && (decision === "deny" || SYSTEM_BIN.test(actual));
  });
}

function escapeGlob(path: string): string {
  return path.replace(/[\\*?[\]{}()!+@]/g, "\\$&");
}

const globCache = new Map<string, (path: string) => boolean>();

function isWithin(child: string, root: string): boolean {
  const inside = relative(root, child);
  return inside === "" || (inside !== ".." && !inside.startsWith(`..${sep}`) && !isAbsolute(inside));
}

function pathMatches(rule: PolicyRule, path: string, cwd: string): boolean {
  // A project policy comes with the repository: what it allows stops at the project root.
  if (rule.level === "project" && rule.decision === "allow" && !isWithin(path, rule.base)) return false;
  if (rule.spec === undefined) return true;
  const spec = expandHome(rule.spec);
  const base = rule.level === "project" ? rule.base : cwd;
  const glob = isAbsolute(spec) ? spec : `${escapeGlob(base)}/${spec.replace(/^\.\//, "")}`;
  let isMatch = globCache.get(glob);
  if (!isMatch) {
    isMatch = picomatch(glob, { dot: true });
    globCache.set(glob, isMatch);
  }
  return isMatch(path);
}

function ruleMatches(rule: PolicyRule, target: Target, query: PermissionQuery): boolean {
  const tool = target.type === "command" ? "run_command" : target.tool;
  if (!rule.matchesTool(tool)) return false;
  if (target.type === "path") return pathMatches(rule, target.path, query.cwd);
  if (rule.spec === undefined) {
    // A project's bare `allow: write_file` does not cover a redirection to a place known only at run time.
    return !(rule.level === "project" && rule.decision === "allow" && target.type === "call" && target.what);
  }
  if (target.type === "command")
    return (
      rule.commandPrefix !== undefined &&
      envMatches(rule, target) &&
      commandMatches(rule.commandPrefix, target.argv, rule.decision)
    );
  // Other tools: `key=glob` matches a string argument.
  const equals = rule.spec.indexOf("=");
  if (equals <= 0) return false;
  const value = query.args[rule.spec.slice(0, equals).trim()];
  if (typeof value !== "string") return false;
  return picomatch(rule.spec.slice(equals + 1).trim(), { dot: true })(value);
}

interface TargetVerdict {
  decision: GateDecision;
  target: Target;
  rule?: PolicyRule;
}

function strongest(rules: PolicyRule[]): PolicyRule | undefined {
  let best: PolicyRule | undefined;
  for (const rule of rules) if (!best || STRENGTH[rule.decision] > STRENGTH[best.decision]) best = rule;
  return best;
}

/**
 * The explicit rule deciding a target. The first level (project, then user) with a match decides,
 * deny > ask > allow within it. An "always" approval (the always level) comes before that when the
 * call would otherwise ask or fall to the defaults, unless a deny rule of any level matches: the
 * user's approval of exactly this call beats a project's ask, never a deny.
 */
function explicitRule(target: Target, query: PermissionQuery, policies: PolicySet): PolicyRule | undefined {
  const matching = policies.rules.filter((rule) => ruleMatches(rule, target, query));
  let decided: PolicyRule | undefined;
  for (const level of ["project", "user"] as const) {
    decided = strongest(matching.filter((rule) => rule.level === level));
    if (decided) break;
  }
  if (decided?.decision === "allow") return decided;
  const always = matching.find((rule) => rule.level === "always");
  if (always && !matching.some((rule) => rule.decision === "deny")) return always;
  return decided;
}

function describeTarget(target: Target, query: PermissionQuery): string {
  if (target.type === "command")
    return target.words.length > 0 ? `\`${joinShellWords(target.words)}\`` : "an empty command";
  if (target.type === "path") {
    const verb = query.tool === "run_command" ? "writing (redirection) to" : `${target.tool} on`;
    return `${verb} ${target.path}`;
  }
  if (target.what !== undefined) return `writing (redirection) to ${target.what} in a directory only known at run time`;
  return target.tool;
}

function ruleRef(rule: PolicyRule) {
  return {
    source: rule.source,
    ...(rule.line === undefined ? {} : { line: rule.line }),
    text: `${rule.decision}: ${rule.text}`,
  };
}

function where(rule: PolicyRule): string {
  return rule.line === undefined ? rule.source : `${rule.source}:${rule.line}`;
}

const VERB: Record<GateDecision, string> = { allow: "allowed", ask: "needs approval", deny: "denied" };

function withProblems(reason: string, policies: PolicySet): string {
  const first = policies.problems[0];
  if (!first) return reason;
  const more = policies.problems.length > 1 ? ` (+${policies.problems.length - 1} more)` : "";
  const at = first.line === undefined ? first.file : `${first.file}:${first.line}`;
  return `${reason}; ignored a broken policy entry: ${at}: ${first.message}${more}`;
}

/**
 * Decides one tool call. Explicit rules: project, then user (project wins), deny > ask > allow
 * within a level; an "always" answer allows what would otherwise ask or fall to the defaults,
 * unless any deny rule matches. Without a rule the contract's defaults apply, adjusted by the level (standard:
 * every non-read asks) and the mode (chat: a default allow becomes ask). Unrestricted (level or
 * OPTA_POLICY) allows everything an explicit deny rule does not forbid. A run_command is split into
 * its simple commands and redirections, and the strictest verdict among them decides.
 */
export function evaluatePermission(query: PermissionQuery, policies: PolicySet): GateResult {
  const unrestricted = query.level === "unrestricted" || policies.unrestricted;
  const verdicts: TargetVerdict[] = targetsOf(query).map((target) => {
    const rule = explicitRule(target, query, policies);
    if (rule) return { decision: unrestricted && rule.decision !== "deny" ? "allow" : rule.decision, target, rule };
    if (unrestricted) return { decision: "allow", target };
    const kind = target.type !== "command" && target.tool === "write_file" ? "write" : query.kind;
    const tool = target.type === "command" ? "run_command" : target.tool;
    let decision = defaultDecision(tool, kind);
    if (query.level === "standard" && kind !== "read") decision = "ask";
    if (query.mode === "chat" && decision === "allow") decision = "ask";
    return { decision, target };
  });

  let decisive = verdicts[0] as TargetVerdict;
  for (const verdict of verdicts) {
    const stronger = STRENGTH[verdict.decision] - STRENGTH[decisive.decision];
    // Among equally strict parts, one decided by a rule explains more than one left to the defaults.
    if (stronger > 0 || (stronger === 0 && verdict.rule && !decisive.rule)) decisive = verdict;
  }
  const subject = describeTarget(decisive.target, query);
  const compound = verdicts.length > 1 ? ` (strictest of ${verdicts.length} parts)` : "";

  if (decisive.rule) {
    const rule = decisive.rule;
    const how =
      unrestricted && rule.decision !== "deny"
        ? " (unrestricted)"
        : rule.level === "always"
          ? ' (an earlier "always" answer)'
          : "";
    return {
      decision: decisive.decision,
      reason: withProblems(
        `${subject} ${VERB[decisive.decision]} by "${rule.decision}: ${rule.text}" in ${where(rule)}${how}${compound}`,
        policies,
      ),
      rule: ruleRef(rule),
    };
  }
  if (unrestricted) {
    const why = query.level === "unrestricted" ? "permission level unrestricted" : "OPTA_POLICY=unrestricted";
    return {
      decision: "allow",
      reason: withProblems(`${why}: every tool call is allowed`, policies),
      rule: { source: "defaults", text: "unrestricted" },
    };
  }
  const tool = decisive.target.type === "command" ? "run_command" : decisive.target.tool;
  let why: string;
  if (
    query.mode === "chat" &&
    decisive.decision === "ask" &&
    defaultDecision(tool, query.kind) === "allow" &&
    query.level !== "standard"
  ) {
    why = "chat mode asks before every tool call that no policy rule allows";
  } else if (query.level === "standard" && decisive.decision === "ask") {
    why = "the standard level asks before every call that is not a read";
  } else {
    why = `the ${query.level} default for ${tool} is ${decisive.decision}`;
  }
  const result: GateResult = {
    decision: decisive.decision,
    reason: withProblems(`${subject} ${VERB[decisive.decision]}: ${why}${compound}`, policies),
    rule: { source: "defaults", text: `${tool}: ${defaultDecision(tool, query.kind)}` },
  };
  // Refused only because no rule allows it: say which line would (never when a deny rule is involved).
  // (An explicit deny among the parts would have been the decisive verdict.)
  if (query.tool === "run_command" && decisive.decision === "deny") result.suggestion = suggestPolicyLine(query);
  return result;
}
