import { isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Mode, PermissionLevel } from "@opta/protocol";
import picomatch from "picomatch";
import { suggestPolicyLine } from "./always.js";
import { physicalPath } from "./physical-path.js";
import { expandHome, PATH_ARGUMENT, type PolicyRule, type PolicySet, type RuleDecision } from "./policy.js";
import { joinShellWords, PARSER_NOT_READY, parseShellCommand, splitAssignments } from "./shell.js";

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
  /**
   * A part of the command could not be read with certainty (see ParsedShell.uncertain) and was not
   * allowed: no policy line or "always" answer would ever let it through, so none is offered.
   */
  uncertain?: true;
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
  /** `outside`: a redirection whose real path leaves the workspace and the granted roots. */
  | { type: "path"; tool: string; path: string; outside?: boolean }
  | { type: "call"; tool: string; what?: string }
  /** Something about a command line the gate cannot read with certainty (see ParsedShell.uncertain). */
  | { type: "uncertain"; reason: string }
  /** A `cd` whose real destination leaves the workspace and the granted roots. */
  | { type: "directory"; path: string; written: string };

/** The targets that policy rules match. */
type RuleTarget = Exclude<Target, { type: "uncertain" } | { type: "directory" }>;

/** The session's workspace and granted roots, each as given and as its physical path. */
function workspaceRoots(query: PermissionQuery, policies: PolicySet): Array<{ given: string; real: string }> {
  const roots: Array<{ given: string; real: string }> = [];
  for (const given of [query.cwd, ...policies.extraRoots]) {
    const real = physicalPath("/", given);
    if ("path" in real) roots.push({ given, real: real.path });
  }
  return roots;
}

/**
 * A redirection target or cd destination as the policy sees it: its physical path (symlinks
 * followed), spelled under the workspace or root it lies in so that relative globs still match;
 * `outside` when it lies in none of them.
 */
function placePath(
  start: string,
  target: string,
  roots: ReadonlyArray<{ given: string; real: string }>,
): { path: string; outside: boolean } | { error: string } {
  const real = physicalPath(start, expandHome(target));
  if ("error" in real) return real;
  for (const root of roots)
    if (isWithin(real.path, root.real))
      return { path: join(root.given, relative(root.real, real.path)), outside: false };
  return { path: real.path, outside: true };
}

function commandTargets(query: PermissionQuery, policies: PolicySet): Target[] {
  const command = typeof query.args.command === "string" ? query.args.command : "";
  const parsed = parseShellCommand(command);
  const targets: Target[] = parsed.commands.map((words) => {
    const { assignments, argv } = splitAssignments(words);
    return { type: "command", argv, env: assignments, words };
  });
  if (targets.length === 0) targets.push({ type: "command", argv: [], env: [], words: [] });
  for (const doubt of parsed.uncertain) targets.push({ type: "uncertain", reason: doubt.reason });
  const cwdArg = typeof query.args.cwd === "string" ? query.args.cwd : ".";
  const start = resolve(query.cwd, cwdArg);
  const roots = workspaceRoots(query, policies);
  for (const write of parsed.writes) {
    const placed = placePath(start, write, roots);
    if ("error" in placed)
      targets.push({ type: "uncertain", reason: `the redirection target ${write}: ${placed.error}` });
    else targets.push({ type: "path", tool: "write_file", path: placed.path, outside: placed.outside });
  }
  for (const directory of parsed.directories) {
    const placed = placePath(start, directory, roots);
    if ("error" in placed)
      targets.push({ type: "uncertain", reason: `the cd destination ${directory}: ${placed.error}` });
    else if (placed.outside) targets.push({ type: "directory", path: placed.path, written: directory });
  }
  // A redirection after `cd $dir` could land anywhere: only a rule for every write_file covers it.
  for (const write of parsed.unknownWrites) targets.push({ type: "call", tool: "write_file", what: write });
  return targets;
}

