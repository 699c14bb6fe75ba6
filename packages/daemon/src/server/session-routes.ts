import {
  DeleteSessionQuery,
  ForkRequest,
  PruneSessionsRequest,
  type PruneSessionsResponse,
  type RemovedSession,
  RewindRequest,
  UpdateSessionRequest,
} from "@opta/protocol";
import express from "express";
import { forkSession } from "../checkpoint/fork.js";
import { rewindSession } from "../checkpoint/rewind.js";
import { toSessionInfo } from "../session/session-state.js";
import { ApiError } from "./api-error.js";
import type { DaemonContext } from "./context.js";
import { requireSession, validate } from "./http.js";

/**
 * A session's lifecycle: rename and pin (recorded as `session.renamed` / `session.pinned`, so replay
 * and the global feed carry them), delete and prune (archived as gzipped JSONL unless purged; the
 * global feed says `session.deleted`). A session with a running turn is never deleted or pruned.
 * Rewind (`session.rewound`) and fork (a new session with the history copied) are here too.
 */
export function sessionLifecycleRoutes(context: DaemonContext): express.Router {
  const router = express.Router();
  const { store, turns } = context;

  router.post("/sessions/prune", async (request, response) => {
    const body = validate(PruneSessionsRequest, request.body ?? {}, "body");
    const cutoff = new Date(Date.now() - body.olderThanMs).toISOString();
    const { stale, kept } = store.staleSessions(cutoff);
    const sessions: RemovedSession[] = [];
    for (const record of stale) {
      if (body.dryRun) {
        sessions.push({ id: record.id, title: record.title, cwd: record.cwd, updatedAt: record.updatedAt });
        continue;
      }
      // A turn may have started since the list was made.
      if (turns.isActive(record.id) || record.activeTurnId) {
        kept.push({ id: record.id, reason: "running" });
        continue;
      }
      sessions.push(await removeSession(context, record.id, body.purge));
    }
    const answer: PruneSessionsResponse = { sessions, dryRun: body.dryRun, purged: body.purge, kept };
    response.json(answer);
  });

  router.patch("/sessions/:id", (request, response) => {
    const session = requireSession(context, request.params.id);
    const body = validate(UpdateSessionRequest, request.body ?? {}, "body");
    if (body.title !== undefined && body.title !== session.title) {
      store.append(session.id, { event: "session.renamed", title: body.title });
    }
    if (body.pinned !== undefined && body.pinned !== Boolean(session.pinned)) {
      store.append(session.id, { event: "session.pinned", pinned: body.pinned });
    }
    // Durable before the answer: a rename the client was told about survives a crash.
    store.flush(true);
    response.json(toSessionInfo(session));
  });

  router.delete("/sessions/:id", async (request, response) => {
    const session = requireSession(context, request.params.id);
    const query = validate(DeleteSessionQuery, request.query, "query");
    if (turns.isActive(session.id) || session.activeTurnId) {
      throw new ApiError(
        "TURN_IN_PROGRESS",
        `Session ${session.id} is running a turn; stop it first ('opta sessions show ${session.id}', or Cancel in Code Desktop).`,
      );
    }
    const deleted = await removeSession(context, session.id, query.purge);
    response.json({ deleted, purged: query.purge });
  });

  router.post("/sessions/:id/rewind", async (request, response) => {
    const session = requireSession(context, request.params.id);
    const body = validate(RewindRequest, request.body ?? {}, "body");
    if (turns.isActive(session.id) || session.activeTurnId) {
      throw new ApiError("TURN_IN_PROGRESS", `Session ${session.id} is running a turn; stop it before rewinding.`);
    }
    turns.refuseWhilePaused(session.id);
    response.json(await rewindSession({ store, blobs: context.checkpoints, home: context.home }, session.id, body));
  });

  router.post("/sessions/:id/fork", async (request, response) => {
    const session = requireSession(context, request.params.id);
    const body = validate(ForkRequest, request.body ?? {}, "body");
    const record = await forkSession({ store, blobs: context.checkpoints }, session.id, {
      ...(body.atTurn !== undefined ? { atTurn: body.atTurn } : {}),
      ...(body.title !== undefined ? { title: body.title } : {}),
    });
    context.logger.info("session", `Session ${record.id} forked from ${session.id}`);
    context.publishDaemonEvent({
      event: "session.created",
      ts: new Date().toISOString(),
      sessionId: record.id,
      title: record.title,
    });
    response.status(201).json(toSessionInfo(record));
  });

  return router;
}

async function removeSession(context: DaemonContext, sessionId: string, purge: boolean): Promise<RemovedSession> {
  const removed = await context.store.remove(sessionId, { purge });
  context.publishDaemonEvent({
    event: "session.deleted",
    ts: new Date().toISOString(),
    sessionId,
    archived: removed.archivedTo !== undefined,
  });
  return removed;
}
