import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { executeTool, getBuiltinTool, type ToolContext, type ToolOutcome } from "../../src/tool/index.js";

/** A temporary workspace with helpers; `outside` is a sibling directory outside it. */
export interface Workspace {
  root: string;
  cwd: string;
  outside: string;
  ctx: ToolContext;
  write(relative: string, content: string | Buffer): Promise<string>;
  call(tool: string, args: unknown, ctx?: Partial<ToolContext>): Promise<ToolOutcome>;
  cleanup(): Promise<void>;
}

export async function makeWorkspace(): Promise<Workspace> {
  const root = await realpath(await mkdtemp(join(tmpdir(), "opta-tool-")));
  const cwd = join(root, "ws");
  const outside = join(root, "outside");
  await mkdir(cwd);
  await mkdir(outside);
  const ctx: ToolContext = { cwd, signal: new AbortController().signal };
  return {
    root,
    cwd,
    outside,
    ctx,
    async write(relative, content) {
      const path = join(cwd, relative);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
      return path;
    },
    call(tool, args, extra) {
      const definition = getBuiltinTool(tool);
      if (!definition) throw new Error(`no tool ${tool}`);
      return executeTool(definition, args, { ...ctx, ...extra });
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Narrows an outcome to success, failing the test with the error otherwise. */
export function ok(outcome: ToolOutcome): { result: Record<string, unknown>; summary: string } {
  if (!outcome.ok) throw new Error(`expected success, got ${outcome.code}: ${outcome.error}`);
  return { result: outcome.result as Record<string, unknown>, summary: outcome.summary };
}

/** Narrows an outcome to failure. */
export function fail(outcome: ToolOutcome): { code: string; error: string } {
  if (outcome.ok) throw new Error(`expected failure, got ${JSON.stringify(outcome.result)}`);
  return { code: outcome.code, error: outcome.error };
}
