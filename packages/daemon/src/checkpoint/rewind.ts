import { lstat, readFile, unlink } from "node:fs/promises";
import type { CheckpointFile, RewindConflict, RewindResponse, RewindScope, RewoundFile, TurnRef } from "@opta/protocol";
import { loadPolicies } from "../permission/index.js";
import { ApiError } from "../server/api-error.js";
import type { SessionStore } from "../session/store.js";
import { resolveInWorkspace } from "../tool/path.js";
import { writeFileAtomically } from "../tool/safe-write.js";
import type { ToolContext } from "../tool/types.js";
import { type CheckpointBlobs, sha256 } from "./blobs.js";
import { findTurn, liveTurns } from "./history.js";

/** What a rewind needs from the daemon. */
export interface RewindDeps {
  store: SessionStore;
  blobs: CheckpointBlobs;
  home: string;
}

/** One file a files rewind puts back: the content it had before the turn, and what the agent left. */
interface PlannedFile {
  target: CheckpointFile;
  /** sha256 the agent (or the last rewind) left there; undefined when unknown (a call that never finished). */
  expected: string | null | undefined;
}

/**
 * Rewinds a session to just before turn `toTurn`. Files: every file a checkpointed tool call changed
 * since that turn started gets the content it had before (a file the agent created is removed),
 * unless it was changed outside the agent after the agent last wrote it: those are REWIND_CONFLICT
 * (409, listed) and nothing is changed, unless `force`. Conversation: that turn and every later
 * one are left out of the model's history. Either way one `session.rewound` event records it.
 */
export async function rewindSession(
  deps: RewindDeps,
  sessionId: string,
  request: { toTurn: TurnRef; scope: RewindScope; force: boolean },
): Promise<RewindResponse> {
  const { store } = deps;
  const record = store.get(sessionId);
  if (!record) throw new ApiError("SESSION_NOT_FOUND", `No session '${sessionId}'.`);
  const events = await store.readEvents(sessionId);
  const turns = liveTurns(events);
  const target = findTurn(sessionId, turns, request.toTurn);
  const withFiles = request.scope !== "conversation";
  const withConversation = request.scope !== "files";

  const files: RewoundFile[] = [];
  if (withFiles) {
    const plan = planFiles(events, target.startSeq);
    const policies = await loadPolicies({ home: deps.home, cwd: record.cwd });
    const ctx: ToolContext = {
      cwd: record.cwd,
      signal: new AbortController().signal,
      extraRoots: [...policies.extraRoots],
      home: deps.home,
    };
    const checked = await Promise.all(plan.map(async (file) => ({ file, now: await current(file.target.path, ctx) })));
    const conflicts: RewindConflict[] = [];
    for (const { file, now } of checked) {
      if (now !== null && typeof now === "object") conflicts.push({ ...now, expected: file.expected ?? null });
      else if (now !== file.expected && now !== file.target.sha256) {
        conflicts.push({
          path: file.target.path,
          expected: file.expected ?? null,
          actual: now,
          reason:
            file.expected === undefined
              ? "the agent's last write to it never finished, and it differs from the checkpoint"
              : now === null
                ? "it was removed outside the agent after the agent last wrote it"
                : "it was changed outside the agent after the agent last wrote it",
        });
      }
    }
    const refused = new Set(
      conflicts.filter((conflict) => !request.force || !isOverridable(conflict)).map((c) => c.path),
    );
    if (conflicts.length > 0 && (!request.force || refused.size > 0)) {
      const shown = conflicts.map((conflict) => `${conflict.path} (${conflict.reason})`).join("; ");
      throw new ApiError(
        "REWIND_CONFLICT",
        `Not rewound: ${conflicts.length} file${conflicts.length === 1 ? "" : "s"} cannot be put back without losing a change: ${shown}. ` +
          (refused.size > 0 && request.force
            ? "These cannot be rewound safely; move them back into place or rewind the conversation only (--conversation)."
            : "Keep your changes by rewinding the conversation only (--conversation), or overwrite them with --force."),
        { conflicts },
      );
    }
    const overwritten = new Set(conflicts.map((conflict) => conflict.path));
    for (const { file, now } of checked) {
      try {
        const rewound = await restore(deps, sessionId, file.target, now as string | null, ctx);
        if (overwritten.has(file.target.path)) rewound.overwritten = true;
        files.push(rewound);
      } catch (error) {
        // What was put back stays recorded (the next rewind compares against it); the conversation is kept.
        if (files.length > 0) {
          store.append(sessionId, {
            event: "session.rewound",
            toTurnId: target.turnId,
            scope: "files",
            fromSeq: target.startSeq,
            turnIds: [],
            files,
          });
          store.flush(true);
        }
        throw new ApiError(
          "REWIND_CONFLICT",
          `Rewound ${files.length} of ${checked.length} files, then could not restore ${file.target.path}: ${(error as Error).message}. Fix that file and rewind again.`,
          { conflicts: [], restored: files },
        );
      }
    }
  }
  const turnIds = withConversation ? turns.filter((turn) => turn.startSeq >= target.startSeq).map((t) => t.turnId) : [];
  const event = store.append(sessionId, {
    event: "session.rewound",
    toTurnId: target.turnId,
    scope: request.scope,
    fromSeq: target.startSeq,
    turnIds,
    files,
  });
  store.flush(true);
  return { sessionId, toTurnId: target.turnId, scope: request.scope, turnIds, files, seq: event.seq };
}

