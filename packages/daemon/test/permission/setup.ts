import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Mode, PermissionLevel } from "@opta/protocol";
import { loadPolicies, type PermissionQuery, type PolicySet } from "../../src/permission/index.js";

/** A temporary Opta home and a project (a git repository) to load policies for. */
export interface PolicyFixture {
  home: string;
  project: string;
  userPolicy(name: string, text: string): Promise<string>;
  projectPolicy(text: string): Promise<string>;
  load(env?: NodeJS.ProcessEnv, cwd?: string): Promise<PolicySet>;
  query(tool: string, args: Record<string, unknown>, options?: Partial<PermissionQuery>): PermissionQuery;
  cleanup(): Promise<void>;
}

const KINDS: Record<string, PermissionQuery["kind"]> = {
  read_file: "read",
  list_dir: "read",
  search_files: "read",
  grep: "read",
  write_file: "write",
  edit_file: "write",
  run_command: "execute",
};

export async function policyFixture(): Promise<PolicyFixture> {
  const root = await realpath(await mkdtemp(join(tmpdir(), "opta-policy-")));
  const home = join(root, "home");
  const project = join(root, "project");
  await mkdir(join(project, ".git"), { recursive: true });
  await mkdir(home);
  const put = async (path: string, text: string) => {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    return path;
  };
  return {
    home,
    project,
    userPolicy: (name, text) => put(join(home, "policies", name), text),
    projectPolicy: (text) => put(join(project, ".opta", "policy.yaml"), text),
    load: (env = {}, cwd = project) => loadPolicies({ home, cwd, env }),
    query: (tool, args, options = {}) => ({
      tool,
      args,
      kind: KINDS[tool] ?? (tool.includes("__") ? "mcp" : "read"),
      cwd: project,
      mode: "do" as Mode,
      level: "safe" as PermissionLevel,
      ...options,
    }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
