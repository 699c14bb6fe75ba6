import { lstat } from "node:fs/promises";
import type { CheckpointFile } from "@opta/protocol";
import type { SessionStore } from "../session/store.js";
import { openInWorkspace, protectedReason, resolveInWorkspace } from "../tool/path.js";
import type { ToolContext } from "../tool/types.js";
import type { CheckpointBlobs } from "./blobs.js";
import { sha256 } from "./blobs.js";

/**
 * The files each file tool is about to change, from its arguments. Only write_file and edit_file:
 * what a command (run_command) or an MCP tool changes cannot be known before it runs, so those are
 * not checkpointed (as in Claude Code) and a rewind does not undo them.
 */
const FILES_OF: Record<string, (args: Record<string, unknown>) => unknown[]> = {
  write_file: (args) => [args.path],
  edit_file: (args) => [args.path],
};

/** One tool call the agent loop is about to run. */
export interface CheckpointCall {
  sessionId: string;
  turnId: string;
  callId: string;
  step: number;
  tool: string;
  args: Record<string, unknown>;
  ctx: ToolContext;
}

/** What a file is now: its content stored by hash, `null` when nothing is there, undefined when not a regular file. */
async function snapshot(
  real: string,
  ctx: ToolContext,
  store: (bytes: Buffer) => Promise<string>,
): Promise<CheckpointFile | undefined> {
  const info = await lstat(real).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return null;
    throw error;
  });
  if (info === null) return { path: real, sha256: null };
  if (!info.isFile()) return undefined;
  const handle = await openInWorkspace(real, ctx, "read");
  try {
    const [bytes, opened] = await Promise.all([handle.readFile(), handle.stat()]);
    return { path: real, sha256: await store(bytes), mode: opened.mode & 0o7777 };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Records a checkpoint before each file tool call: a copy of every file it is about to change (by
 * content hash, under the session) and a `checkpoint` event; after the call, `checkpoint.written`
 * with what the call left there, so a rewind can tell the agent's writes from anyone else's. Never
 * touches the user's repository (no commit, no index).
 */
export class Checkpointer {
  constructor(
    private readonly store: SessionStore,
    private readonly blobs: CheckpointBlobs,
  ) {}

  /**
   * Checkpoints the files `call` will change; returns what to run after the call (undefined when the
   * tool changes no files, or its paths are refused anyway: outside the workspace, protected).
   * A file that cannot be read is left out rather than failing the call: the tool reports the problem.
   */
  async before(call: CheckpointCall): Promise<(() => Promise<void>) | undefined> {
    const filesOf = FILES_OF[call.tool];
    if (!filesOf) return undefined;
    const paths: string[] = [];
    for (const path of filesOf(call.args)) {
      if (typeof path !== "string") continue;
      const real = await resolveInWorkspace(path, call.ctx).catch(() => undefined);
      if (real === undefined || (await protectedReason(real, call.ctx)) !== undefined) continue;
      if (!paths.includes(real)) paths.push(real);
    }
    if (paths.length === 0) return undefined;
    const put = (bytes: Buffer) => this.blobs.put(call.sessionId, bytes);
    const before = await this.snapshots(paths, call.ctx, put);
    if (before.length === 0) return undefined;
    const { sessionId, turnId, callId, step } = call;
    this.store.append(sessionId, { event: "checkpoint", turnId, callId, step, files: before });
    return async () => {
      // Only hashed: what the agent wrote is in the call's arguments and the workspace, not needed as a copy.
      const after = await this.snapshots(
        before.map((file) => file.path),
        call.ctx,
        async (bytes) => sha256(bytes),
      );
      this.store.append(sessionId, { event: "checkpoint.written", turnId, callId, files: after });
    };
  }

  private async snapshots(
    paths: readonly string[],
    ctx: ToolContext,
    put: (bytes: Buffer) => Promise<string>,
  ): Promise<CheckpointFile[]> {
    const files: CheckpointFile[] = [];
    for (const path of paths) {
      const file = await snapshot(path, ctx, put).catch(() => undefined);
      if (file) files.push(file);
    }
    return files;
  }
}
