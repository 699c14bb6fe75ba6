import { loadPolicySet, type PolicyProblem, type PolicySet } from "./policy.js";
import { loadShellGrammar } from "./shell-grammar.js";

export { ALWAYS_FILE_NAME, persistAlwaysRule, suggestPolicyLine } from "./always.js";
export {
  defaultDecision,
  evaluatePermission,
  type GateDecision,
  type GateResult,
  type PermissionQuery,
} from "./evaluate.js";
export type { PolicyLevel, PolicyProblem, PolicyRule, PolicySandbox, PolicySet, RuleDecision } from "./policy.js";
export {
  joinShellWords,
  type ParsedShell,
  parseShellCommand,
  splitShellCommand,
  type Uncertainty,
} from "./shell.js";
export { loadShellGrammar } from "./shell-grammar.js";

/**
 * Loads the policies for a session: project `.opta/policy.yaml` (nearest at or above cwd, up to
 * the repository root, when it may govern the session: see permission/trust.ts) and user
 * `$OPTA_HOME/policies/*.yaml`. `OPTA_POLICY=unrestricted` in `env`
 * (default process.env) makes the set unrestricted. Never throws: a broken file is skipped and
 * listed in `problems`.
 */
export async function loadPolicies(opts: { home: string; cwd: string; env?: NodeJS.ProcessEnv }): Promise<PolicySet> {
  await loadShellGrammar(); // run_command rules are parsed with it, and every evaluation after
  return loadPolicySet(opts);
}

/** Every problem in the policy files that apply to `cwd`, with file and line, for `opta doctor --policy`. */
export async function validatePolicyFiles(opts: { home: string; cwd: string }): Promise<PolicyProblem[]> {
  await loadShellGrammar();
  const set = await loadPolicySet({ ...opts, env: {}, strict: true });
  return [...set.problems];
}