function targetsOf(query: PermissionQuery, policies: PolicySet): Target[] {
  if (query.tool === "run_command") return commandTargets(query, policies);
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

function ruleMatches(rule: PolicyRule, target: RuleTarget, query: PermissionQuery): boolean {
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
function explicitRule(target: RuleTarget, query: PermissionQuery, policies: PolicySet): PolicyRule | undefined {
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
  if (target.type === "uncertain") return `\`${commandSnippet(query)}\``;
  if (target.type === "directory") return `\`cd ${target.written}\``;
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
  const verdicts: TargetVerdict[] = targetsOf(query, policies).map((target) =>
    verdictOf(target, query, policies, unrestricted),
  );

  let decisive = verdicts[0] as TargetVerdict;
  for (const verdict of verdicts) {
    const stronger = STRENGTH[verdict.decision] - STRENGTH[decisive.decision];
    // Among equally strict parts, a doubt or an escape explains most, then a rule, then the defaults.
    if (stronger > 0 || (stronger === 0 && explains(verdict) > explains(decisive))) decisive = verdict;
  }
  const subject = describeTarget(decisive.target, query);
  const compound = verdicts.length > 1 ? ` (strictest of ${verdicts.length} parts)` : "";
  const doubt = verdicts.find((verdict) => verdict.target.type === "uncertain" && verdict.decision !== "allow");
  // A part the gate cannot read is worth saying even when another part decided.
  const flag = doubt && decisive.decision !== "allow" ? { uncertain: true as const } : {};
  const also = doubt && doubt !== decisive && doubt.target.type === "uncertain" ? `; also, ${doubt.target.reason}` : "";

  const limit = special(decisive, query);
  if (limit !== undefined && !decisive.rule) {
    return {
      ...flag,
      decision: decisive.decision,
      reason: withProblems(`${subject} ${VERB[decisive.decision]}: ${limit}${compound}`, policies),
      rule: {
        source: "gate",
        text: decisive.target.type === "uncertain" ? "uncertain command" : "outside the workspace",
      },
    };
  }
  if (decisive.rule) {
    const rule = decisive.rule;
    const how =
      unrestricted && rule.decision !== "deny"
        ? " (unrestricted)"
        : rule.level === "always"
          ? ' (an earlier "always" answer)'
          : "";
    return {
      ...flag,
      decision: decisive.decision,
      reason: withProblems(
        `${subject} ${VERB[decisive.decision]} by "${rule.decision}: ${rule.text}" in ${where(rule)}${how}${compound}${also}`,
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
  const tool = "tool" in decisive.target ? decisive.target.tool : "run_command";
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
    ...flag,
    decision: decisive.decision,
    reason: withProblems(`${subject} ${VERB[decisive.decision]}: ${why}${compound}${also}`, policies),
    rule: { source: "defaults", text: `${tool}: ${defaultDecision(tool, query.kind)}` },
  };
  // Refused only because no rule allows it: say which line would (never when a deny rule is involved).
  // (An explicit deny among the parts would have been the decisive verdict.)
  // No line can allow a command the gate cannot read, so none is suggested then.
  if (query.tool === "run_command" && decisive.decision === "deny" && !doubt)
    result.suggestion = suggestPolicyLine(query);
  return result;
}

/** One target's verdict: its rule, or the gate's own limits, or the defaults adjusted by level and mode. */
function verdictOf(target: Target, query: PermissionQuery, policies: PolicySet, unrestricted: boolean): TargetVerdict {
  if (target.type === "uncertain") return uncertainVerdict(target, query, policies, unrestricted);
  if (target.type === "directory") return { decision: unrestricted ? "allow" : "ask", target };
  const rule = explicitRule(target, query, policies);
  // Outside the workspace only a rule naming the path (write_file(/etc/**)) decides; a bare
  // `allow: write_file` or the defaults ask.
  if (
    target.type === "path" &&
    target.outside &&
    !unrestricted &&
    !(rule && (rule.spec !== undefined || rule.decision === "deny"))
  )
    return { decision: "ask", target };
  if (rule) return { decision: unrestricted && rule.decision !== "deny" ? "allow" : rule.decision, target, rule };
  if (unrestricted) return { decision: "allow", target };
  const kind = target.type !== "command" && target.tool === "write_file" ? "write" : query.kind;
  const tool = target.type === "command" ? "run_command" : target.tool;
  let decision = defaultDecision(tool, kind);
  if (query.level === "standard" && kind !== "read") decision = "ask";
  if (query.mode === "chat" && decision === "allow") decision = "ask";
  return { decision, target };
}

/**
 * A command the gate cannot read is never allowed by a prefix rule: it asks. Only a rule for every
 * run_command (or the unrestricted level) allows it, and only while no deny or ask rule for some
 * command exists that it could be hiding from; a `deny: run_command` denies it.
 */
function uncertainVerdict(
  target: Extract<Target, { type: "uncertain" }>,
  query: PermissionQuery,
  policies: PolicySet,
  unrestricted: boolean,
): TargetVerdict {
  const whole = explicitRule({ type: "call", tool: "run_command" }, query, policies);
  if (whole?.decision === "deny") return { decision: "deny", target, rule: whole };
  if (target.reason !== PARSER_NOT_READY) {
    const hidden = policies.rules.some(
      (rule) => rule.matchesTool("run_command") && rule.spec !== undefined && rule.decision !== "allow",
    );
    if (!hidden && unrestricted) return { decision: "allow", target };
    if (!hidden && whole?.decision === "allow") return { decision: "allow", target, rule: whole };
  }
  return { decision: "ask", target };
}

/** How much a verdict explains, for choosing among equally strict parts. */
function explains(verdict: TargetVerdict): number {
  if (verdict.rule) return 1;
  const target = verdict.target;
  if (target.type === "uncertain" || target.type === "directory" || (target.type === "path" && target.outside))
    return 2;
  return 0;
}

/** Why the gate itself asks about a target (a doubt, a cd or write outside), or undefined. */
function special(verdict: TargetVerdict, query: PermissionQuery): string | undefined {
  if (verdict.decision === "allow") return undefined;
  const target = verdict.target;
  if (target.type === "uncertain")
    return `${target.reason}; the gate cannot be sure what this command runs, so no policy rule allows it (approve it yourself, or rewrite it without that construct)`;
  if (target.type === "directory")
    return `it goes to ${target.path}, outside the workspace (${query.cwd}) and the roots the policy grants`;
  if (target.type === "path" && target.outside)
    return `${target.path} is outside the workspace (${query.cwd}) and the roots the policy grants`;
  return undefined;
}

/** The command of a run_command call, short enough for a reason. */
function commandSnippet(query: PermissionQuery): string {
  const command = typeof query.args.command === "string" ? query.args.command : "";
  const line = JSON.stringify(command).slice(1, -1);
  return line.length > 80 ? `${line.slice(0, 77)}…` : line;
}