/**
 * For every file checkpointed after `fromSeq`: its state at the first checkpoint after that seq (what
 * it was before the turn), and what the agent or a rewind last left there (over the whole log).
 */
function planFiles(events: Awaited<ReturnType<SessionStore["readEvents"]>>, fromSeq: number): PlannedFile[] {
  const targets = new Map<string, CheckpointFile>();
  const expected = new Map<string, string | null | undefined>();
  for (const event of events) {
    if (event.event === "checkpoint") {
      for (const file of event.files) {
        if (event.seq > fromSeq && !targets.has(file.path)) targets.set(file.path, file);
        expected.set(file.path, undefined); // unknown until the call's `checkpoint.written`
      }
    } else if (event.event === "checkpoint.written") {
      for (const file of event.files) expected.set(file.path, file.sha256);
    } else if (event.event === "session.rewound") {
      for (const file of event.files) expected.set(file.path, file.sha256);
    }
  }
  return [...targets.values()].map((target) => ({ target, expected: expected.get(target.path) }));
}

/** A conflict `force` may overwrite: a changed file, not one that became a symlink or left the workspace. */
function isOverridable(conflict: RewindConflict): boolean {
  return conflict.actual !== "(not a regular file)" && conflict.actual !== "(outside the workspace)";
}

/** The sha256 of what is at `path` now, null when nothing, or why it cannot be rewound. */
async function current(path: string, ctx: ToolContext): Promise<string | null | RewindConflict> {
  // Where it resolves now: a parent swapped for a symlink would lead the rewind out of the workspace.
  const real = await resolveInWorkspace(path, ctx).catch(() => undefined);
  if (real !== path) {
    return {
      path,
      expected: null,
      actual: "(outside the workspace)",
      reason: "its path now leads outside the workspace",
    };
  }
  const info = await lstat(path).catch(() => undefined);
  if (!info) return null;
  if (!info.isFile()) {
    return { path, expected: null, actual: "(not a regular file)", reason: "it is no longer a regular file" };
  }
  return sha256(await readFile(path));
}

/** Puts one file back through the file tools' safe write path (no symlinks followed, .opta refused). */
async function restore(
  deps: RewindDeps,
  sessionId: string,
  target: CheckpointFile,
  now: string | null,
  ctx: ToolContext,
): Promise<RewoundFile> {
  const path = target.path;
  if (now === target.sha256) return { path, action: "unchanged", sha256: now };
  if (target.sha256 === null) {
    // lstat said a regular file a moment ago; unlink removes a name, never what a symlink points at.
    await unlink(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    return { path, action: "removed", sha256: null };
  }
  const bytes = await deps.blobs.get(sessionId, target.sha256);
  await writeFileAtomically(path, bytes, ctx, {
    shownAs: path,
    createParents: true,
    ...(target.mode !== undefined ? { mode: target.mode } : {}),
  });
  return { path, action: "restored", sha256: target.sha256 };
}
